"""Names written in Arabic in the question and in Latin in the article, or the other way."""

from hypothesis import given
from hypothesis import strategies as st

from bot.answers import AnswerStatus
from bot.app import build_app
from retrieval.aliases import AliasTable, join_names, mine_pairs
from retrieval.arabic import normalize
from retrieval.documents import load_paths
from retrieval.snapshot import SentenceTableBuilder, mine_names_of
from retrieval.transliteration import same_name

from .conftest import SEEDS, make_settings


def test_pairs_written_side_by_side_are_mined_from_the_seeds():
    texts = [d.text for d in load_paths([SEEDS]).documents]
    pairs = mine_pairs(texts)
    assert ("لي جون", "Lei Jun") in pairs
    assert ("جيلي", "Geely") in pairs
    assert not any(arabic in ("شركة", "مصانع") for arabic, _ in pairs)  # "شركة Xiaomi" is no alias


def test_names_mined_in_parts_are_the_names_of_the_whole_corpus():
    # A reindex mines runs of sentences in separate workers and joins what they found.
    texts = [s for d in load_paths([SEEDS]).documents for s in d.text.split("\n") if s.strip()]
    builder = SentenceTableBuilder()
    n = len(texts)
    builder.add(range(n), [0] * n, range(n), [0] * n, [0] * n, [t.encode("utf-8") for t in texts])
    table = builder.finish()
    whole = AliasTable.for_corpus(AliasTable([["شاومي", "Xiaomi"]]), texts)
    for parts in (1, 2, 3, 7):
        mined = [mine_names_of(*part) for part in table.text_parts(parts)]
        assert sum(len(part[1]) - 1 for part in table.text_parts(parts)) == n
        joined = AliasTable.from_names(AliasTable([["شاومي", "Xiaomi"]]), *join_names(mined))
        assert joined.groups() == whole.groups() and len(joined) > 2
        assert joined.latin_names is not None and joined.latin_names.matches("جيلي") == whole.latin_names.matches("جيلي")
        assert joined.expansions("ماذا قال لي جون؟") == ["Lei Jun"]


def test_sound_skeletons_match_names_not_ordinary_words():
    for arabic, latin in [("شاومي", "Xiaomi"), ("تسلا", "Tesla"), ("مرسيدس", "Mercedes"), ("تويوتا", "Toyota")]:
        assert same_name(normalize(arabic), latin.lower()), arabic
    for arabic, latin in [("شركة", "Xiaomi"), ("قال", "Geely"), ("اسمه", "Xiaomi")]:
        assert not same_name(normalize(arabic), latin.lower()), arabic


def test_alias_table_merges_groups_and_expands_phrases():
    table = AliasTable([["شاومي", "Xiaomi"], ["Xiaomi", "شياومي"], ["لي جون", "Lei Jun"]])
    assert len(table) == 2
    assert set(table.expansions("ماذا قال لي جون عن شياومي؟")) == {"Lei Jun", "شاومي", "Xiaomi"}


def test_a_name_the_article_writes_only_in_latin_is_found_from_its_arabic_spelling(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ev.txt").write_text(
        "سوق السيارات\n\nسلمت شركة Tesla أكثر من مليون سيارة كهربائية خلال العام الماضي وفق تقريرها السنوي."
        "\nوتراجعت مبيعات السيارات التقليدية في أوروبا بنسبة كبيرة خلال الفترة نفسها من العام.",
        encoding="utf-8",
    )
    app = build_app(make_settings(f"sqlite:///{tmp_path}/a.db", corpus))
    try:
        answer = app.service.ask("كم سيارة سلمت تسلا في العام الماضي؟")
        assert answer.status is AnswerStatus.ANSWERED
        assert "Tesla" in answer.quotes[0].text
        highlighted = {answer.quotes[0].text[s:e] for s, e in answer.quotes[0].highlights}
        assert "Tesla" in highlighted
    finally:
        app.close()


def test_admins_add_aliases_in_a_plain_file(tmp_path):
    aliases = tmp_path / "aliases.txt"
    aliases.write_text("# one group per line\nبي إم دبليو = BMW\n", encoding="utf-8")
    question = "ماذا تعرف عن BMW؟"
    plain = build_app(make_settings(f"sqlite:///{tmp_path}/plain.db"))
    try:
        assert plain.service.ask(question).status is AnswerStatus.NO_ANSWER
    finally:
        plain.close()
    app = build_app(make_settings(f"sqlite:///{tmp_path}/a.db", aliases_file=aliases))
    try:
        answer = app.service.ask(question)
        assert answer.status is AnswerStatus.ANSWERED
        assert "بي إم دبليو" in answer.quotes[0].text
    finally:
        app.close()


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["شاومي", "جيلي", "لي", "جون", "٢٠٢٣", "بي", "إم", "دبليو", "مُحَمَّد", "سيارة"]),
            st.sampled_from(["Xiaomi", "Geely", "Lei Jun", "BMW", "Great Wall", "Li-Auto", "x", "EV"]),
            st.sampled_from([" ", "  ", "(", ")", " (", ") ", "، ", "-", "\n"]),
            st.text(alphabet="ابجدشمويلنXxGgLJ (-)", max_size=6),
        ),
        max_size=14,
    )
)
def test_a_name_beside_its_latin_spelling_is_found_where_a_search_at_every_letter_finds_it(parts):
    # The third pair pattern is anchored at the start of the Arabic run (faster); unanchored,
    # the search tries every position and must find the same pairs.
    import re

    from retrieval import aliases

    text = "".join(parts)
    unanchored = re.compile(rf"({aliases._ARABIC_RUN})\s+({aliases._LATIN_NAME})")
    anchored = aliases._PAIR_PATTERNS[2]
    assert [m.span() for m in anchored.finditer(text)] == [m.span() for m in unanchored.finditer(text)]
