"""Reading articles from files: formats, titles, encodings and bad files."""

import json

from retrieval.documents import load_paths


def test_text_file_title_is_the_first_line_before_a_blank_line(tmp_path):
    (tmp_path / "a.txt").write_text("عنوان المقال\n\nهذا نص المقال الأول وهو طويل بما يكفي ليكون جملة.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# عنوان ماركداون\n\nنص المقال الثاني.", encoding="utf-8")
    docs = {d.source.rsplit("/", 1)[1]: d for d in load_paths([tmp_path]).documents}
    assert docs["a.txt"].title == "عنوان المقال"
    assert docs["a.txt"].text.startswith("هذا نص")
    assert docs["b.md"].title == "عنوان ماركداون"


def test_title_is_derived_from_the_first_sentence_otherwise(tmp_path):
    body = "تعرف سوق السيارات الكهربائية نموا رهيبا خلال السنوات الأخيرة وبشكل خاص بعد المشاكل الكبيرة في صناعة السيارات. جملة ثانية."
    (tmp_path / "a.txt").write_text(body, encoding="utf-8-sig")  # with a BOM
    [doc] = load_paths([tmp_path / "a.txt"]).documents
    assert doc.title.startswith("تعرف سوق السيارات") and len(doc.title) <= 91
    assert doc.text == body  # the BOM is not part of the text


def test_json_jsonl_and_squad_files(tmp_path):
    (tmp_path / "one.json").write_text(json.dumps({"title": "ت", "text": "نص", "url": "https://x.test/1", "published": "2021-03-30"}), encoding="utf-8")
    (tmp_path / "many.jsonl").write_text(
        "\n".join(json.dumps({"title": f"مقال {i}", "text": f"نص المقال رقم {i}"}, ensure_ascii=False) for i in range(3)), encoding="utf-8"
    )
    squad = {"data": [{"title": "برج_خليفة", "paragraphs": [{"context": "فقرة أولى.", "qas": []}, {"context": "فقرة ثانية.", "qas": []}]}]}
    (tmp_path / "squad.json").write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    result = load_paths([tmp_path])
    assert result.problems == []
    by_title = {d.title: d for d in result.documents}
    assert by_title["ت"].url == "https://x.test/1" and by_title["ت"].published == "2021-03-30"
    assert {"مقال 0", "مقال 1", "مقال 2"} <= set(by_title)
    assert by_title["برج خليفة"].text == "فقرة أولى.\n\nفقرة ثانية."


def test_bad_files_are_reported_by_name_and_the_rest_go_in(tmp_path):
    (tmp_path / "good.txt").write_text("نص سليم تماما.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    result = load_paths([tmp_path, tmp_path / "missing.txt", tmp_path / "image.png"])
    assert [d.text for d in result.documents] == ["نص سليم تماما."]
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in result.problems}
    assert set(reasons) == {"empty.txt", "binary.txt", "latin1.txt", "broken.json", "missing.txt", "image.png"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"] and "JSON" in reasons["broken.json"]
