"""The answer service on the seed articles, as a user would ask."""

import threading

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.answers import AnswerStatus
from bot.app import build_app
from bot.ratelimit import Admission

from .conftest import make_settings


def test_great_wall_sales_are_quoted_verbatim_with_their_article(app):
    answer = app.service.ask("كم سيارة باعت Great Wall في العام الماضي؟")
    assert answer.status is AnswerStatus.ANSWERED
    best = answer.quotes[0]
    assert "1.11 مليون سيارة" in best.text
    assert best.title == "شاومي تخطط لتصنيع سيارات كهربائية"
    article = app.store.engine.connect().exec_driver_sql("select text from articles where id=?", (best.article_id,)).scalar()
    assert article[best.start : best.end] == best.text  # verbatim, at its offsets
    words = {best.text[s:e] for s, e in best.highlights}
    assert {"Great", "Wall", "وباعت", "سيارة"} <= words


def test_close_answers_from_two_articles_come_together(app):
    answer = app.service.ask("متى تخطط شاومي لإنتاج أول سيارة؟")
    texts = " | ".join(q.text for q in answer.quotes)
    assert answer.status is AnswerStatus.ANSWERED
    assert "2024" in texts and "2023" in texts
    assert len({q.article_id for q in answer.quotes}) == 2


def test_name_written_in_arabic_finds_the_article_that_writes_it_in_latin(app):
    answer = app.service.ask("كم وظيفة خلقتها شاومي في البحث والتطوير؟")
    assert answer.status is AnswerStatus.ANSWERED
    assert "2300" in answer.quotes[0].text


def test_spelling_variants_and_indic_digits_find_the_same_sentence(app):
    plain = app.service.ask("كم سيارة باعت Great Wall في العام الماضي؟").quotes[0]
    for variant in ("كَمْ سيّارةً باعَتْ great wall في العامِ الماضي", "كم سيارة باعت GREAT WALL فى العام الماضى ؟ 🚗"):
        assert app.service.ask(variant).quotes[0].sentence_id == plain.sentence_id
    digits = app.service.ask("ماذا حدث في عام ٢٠٢٣؟")
    assert any("2023" in q.text for q in digits.quotes)


def test_unrelated_question_gets_an_honest_no_answer(app):
    answer = app.service.ask("ما عاصمة أستراليا؟")
    assert answer.status is AnswerStatus.NO_ANSWER
    assert answer.quotes == ()
    assert answer.reason and answer.suggestions


def test_bad_input_is_invalid_with_an_arabic_reason(app):
    cases = ["", "   ", "؟؟؟!!", "😀🚗👍", "ما هو؟", "س" * 1001]
    for question in cases:
        answer = app.service.ask(question)
        assert answer.status is AnswerStatus.INVALID, question
        assert answer.reason and any("\u0600" <= ch <= "\u06ff" for ch in answer.reason)


@hsettings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_the_service_never_raises_on_user_text(shared_app, text):
    answer = shared_app.service.ask(text, log_question=False)
    assert answer.status in AnswerStatus


def test_more_sources_pages_through_the_ranking(app):
    first = app.service.ask("تخطط شاومي لصنع سيارات كهربائية", 1)
    assert first.has_more and first.question_id
    second = app.service.more(first.question_id, first.offset + len(first.quotes), 1)
    assert second and second.quotes
    assert second.quotes[0].sentence_id != first.quotes[0].sentence_id
    assert app.service.more(10**9, 1) is None


def test_feedback_is_one_vote_per_user_and_stats_count_it(app):
    answer = app.service.ask("كم سيارة باعت Great Wall؟", platform="telegram", user_id=1)
    assert app.service.feedback(answer.question_id, "telegram", 1, +1)
    assert app.service.feedback(answer.question_id, "telegram", 1, -1)  # changes the vote
    assert app.service.feedback(answer.question_id, "telegram", 2, +1)
    assert not app.service.feedback(10**9, "telegram", 1, +1)
    app.service.ask("ما عاصمة أستراليا؟")
    app.service.ask("ما عاصمة أستراليا؟")
    stats = app.service.stats()
    assert (stats.feedback_up, stats.feedback_down) == (1, 1)
    assert stats.answered == 1 and stats.unanswered == 2
    assert stats.top_unanswered[0] == ("ما عاصمة أستراليا؟", 2)
    assert stats.articles == 2 and stats.sentences > 20


def test_user_ids_are_not_stored_in_clear(app):
    app.service.ask("كم سيارة باعت Great Wall؟", platform="telegram", user_id=123456789)
    with app.store.engine.connect() as conn:
        stored = conn.exec_driver_sql("select user_hash from question_log").scalar()
    assert stored and "123456789" not in stored


