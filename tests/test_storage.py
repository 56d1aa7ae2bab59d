"""Storage and reindex on SQLite and on a real PostgreSQL started by the suite."""

import shutil
import sqlite3
import time

import pytest
from sqlalchemy import text

from bot.answers import AnswerStatus
from bot.app import build_app
from bot.service import ReindexInProgress
from retrieval.storage import SQLITE_PAGE_SIZE, Store

from .conftest import SEEDS, make_settings


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


def test_first_start_indexes_the_corpus_and_reingest_changes_nothing(db_url, corpus):
    app = build_app(make_settings(db_url, corpus))
    try:
        assert len(app.service.sources()) == 2
        report = app.service.reindex()
        assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 2)
        assert app.service.ask("كم سيارة باعت Great Wall؟").status is AnswerStatus.ANSWERED
    finally:
        app.close()


def test_reindex_syncs_new_changed_and_deleted_files(db_url, corpus):
    app = build_app(make_settings(db_url, corpus))
    try:
        (corpus / "000_0687341b69af5013.txt").unlink()
        changed = corpus / "003_5140a5bf3436a307.txt"
        changed.write_text(changed.read_text(encoding="utf-8").replace("1.11 مليون", "1.5 مليون"), encoding="utf-8")
        (corpus / "new.txt").write_text("مقال جديد\n\nافتتحت الشركة مصنعا جديدا للبطاريات في مدينة الرياض هذا العام.", encoding="utf-8")
        report = app.service.reindex()
        assert (report.added, report.updated, report.removed) == (1, 1, 1)
        assert report.articles == 2
        assert "1.5 مليون" in app.service.ask("كم سيارة باعت Great Wall في العام الماضي؟").quotes[0].text
        assert app.service.ask("أين افتتحت الشركة مصنع البطاريات؟").quotes[0].title == "مقال جديد"
        # A second process sees the same corpus.
        other = build_app(make_settings(db_url, corpus))
        try:
            assert [s.title for s in other.service.sources()] == [s.title for s in app.service.sources()]
        finally:
            other.close()
    finally:
        app.close()


