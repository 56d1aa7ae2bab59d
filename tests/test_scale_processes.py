"""Several processes on one database: index versions, the reindex lock, crashes, reindex under load.

Processes here are real: the test starts Python interpreters that build their own service on
the same database (a throwaway PostgreSQL, or a SQLite file), and kills them with SIGKILL.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

import bot.service as service_module
import retrieval.storage as storage_module
from bench.benchmark import generate_articles, write_corpus
from bot.answers import AnswerStatus
from bot.app import build_app
from bot.service import ReindexFailed, ReindexInProgress
from retrieval.storage import Store

from .conftest import SEEDS, make_settings

ROOT = Path(__file__).resolve().parent.parent
OLD_QUESTION = "كم سيارة باعت Great Wall في العام الماضي؟"
NEW_TITLE = "مصنع البطاريات في الرياض"
NEW_QUESTION = "أين افتتحت الشركة مصنع البطاريات الجديد؟"
NEW_ARTICLE = f"{NEW_TITLE}\n\nافتتحت الشركة مصنعا جديدا للبطاريات في مدينة الرياض هذا العام بتكلفة كبيرة."


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


def add_articles(corpus: Path, count: int) -> None:
    (corpus / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    for i in range(count):
        (corpus / f"extra_{i:03d}.txt").write_text(
            f"مقال إضافي رقم {i}\n\nهذه جملة من مقال إضافي رقم {i} عن صناعة السيارات الكهربائية في العالم.",
            encoding="utf-8",
        )


def script(tmp_path: Path, body: str, *, prelude: str = "") -> Path:
    """A Python file for a child process. Module-level code in *prelude* also runs in the worker
    processes the child spawns (they import the parent's main file), so patches made there apply
    to a reindex that runs in a worker."""
    path = tmp_path / f"child_{time.monotonic_ns()}.py"
    path.write_text(
        "import json, os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        + textwrap.dedent(prelude)
        + "\n\ndef main(args):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
        + "\n\nif __name__ == '__main__':\n    main(json.loads(sys.argv[1]))\n",
        encoding="utf-8",
    )
    return path


def start(path: Path, **args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(path), json.dumps(args)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(process: subprocess.Popen, word: str, timeout: float = 60) -> list[str]:
    """Lines the child prints until one contains *word*."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if word in line:
            return lines
    process.kill()
    raise AssertionError(f"child never said {word!r}: {lines}\n{process.stderr.read()[-3000:]}")


SERVE = """
import logging
logging.basicConfig(level=logging.INFO)
from bot.app import build_app
from bot.answers import AnswerStatus
from bot.settings import Settings
from pathlib import Path
app = build_app(Settings(database_url=args["db"], corpus_dir=Path(args["corpus"]),
                         index_cache_dir=Path(args["cache"]), rate_limit_per_minute=0))
service = app.service
print(json.dumps({"ready": service.version}), flush=True)
answered = failed = 0
switched_at = None
deadline = time.monotonic() + 60
last_poll = 0.0
while time.monotonic() < deadline:
    if time.monotonic() - last_poll > 0.05:  # what the bots' polling thread does, faster
        service.refresh_if_stale()
        last_poll = time.monotonic()
    answer = service.ask(args["old"], log_question=False)
    if answer.status is AnswerStatus.ANSWERED:
        answered += 1
    else:
        failed += 1
    if switched_at is None and service.version != args["from_version"]:
        switched_at = answered + failed
        new = service.ask(args["new"], log_question=False)
        found = bool(new.quotes) and new.quotes[0].title == args["new_title"]
    if switched_at is not None and answered + failed > switched_at + 50:
        break
print(json.dumps({"answered": answered, "failed": failed, "version": service.version,
                  "switched_at": switched_at, "found_new": switched_at is not None and found}), flush=True)
"""


def test_a_reindex_in_one_process_is_picked_up_by_another_that_keeps_answering(pg_url, corpus, tmp_path):
    cache = tmp_path / "cache"  # shared by both processes, as on one machine
    settings = make_settings(pg_url, corpus, index_cache_dir=cache)
    app = build_app(settings)
    try:
        version = app.service.version
        server = start(
            script(tmp_path, SERVE), db=pg_url, corpus=str(corpus), cache=str(cache), old=OLD_QUESTION,
            new=NEW_QUESTION, new_title=NEW_TITLE, from_version=version,
        )
        wait_for(server, "ready")
        time.sleep(0.3)  # it is answering
        add_articles(corpus, 40)
        report = app.service.reindex()
        assert report.version == version + 1 and report.added == 41
        out, err = server.communicate(timeout=90)
        result = json.loads(out.strip().splitlines()[-1])
        assert result["failed"] == 0, err[-3000:]
        assert result["answered"] > 100  # it answered all along
        assert result["version"] == report.version and result["switched_at"] is not None
        assert result["found_new"]  # and from the new index
        assert "loaded index version" in err  # the reindexing process's snapshot, not a rebuild
    finally:
        app.close()


HOLD_LOCK = """
from retrieval.storage import Store
store = Store(args["db"])
with store.session() as session:
    print(json.dumps({"locked": store.try_reindex_lock(session)}), flush=True)
    sys.stdin.readline()  # hold it until told (or killed)
"""


@pytest.mark.parametrize("ending", ["release", "kill"])
def test_only_one_reindex_runs_across_processes(db_url, corpus, tmp_path, monkeypatch, ending):
    monkeypatch.setattr(storage_module, "SQLITE_LOCK_WAIT_MS", 300)
    app = build_app(make_settings(db_url, corpus))
    try:
        holder = subprocess.Popen(
            [sys.executable, str(script(tmp_path, HOLD_LOCK)), json.dumps({"db": db_url})],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert '"locked": true' in wait_for(holder, "locked")[-1]
        with pytest.raises(ReindexInProgress):
            app.service.reindex()
        assert app.service.ask(OLD_QUESTION, log_question=False).status is AnswerStatus.ANSWERED  # still serving
        if ending == "release":
            holder.stdin.write("\n")
            holder.stdin.flush()
        else:  # a crashed reindex must not leave the lock behind
            holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        report = app.service.reindex()
        assert report.version == 2
    finally:
        app.close()


REINDEX = """
from bot.app import build_app
from bot.settings import Settings
from pathlib import Path
settings = Settings(database_url=args["db"], corpus_dir=Path(args["corpus"]), rate_limit_per_minute=0)
app = build_app(settings)
print(json.dumps({"serving": app.service.version}), flush=True)
os.environ["SANAD_TEST_ARMED"] = "1"  # from here on (and in workers started from here on)
calls = []
def progress(n):
    calls.append(n)
    if len(calls) == 5 and args["pause"] == "sync":
        print("syncing", flush=True)
        time.sleep(120)
app.service.reindex(progress=progress)
print("finished", flush=True)
"""

# Runs in the child and in any worker process it spawns: the build pauses, so the process can
# be killed in the middle of the reindex transaction.
SLOW_BUILD = """
import bot.service
_build = bot.service.AnswerService._build
def _slow_build(self, session, pool=None):
    if os.environ.get("SANAD_TEST_ARMED"):  # the reindex, not the start-up load
        print(json.dumps({"building": os.getpid()}), flush=True)
        time.sleep(120)
    return _build(self, session, pool)
if os.environ.get("SANAD_TEST_PAUSE") == "build":
    bot.service.AnswerService._build = _slow_build
if os.environ.get("SANAD_TEST_WORKER"):
    bot.service.PARALLEL_FROM = 0  # reindex in a worker process even for a few articles
"""


@pytest.mark.parametrize(
    ("pause", "worker"),
    [("sync", False), ("build", False), ("build", True)],
    ids=["during-sync", "during-build", "worker-process"],
)
def test_kill_9_during_reindex_keeps_the_previous_index_and_every_article(db_url, corpus, tmp_path, pause, worker):
    settings = make_settings(db_url, corpus)
    app = build_app(settings)
    version = app.service.version
    app.close()
    add_articles(corpus, 30)
    env = {**os.environ, "SANAD_TEST_PAUSE": pause, **({"SANAD_TEST_WORKER": "1"} if worker else {})}
    child = subprocess.Popen(
        [sys.executable, str(script(tmp_path, REINDEX, prelude=SLOW_BUILD)),
         json.dumps({"db": db_url, "corpus": str(corpus), "pause": pause})],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    said = wait_for(child, "building" if pause == "build" else "syncing")[-1]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    if worker:
        builder = json.loads(said)["building"]
        assert builder != child.pid  # the reindex ran in a worker process ...
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{builder}").exists():
            time.sleep(0.05)
        assert not Path(f"/proc/{builder}").exists()  # ... which died with the killed process
    again = build_app(settings, index_if_empty=False)
    try:
        assert again.service.version == version  # the previous index ...
        assert again.service.ask(OLD_QUESTION).status is AnswerStatus.ANSWERED
        assert len(again.service.sources()) == 2  # ... with every article it had, and no half-added one
        with again.store.session() as session:
            assert session.execute(text("select count(*) from articles")).scalar() == 2
        report = again.service.reindex()  # the lock was released with the dead process
        assert report.version == version + 1 and report.added == 31
        assert again.service.ask(NEW_QUESTION).quotes[0].title == NEW_TITLE
    finally:
        again.close()


def test_reindex_under_load_in_a_worker_process(tmp_path, monkeypatch):
    """10,000 sentences reindexed by a worker process while questions stream in this one."""
    corpus = tmp_path / "corpus"
    articles = generate_articles(10_000, vocabulary_size=20_000)
    write_corpus(articles, corpus)
    question = " ".join(articles[0].sentences[3].split()[:6])
    app = build_app(make_settings(f"sqlite:///{tmp_path}/sanad.db", corpus))
    try:
        service = app.service
        before = service.version
        expected = service.ask(question, log_question=False)
        assert expected.status is AnswerStatus.ANSWERED
        (corpus / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        monkeypatch.setattr(service_module, "PARALLEL_FROM", 0)
        failures, versions = [], []
        done = threading.Event()

        def ask_continuously():
            while not done.is_set():
                answer = service.ask(question, log_question=False)
                versions.append(service.version)
                if answer.status is not AnswerStatus.ANSWERED:
                    failures.append(answer)

        asker = threading.Thread(target=ask_continuously)
        asker.start()
        try:
            report = service.reindex()
        finally:
            done.set()
            asker.join()
        assert failures == []
        assert len(versions) > 20 and versions[0] == before and versions[-1] == report.version
        assert report.added == 1 and report.sentences == 10_001
        assert service.ask(NEW_QUESTION).quotes[0].title == NEW_TITLE  # the swapped-in index
    finally:
        app.close()


def test_a_failed_reindex_in_a_worker_process_changes_nothing(tmp_path, corpus, monkeypatch):
    app = build_app(make_settings(f"sqlite:///{tmp_path}/sanad.db", corpus))
    try:
        with app.store.engine.begin() as conn:
            conn.execute(text(
                "CREATE TRIGGER boom BEFORE INSERT ON sentences WHEN NEW.text LIKE '%BOOM%' "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            ))
        (corpus / "bad.txt").write_text("عنوان\n\nهذه جملة فيها BOOM تفشل عند الكتابة في قاعدة البيانات.", encoding="utf-8")
        monkeypatch.setattr(service_module, "PARALLEL_FROM", 0)
        with pytest.raises(ReindexFailed, match="boom"):
            app.service.reindex()
        assert app.service.version == 1
        assert app.service.ask(OLD_QUESTION).status is AnswerStatus.ANSWERED
        (corpus / "bad.txt").unlink()
        calls = []
        report = app.service.reindex(progress=calls.append)  # progress comes from the worker
        assert report.version == 2 and sum(calls) == 2
    finally:
        app.close()


def _articles_in_file(db: Path, tmp_path: Path) -> int:
    """Articles in the SQLite database file alone: what its write-ahead log's checkpoints
    have copied there (a copy of the file, opened without the log)."""
    copy = tmp_path / f"copy-{time.monotonic_ns()}.db"
    shutil.copyfile(db, copy)
    connection = sqlite3.connect(copy)
    try:
        return connection.execute("select count(*) from articles").fetchone()[0]
    except sqlite3.OperationalError:  # not even the tables are there yet
        return 0
    finally:
        connection.close()


def test_a_store_without_autocheckpoint_leaves_the_log_for_its_checkpoint(tmp_path):
    db = tmp_path / "x.db"
    store = Store(f"sqlite:///{db}", autocheckpoint=False)
    store.create_schema()
    store.checkpoint()
    with store.engine.begin() as conn:  # far more than the 1000 pages that trigger a checkpoint
        conn.execute(
            text("insert into articles (source, title, text, content_hash, created_at, updated_at) "
                 "values (:s, 't', :t, 'h', '2026-01-01', '2026-01-01')"),
            [{"s": f"a{i}", "t": "نص " * 2000} for i in range(1000)],
        )
    assert _articles_in_file(db, tmp_path) == 0  # committed to the log only
    with store.session() as session:  # readers see it all the same
        assert session.execute(text("select count(*) from articles")).scalar() == 1000
    store.checkpoint()
    assert _articles_in_file(db, tmp_path) == 1000
    store.dispose()


def test_a_worker_reindex_checkpoints_the_sqlite_log_after_the_swap(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(service_module, "PARALLEL_FROM", 0)  # the first index is built by a worker
    db = tmp_path / "sanad.db"
    app = build_app(make_settings(f"sqlite:///{db}", corpus))
    try:
        assert app.service.ask(OLD_QUESTION).status is AnswerStatus.ANSWERED
        deadline = time.monotonic() + 30
        while _articles_in_file(db, tmp_path) != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _articles_in_file(db, tmp_path) == 2
    finally:
        app.close()


def test_a_sentence_of_an_unknown_article_fails_the_reindex_and_changes_nothing(tmp_path, corpus, monkeypatch):
    # The reindex worker writes without SQLite's per-row key checks; the build is the check.
    db = tmp_path / "sanad.db"
    app = build_app(make_settings(f"sqlite:///{db}", corpus))
    try:
        raw = sqlite3.connect(db)  # foreign keys are off in a plain connection
        with raw:
            raw.execute('insert into sentences (article_id, position, start, "end", text) values (999, 1, 0, 4, ?)',
                        ("جملة يتيمة عن مصنع البطاريات",))
        raw.close()
        monkeypatch.setattr(service_module, "PARALLEL_FROM", 0)
        with pytest.raises(ReindexFailed, match="articles it does not hold"):
            app.service.reindex()
        assert app.service.version == 1
        assert app.service.ask(OLD_QUESTION).status is AnswerStatus.ANSWERED
    finally:
        app.close()


def test_store_reads_one_consistent_state(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/x.db")
    store.create_schema()
    with store.engine.begin() as conn:
        conn.execute(text("insert into index_state (id, version, articles, sentences, duration_ms) values (1, 1, 0, 0, 0)"))
    with store.read_session() as session:
        first = session.execute(text("select version from index_state")).scalar()
        with store.engine.begin() as conn:  # another writer commits meanwhile
            conn.execute(text("update index_state set version = 2"))
        assert session.execute(text("select version from index_state")).scalar() == first == 1
    assert store.index_state().version == 2
    store.dispose()