def test_rate_limit_tells_once_then_stays_quiet(tmp_path):
    application = build_app(make_settings(f"sqlite:///{tmp_path}/r.db", rate_limit_per_minute=2))
    try:
        service = application.service
        results = [service.admit("telegram", 7) for _ in range(4)]
        assert results == [Admission.ALLOWED, Admission.ALLOWED, Admission.LIMITED_NOTIFY, Admission.LIMITED_SILENT]
        assert service.admit("telegram", 8) is Admission.ALLOWED  # other users are not affected
    finally:
        application.close()


def test_questions_are_answered_while_a_reindex_runs(app, tmp_path):
    errors = []
    done = threading.Event()

    def keep_asking():
        while not done.is_set():
            answer = app.service.ask("كم سيارة باعت Great Wall؟", log_question=False)
            if answer.status is not AnswerStatus.ANSWERED:
                errors.append(answer)

    worker = threading.Thread(target=keep_asking)
    worker.start()
    try:
        for _ in range(3):
            app.service.reindex()
    finally:
        done.set()
        worker.join()
    assert errors == []


def test_questions_asked_during_a_reindex_on_sqlite_do_not_wait_and_are_logged_after(app):
    import time

    # As during a reindex: the reindex lock is held and so is SQLite's single writer.
    with app.service._reindex_lock, app.store.engine.connect() as writer:
        writer.exec_driver_sql("BEGIN IMMEDIATE")
        started = time.perf_counter()
        answer = app.service.ask("كم سيارة باعت Great Wall؟", platform="telegram", user_id=5)
        assert time.perf_counter() - started < 1.0
        assert answer.status is AnswerStatus.ANSWERED
        writer.exec_driver_sql("ROLLBACK")
    app.service.reindex()
    assert app.service.stats().questions == 1


def test_a_latin_name_stays_one_isolated_run_across_highlights():
    from bot.bidi import LRI, PDI, highlight_spans, mark_up

    text = "وباعت Great Wall 1.11 مليون سيارة"
    spans = highlight_spans(text, [(6, 11), (12, 16)])
    marked = mark_up(text, spans, open_mark="[", close_mark="]")
    assert marked == f"وباعت {LRI}[Great] [Wall] 1.11{PDI} مليون سيارة"


def test_a_sentence_an_article_repeats_is_quoted_once(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lead = "تأسست شركة النخيل للطيران في مدينة جدة عام 1998 برأس مال سعودي."
    (corpus / "nakheel.txt").write_text(
        "شركة النخيل للطيران\n\n"
        f"{lead} وتملك الشركة اليوم أربعين طائرة.\n\n"
        f"{lead} وتخطط الشركة لفتح خطوط جديدة إلى آسيا في العام المقبل.\n\n"
        "أسست الشركة مكتبا في مدينة جدة لخدمة المسافرين عام 2005.",
        encoding="utf-8",
    )
    application = build_app(make_settings(f"sqlite:///{tmp_path}/d.db", corpus_dir=corpus))
    try:
        answer = application.service.ask("متى تأسست شركة النخيل للطيران في جدة؟", 3, related_ratio=0)
        texts = [q.text for q in answer.quotes]
        assert texts[0] == lead
        assert len(texts) == len(set(texts)) >= 2  # the repeat gave its place to another sentence
        more = application.service.ask("متى تأسست شركة النخيل للطيران في جدة؟", 3, offset=1, related_ratio=0)
        assert lead not in [q.text for q in more.quotes]
    finally:
        application.close()


def test_search_threads_come_from_the_settings(tmp_path, seeds_dir):
    from bot.service import search_config
    from bot.settings import Settings, SettingsError

    assert Settings.from_env({"SEARCH_THREADS": "3"}, env_file=None).search_threads == 3
    assert search_config(Settings(search_threads=3)).threads == 3
    assert search_config(Settings()).threads >= 1  # 0: one per core
    with pytest.raises(SettingsError, match="SEARCH_THREADS"):
        Settings.from_env({"SEARCH_THREADS": "-1"}, env_file=None)
    # The service's index shares each question between that many threads, and answers alike.
    one = build_app(make_settings(f"sqlite:///{tmp_path}/one.db", corpus_dir=seeds_dir, search_threads=1))
    two = build_app(make_settings(f"sqlite:///{tmp_path}/two.db", corpus_dir=seeds_dir, search_threads=2))
    try:
        assert two.service.index.workers.threads == 2
        question = "كم وظيفة خلقتها شاومي في البحث والتطوير؟"
        assert two.service.ask(question).quotes == one.service.ask(question).quotes
    finally:
        one.close()
        two.close()
