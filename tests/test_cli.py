"""The sanad command line end to end, as its own process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SEEDS

JSON_KEYS = ["question", "status", "reason", "answers", "elapsed_ms"]
QUOTE_KEYS = [
    "quote", "article_id", "title", "source", "position", "start", "end", "score", "highlights", "sentence_start",
    "sentence_end",
]


@pytest.fixture
def run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CORPUS_DIR", "TELEGRAM_", "DISCORD_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/cli.db", CORPUS_DIR=str(SEEDS), PYTHONIOENCODING="utf-8")

    def run(*args, stdin=None, extra_env=None, cwd=tmp_path):
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin, capture_output=True, text=True, env={**env, **(extra_env or {})}, cwd=cwd, timeout=120,
        )

    return run


def test_ask_json_prints_exactly_the_documented_object(run):
    result = run("ask", "--json", "كم سيارة باعت Great Wall في العام الماضي؟")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    answer = json.loads(line)
    assert list(answer) == JSON_KEYS
    assert answer["status"] == "answered"
    assert list(answer["answers"][0]) == QUOTE_KEYS
    assert "1.11 مليون سيارة" in answer["answers"][0]["quote"]


def test_ask_reads_questions_from_standard_input(run):
    result = run("ask", "--json", "--top", "1", stdin="متى تخطط شاومي لإنتاج أول سيارة؟\n\nما عاصمة أستراليا؟\n😀\n")
    assert result.returncode == 0, result.stderr
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    assert statuses == ["answered", "no_answer", "invalid"]


def test_chat_answers_in_the_console(run):
    result = run("chat", stdin="كم سيارة باعت Great Wall في العام الماضي؟\nخروج\n")
    assert result.returncode == 0, result.stderr
    assert "مليون سيارة" in result.stdout
    assert "شاومي تخطط لتصنيع سيارات كهربائية" in result.stdout


def test_ingest_reports_bad_files_and_keeps_the_good_ones(run, tmp_path):
    (tmp_path / "good.txt").write_text("مقال التجربة\n\nافتتحت الشركة مصنعا جديدا للبطاريات في مدينة الرياض هذا العام.", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02")
    result = run("ingest", str(tmp_path / "good.txt"), str(tmp_path / "bad.txt"))
    assert result.returncode == 0, result.stderr
    assert "bad.txt" in result.stderr and "binary" in result.stderr
    assert "1 added" in result.stdout
    assert run("ingest", str(tmp_path / "good.txt")).stdout.count("0 added, 0 updated, 0 removed, 1 unchanged") == 1
    sources = run("sources").stdout
    assert "مقال التجربة" in sources and "شاومي تخطط" in sources


def test_reindex_stats_and_sources(run):
    out = run("reindex")
    assert out.returncode == 0 and "2 added" in out.stdout and "sentences" in out.stdout
    run("ask", "ما عاصمة أستراليا؟")
    stats = run("stats").stdout
    assert "articles: 2" in stats and "1 unanswered" in stats and "ما عاصمة أستراليا؟" in stats


def test_errors_are_one_line_without_traceback(run, tmp_path):
    bad = run("ask", "سؤال", extra_env={"BM25_K1": "fast"})
    assert bad.returncode == 2
    assert bad.stderr.strip() == "sanad: settings error: BM25_K1='fast' is not valid: could not convert string to float: 'fast'"
    missing = run("ingest", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    secret = "hunter2-secret"
    db = run("stats", extra_env={"DATABASE_URL": f"postgresql://sanad:{secret}@127.0.0.1:1/none"})
    assert db.returncode == 1 and len(db.stderr.strip().splitlines()) == 1
    assert secret not in db.stderr and "Traceback" not in db.stderr
    token = run("run", "telegram", extra_env={"TELEGRAM_BOT_TOKEN": ""})
    assert token.returncode == 2 and "TELEGRAM_BOT_TOKEN" in token.stderr


def test_eval_measures_a_squad_file(run, tmp_path):
    squad = {
        "data": [
            {
                "title": "مصنع",
                "paragraphs": [
                    {
                        "context": "افتتحت الشركة مصنعا للبطاريات في الرياض عام 2020. ويعمل في المصنع ثلاثة آلاف موظف من المهندسين.",
                        "qas": [
                            {"id": "1", "question": "أين افتتحت الشركة مصنع البطاريات؟", "answers": [{"text": "الرياض", "answer_start": 33}]},
                            {"id": "2", "question": "كم موظفا يعمل في المصنع؟", "answers": [{"text": "ثلاثة آلاف", "answer_start": 66}]},
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    details = tmp_path / "details.jsonl"
    result = run("eval", str(path), "--details", str(details))
    assert result.returncode == 0, result.stderr
    assert "P@1: 1.000" in result.stdout and "R@3: 1.000" in result.stdout
    assert len(details.read_text(encoding="utf-8").splitlines()) == 2


def test_python_m_bot_and_console_script_are_the_same(run):
    script = Path(sys.executable).with_name("sanad")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == run("--version").stdout.strip()


def test_eval_counts_a_word_for_word_copy_of_the_answer_sentence(tmp_path):
    from bot.evaluation import evaluate

    from .conftest import make_settings

    lead = "افتتحت الشركة مصنعا للبطاريات في الرياض عام 2020."
    second = f"{lead} ويعمل في المصنع ثلاثة آلاف موظف من المهندسين."
    squad = {
        "data": [
            {
                "title": "مصنع",
                "paragraphs": [
                    {"context": f"{lead} وتصدر الشركة البطاريات إلى أوروبا.", "qas": []},
                    {
                        "context": second,
                        # The gold span is in the second copy; the service quotes the first.
                        "qas": [{"id": "1", "question": "أين افتتحت الشركة مصنع البطاريات؟", "answers": [{"text": "الرياض", "answer_start": second.index("الرياض")}]}],
                    },
                ],
            }
        ]
    }
    path = tmp_path / "copies.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    report = evaluate(path, make_settings(f"sqlite:///{tmp_path}/unused.db"))
    assert report.p_at_1 == 1.0
