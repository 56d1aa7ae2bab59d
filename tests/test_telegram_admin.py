"""Admins on Telegram: /reindex, /stats and new articles sent as documents; everyone else is refused."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.app import build_app
from bot.bidi import LRI, PDI, RLM

from .telegram_fakes import (
    ADMIN,
    GROUP,
    SEEDS,
    USER,
    Harness,
    callback_update,
    document_update,
    harness,
    telegram_settings,
    visible_text,
)

PENGUIN = "البطريق الأزرق\n\nيعيش البطريق الأزرق الصغير على سواحل نيوزيلندا الجنوبية ويصطاد السمك ليلا.\n"
PENGUIN_QUESTION = "أين يعيش البطريق الأزرق الصغير؟"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
async def tg(tmp_path: Path, corpus: Path):
    async with harness(tmp_path, corpus_dir=corpus) as h:
        yield h


def shown(call) -> str:
    return visible_text(call.params["text"]).replace(LRI, "").replace(PDI, "").replace(RLM, "")


async def test_an_admin_reindexes_from_the_chat_and_hears_the_counts(tg: Harness):
    version = tg.app.service.version
    calls = await tg.ask("/reindex", user=ADMIN)
    assert [shown(c) for c in calls] == [
        "بدأت إعادة الفهرسة… سأخبرك حين تنتهي. تبقى الأسئلة تُجاب من الفهرس الحالي أثناءها."
    ]
    _, done = await tg.api.wait_for("sendMessage", 2)
    report = shown(done)
    assert report.startswith("انتهت إعادة الفهرسة في") and "ثانية" in report
    assert "أضيف 0، حُدّث 0، حُذف 0، وبقي 2 بلا تغيير" in report
    assert "في الفهرس الآن مقالتين و30 جملة" in report
    assert done.params["reply_parameters"]["message_id"] == calls[0].params["reply_parameters"]["message_id"]
    assert tg.app.service.version == version + 1


async def test_a_second_reindex_while_one_runs_is_told_so(tg: Harness, tmp_path: Path):
    # Another writer holds the database: the reindex started from the chat has to wait for it.
    writer = sqlite3.connect(tmp_path / "telegram.db", timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    try:
        [started] = await tg.ask("/reindex", user=ADMIN)
        assert shown(started).startswith("بدأت إعادة الفهرسة")
        [busy] = await tg.ask("/reindex", user=ADMIN)
        assert shown(busy) == "إعادة فهرسة جارية الآن. انتظر حتى تنتهي، من فضلك."
        [busy_upload] = await tg.send(document_update(tg.api, "late.txt", PENGUIN.encode()))
        assert "إعادة فهرسة جارية" in shown(busy_upload)
    finally:
        writer.rollback()
        writer.close()
    *_, done = await tg.api.wait_for("sendMessage", 4)
    assert shown(done).startswith("انتهت إعادة الفهرسة")
    assert len(tg.api.sent()) == 4  # started, busy, busy, done: the second one never ran


async def test_a_reindex_started_outside_the_chat_is_reported_as_running(tg: Harness):
    gate = threading.Event()
    # `progress` is called per file inside the reindex: holding it keeps the reindex running.
    worker = threading.Thread(target=tg.app.service.reindex, kwargs={"progress": lambda _n: gate.wait(5)})
    worker.start()
    try:
        async with asyncio.timeout(5):
            while not tg.app.service.reindexing:
                await asyncio.sleep(0.005)
        [busy] = await tg.ask("/reindex", user=ADMIN)
        assert shown(busy) == "إعادة فهرسة جارية الآن. انتظر حتى تنتهي، من فضلك."
    finally:
        gate.set()
        worker.join()
    await tg.ask("/reindex", user=ADMIN)  # and once it is over, a reindex starts again
    *_, done = await tg.api.wait_for("sendMessage", 3)
    assert shown(done).startswith("انتهت إعادة الفهرسة")


async def test_a_non_admin_cannot_reindex_or_see_stats_and_nothing_happens(tg: Harness):
    version = tg.app.service.version
    for command in ("/reindex", "/stats", "/reindex@SanadTestBot"):
        chat = GROUP if "@" in command else None
        calls = await tg.ask(command, **({"chat": chat} if chat else {}))
        assert [shown(c) for c in calls] == ["عذرا، هذا الأمر للمشرفين فقط."]
    assert tg.app.service.version == version and not tg.app.service.reindexing
    assert len(tg.api.sent()) == 3


async def test_stats_show_questions_feedback_and_frequent_unanswered_questions(tg: Harness):
    [answer] = await tg.ask("كم سيارة باعت Great Wall في العام الماضي؟")
    up = answer.params["reply_markup"]["inline_keyboard"][1][0]["callback_data"]
    await tg.send(callback_update(up, answer.result))
    for _ in range(2):
        await tg.ask("ما عاصمة أستراليا؟")
    await tg.ask("ما لون البحر الميت؟")

    [stats] = await tg.ask("/stats", user=ADMIN)
    text = shown(stats)
    assert "الفهرس: مقالتين و30 جملة" in text
    assert "الأسئلة: 4 — أُجيب 1، بلا جواب 3، غير صالحة 0" in text
    assert "التقييمات: 👍 1 — 👎 0" in text
    lines = text.split("\n")
    top = lines.index("أكثر الأسئلة التي لم أجد لها جوابا:")
    assert lines[top + 1 :] == ["• ما عاصمة أستراليا؟ (2×)", "• ما لون البحر الميت؟ (1×)"]


async def test_stats_are_not_shown_in_a_group(tg: Harness):
    [reply] = await tg.ask("/stats", user=ADMIN, chat=GROUP)
    assert "محادثتي الخاصة" in shown(reply)


async def test_an_admin_adds_an_article_by_sending_a_file(tg: Harness, corpus: Path):
    assert "لم أجد" in shown((await tg.ask(PENGUIN_QUESTION))[0])

    calls = await tg.send(document_update(tg.api, "../../penguin.txt", PENGUIN.encode()))
    assert [c.method for c in calls] == ["getFile", "sendMessage"]
    assert shown(calls[1]) == "حفظت الملف penguin.txt (مقالة واحدة). أعيد الفهرسة الآن…"
    *_, done = await tg.api.wait_for("sendMessage", 3)
    assert "أضيف 1" in shown(done) and "في الفهرس الآن 3 مقالات" in shown(done)
    assert (corpus / "uploads" / "penguin.txt").read_text(encoding="utf-8") == PENGUIN

    [answer] = await tg.ask(PENGUIN_QUESTION)
    assert "سواحل نيوزيلندا الجنوبية" in shown(answer) and "البطريق الأزرق" in shown(answer)
    # The file is part of the corpus now: a full reindex keeps it.
    await tg.ask("/reindex", user=ADMIN)
    *_, done = await tg.api.wait_for("sendMessage", 6)
    assert "وبقي 3 بلا تغيير" in shown(done)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"   \n", "لم أضف الملف: الملف فارغ"),
        ("binary.txt", b"\x00\x01\x02", "لم أضف الملف: ملف ثنائي"),
        ("broken.json", b"{not json", "لم أضف الملف: JSON غير صالح"),
        ("scan.pdf", b"%PDF-1.7", "لا أقرأ هذا النوع من الملفات"),
    ],
)
async def test_a_bad_file_is_refused_with_the_reason_and_not_saved(tg: Harness, corpus: Path, name, content, reason):
    calls = await tg.send(document_update(tg.api, name, content))
    assert shown(calls[-1]).startswith(reason)
    assert not (corpus / "uploads").exists()
    assert tg.app.service.version == 1


async def test_only_admins_may_add_articles(tg: Harness, corpus: Path):
    calls = await tg.send(document_update(tg.api, "penguin.txt", PENGUIN.encode(), user=USER))
    assert [c.method for c in calls] == ["sendMessage"]  # the file is never downloaded
    assert shown(calls[0]).startswith("عذرا، إضافة المقالات للمشرفين فقط")
    assert not (corpus / "uploads").exists()


async def test_files_sent_in_a_group_are_ignored(tg: Harness, corpus: Path):
    payload = document_update(tg.api, "penguin.txt", PENGUIN.encode())
    payload["message"]["chat"] = GROUP
    assert await tg.send(payload) == []
    assert not (corpus / "uploads").exists()


async def test_a_reindex_by_another_process_reaches_the_running_bot(tmp_path: Path, corpus: Path):
    async with harness(tmp_path, corpus_dir=corpus, index_poll_seconds=0.02) as tg:
        await tg.application.post_init(tg.application)  # starts watching the index version
        other = build_app(telegram_settings(tmp_path, corpus_dir=corpus))  # e.g. `sanad ingest`
        try:
            article = tmp_path / "penguin.txt"
            article.write_text(PENGUIN, encoding="utf-8")
            other.service.reindex([article])
        finally:
            other.close()
        async with asyncio.timeout(5):
            while tg.app.service.version != other.service.version:
                await asyncio.sleep(0.01)
        [answer] = await tg.ask(PENGUIN_QUESTION)
        assert "سواحل نيوزيلندا الجنوبية" in shown(answer)
        await tg.application.post_stop(tg.application)