def _install_failing_trigger(app):
    """A real database error on one sentence, to break a reindex half-way through."""
    with app.store.engine.begin() as conn:
        if app.store.is_sqlite:
            conn.execute(text(
                "CREATE TRIGGER boom BEFORE INSERT ON sentences WHEN NEW.text LIKE '%BOOM%' "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            ))
        else:
            conn.execute(text(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                "IF NEW.text LIKE '%BOOM%' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            ))
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON sentences FOR EACH ROW EXECUTE FUNCTION boom()"))


def test_a_failed_reindex_leaves_the_old_index_serving_and_the_database_unchanged(db_url, corpus):
    app = build_app(make_settings(db_url, corpus))
    try:
        before = app.service.ask("كم سيارة باعت Great Wall في العام الماضي؟").quotes[0].text
        version = app.service.version
        _install_failing_trigger(app)
        changed = corpus / "003_5140a5bf3436a307.txt"
        changed.write_text(changed.read_text(encoding="utf-8").replace("1.11 مليون", "9.99 مليون"), encoding="utf-8")
        (corpus / "bad.txt").write_text("عنوان\n\nهذه جملة فيها BOOM تفشل عند الكتابة في قاعدة البيانات.", encoding="utf-8")
        with pytest.raises(Exception, match="boom"):
            app.service.reindex()
        assert app.service.ask("كم سيارة باعت Great Wall في العام الماضي؟").quotes[0].text == before
        assert app.service.version == version
        with app.store.engine.connect() as conn:
            assert conn.execute(text("select count(*) from articles")).scalar() == 2
            assert conn.execute(text("select count(*) from articles where text like '%9.99%'")).scalar() == 0
        (corpus / "bad.txt").unlink()
        assert app.service.reindex().updated == 1  # the next reindex succeeds
    finally:
        app.close()


def test_only_one_reindex_at_a_time(db_url, corpus):
    app = build_app(make_settings(db_url, corpus))
    try:
        with app.service._reindex_lock:  # as if another reindex were running
            with pytest.raises(ReindexInProgress):
                app.service.reindex()
    finally:
        app.close()


def test_question_log_and_feedback_work_on_both_databases(db_url, corpus):
    app = build_app(make_settings(db_url, corpus))
    try:
        answer = app.service.ask("متى تخطط شاومي لإنتاج أول سيارة؟", platform="discord", user_id=42)
        assert answer.question_id
        assert app.service.feedback(answer.question_id, "discord", 42, 1)
        assert app.service.feedback(answer.question_id, "discord", 42, 1)
        stats = app.service.stats()
        assert stats.questions == 1 and stats.feedback_up == 1
        assert app.service.frequent_questions("متى") == ["متى تخطط شاومي لإنتاج أول سيارة؟"]
    finally:
        app.close()


def test_an_answer_does_not_wait_while_another_process_holds_sqlites_writer(tmp_path, corpus):
    db = tmp_path / "sanad.db"
    app = build_app(make_settings(f"sqlite:///{db}", corpus))
    other = sqlite3.connect(db, isolation_level=None)  # another bot process, reindexing
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        answer = app.service.ask("متى تخطط شاومي لإنتاج أول سيارة؟", platform="telegram", user_id=7)
        assert time.monotonic() - started < 2  # not the 30 s SQLite would wait
        assert answer.status is AnswerStatus.ANSWERED and answer.question_id is None  # no buttons this once
        other.execute("COMMIT")
        later = app.service.ask("كم سيارة باعت Great Wall؟", platform="telegram", user_id=7)
        assert later.question_id  # written, and the one that waited with it
        assert app.service.stats().questions == 2
        assert sorted(app.service.frequent_questions()) == sorted([answer.question, later.question])
    finally:
        other.close()
        app.close()


def test_a_vote_does_not_wait_while_another_process_holds_sqlites_writer(tmp_path, corpus):
    db = tmp_path / "sanad.db"
    app = build_app(make_settings(f"sqlite:///{db}", corpus))
    other = sqlite3.connect(db, isolation_level=None)
    try:
        answer = app.service.ask("متى تخطط شاومي لإنتاج أول سيارة؟", platform="telegram", user_id=7)
        other.execute("BEGIN IMMEDIATE")  # another bot process starts a reindex
        started = time.monotonic()
        assert app.service.feedback(answer.question_id, "telegram", 7, -1)
        assert app.service.feedback(answer.question_id, "telegram", 7, 1)  # changed their mind
        assert not app.service.feedback(answer.question_id + 100, "telegram", 7, 1)  # unknown: said at once
        assert time.monotonic() - started < 3
        other.execute("COMMIT")
        app.service.ask("كم سيارة باعت Great Wall؟", platform="telegram", user_id=8)  # writes what waited
        stats = app.service.stats()
        assert (stats.feedback_up, stats.feedback_down) == (1, 0)
    finally:
        other.close()
        app.close()


def test_the_index_reads_each_sentence_byte_for_byte_as_stored(db_url, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    sentence = "أعلنت شَرِكَةُ Xiaomi 🚗 عن بيع ٢٠٢٣ سيارة في «بكين» — وقالت إن الطلب كبير."
    (folder / "a.txt").write_text(f"عنوان المقال\n\n{sentence}", encoding="utf-8")
    app = build_app(make_settings(db_url, folder))
    try:
        with app.store.read_session() as session:
            rows = [row for batch in app.store.sentence_batches(session, 2) for row in batch]
        assert [row[5] for row in rows] == [sentence.encode("utf-8")]
        answer = app.service.ask("كم سيارة باعت شاومي؟")
        assert answer.status is AnswerStatus.ANSWERED and answer.quotes[0].text == sentence
    finally:
        app.close()


def test_a_new_sqlite_database_gets_large_pages_and_an_old_one_keeps_its_own(tmp_path):
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as connection:  # as made by an earlier version: 4 KiB pages
        connection.execute("PRAGMA page_size=4096")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE keep (x INTEGER)")
    connection.close()
    for path, size in ((tmp_path / "new.db", SQLITE_PAGE_SIZE), (old, 4096)):
        store = Store(f"sqlite:///{path}")
        store.create_schema()
        with store.session() as session:
            assert session.execute(text("PRAGMA page_size")).scalar() == size
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        store.dispose()


def test_a_utf16_sqlite_database_is_read_as_utf8_too(tmp_path):
    db = tmp_path / "utf16.db"
    with sqlite3.connect(db) as connection:  # made elsewhere, with another text encoding
        connection.execute("PRAGMA encoding='UTF-16le'")
        connection.execute("CREATE TABLE made_elsewhere (x INTEGER)")
    connection.close()
    folder = tmp_path / "mixed"
    folder.mkdir()
    sentence = "باعت Great Wall ٢٠٢٣ سيارة 🚗 في العام الماضي."
    (folder / "a.txt").write_text(f"عنوان\n\n{sentence}", encoding="utf-8")
    app = build_app(make_settings(f"sqlite:///{db}", folder))
    try:
        with app.store.read_session() as session:
            assert session.execute(text("PRAGMA encoding")).scalar() == "UTF-16le"
            rows = [row for batch in app.store.sentence_batches(session, 10) for row in batch]
        assert [row[5] for row in rows] == [sentence.encode("utf-8")]
        assert app.service.ask("كم سيارة باعت Great Wall؟").quotes[0].text == sentence
    finally:
        app.close()
