"""/ask, its buttons and autocomplete, driven through the real discord.py against a fake Discord."""

from __future__ import annotations

import asyncio
import json
import random
import re

import pytest

from bot.discord_bot import texts
from bot.service import REASON_NO_ANSWER

from .discord_fakes import (
    GUILD_ID,
    SEEDS,
    TOKEN,
    USER_ID,
    Harness,
    Sent,
    make_app,
    quote_text,
    unrender,
)

GREAT_WALL = "كم سيارة باعت Great Wall في العام الماضي؟"
XIAOMI = "متى تخطط شاومي لإنتاج أول سيارة؟"
NO_ANSWER = "ما عاصمة أستراليا؟"
XIAOMI_TITLE = "شاومي تخطط لتصنيع سيارات كهربائية"
OLIVE = "مهرجان الزيتون\n\nأقيم مهرجان الزيتون السنوي في مدينة جرش بمشاركة أربعين مزارعا من القرى المجاورة.\n"
OLIVE_QUESTION = "أين أقيم مهرجان الزيتون؟"
SEED_TEXT = " ".join(p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt"))


@pytest.fixture
async def harness(tmp_path, monkeypatch):
    async with Harness.running(make_app(tmp_path), monkeypatch) as h:
        yield h


def bold_runs(description: str) -> list[str]:
    return [unrender(run) for run in re.findall(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*", description)]


def embed_length(embed: dict) -> int:
    """Characters Discord counts towards the 6000 per message."""
    fields = sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    footer = len(embed.get("footer", {}).get("text", ""))
    return len(embed.get("title", "")) + len(embed.get("description", "")) + fields + footer


def assert_within_discord_limits(sent: list[Sent]) -> None:
    for message in sent:
        assert len(message.content) <= 2000
        assert len(message.embeds) <= 10
        assert sum(embed_length(e) for e in message.embeds) <= 6000
        for embed in message.embeds:
            assert len(embed.get("title", "")) <= 256
            assert len(embed.get("description", "")) <= 4096
            assert len(embed.get("fields", [])) <= 25
            assert all(len(f["value"]) <= 1024 for f in embed.get("fields", []))


async def test_ask_quotes_the_answering_sentence_verbatim_with_its_source(harness):
    sent = await harness.slash("ask", {"question": GREAT_WALL})

    assert [s.type for s in sent] == [4]  # answered at once, no "thinking…"
    (reply,) = sent
    assert not reply.ephemeral
    embed = reply.embeds[0]
    quote = quote_text(embed["description"])
    assert "1.11 مليون سيارة" in quote
    assert quote in SEED_TEXT  # the sentence exactly as the article has it
    assert embed["title"] == XIAOMI_TITLE
    assert embed["footer"]["text"] == "الجملة 16 من 16"
    assert "Great Wall" in bold_runs(embed["description"])  # the words of the question stand out
    assert reply.data["allowed_mentions"] == {"parse": []}
    assert reply.custom_ids[1:] == [f"sanad:vote:{1}:up", f"sanad:vote:{1}:down"]
    assert reply.button("sanad:more:")["label"] == "مصادر أخرى"


async def test_ask_second_seed_question(harness):
    (reply,) = await harness.slash("ask", {"question": XIAOMI})

    # Both articles answer (2024 and 2023); the ranking between them is the service's business.
    [embed] = [e for e in reply.embeds if "تخطط لإنتاج أول سيارة بحلول عام 2024" in quote_text(e["description"])]
    assert quote_text(embed["description"]) in SEED_TEXT
    assert embed["footer"]["text"] == "الجملة 7 من 14"


async def test_private_question_gets_an_ephemeral_answer(harness):
    (reply,) = await harness.slash("ask", {"question": GREAT_WALL, "private": True})

    assert reply.ephemeral
    assert "1.11 مليون سيارة" in quote_text(reply.embeds[0]["description"])


async def test_quotes_from_several_articles_come_as_several_embeds(harness):
    (reply,) = await harness.slash("ask", {"question": "السيارات الكهربائية"})

    titles = [e["title"] for e in reply.embeds]
    assert len(titles) == 3 and len(set(titles)) == 2
    for embed in reply.embeds:
        assert quote_text(embed["description"]) in SEED_TEXT
        assert embed["footer"]["text"].startswith("الجملة ")


async def test_no_answer_is_polite_and_names_the_closest_articles(harness):
    (reply,) = await harness.slash("ask", {"question": NO_ANSWER})

    assert reply.embeds == [] and reply.custom_ids == []
    assert reply.content.startswith(REASON_NO_ANSWER)
    assert texts.CLOSEST_TITLES in reply.content
    assert XIAOMI_TITLE in unrender(reply.content)


async def test_invalid_question_is_answered_privately_with_the_reason(harness):
    (reply,) = await harness.slash("ask", {"question": "؟؟؟"})

    assert reply.ephemeral
    assert "كلمات" in reply.content and reply.embeds == []


async def test_ask_in_a_direct_message(harness):
    (reply,) = await harness.slash("ask", {"question": GREAT_WALL}, dm=True)

    assert "1.11 مليون سيارة" in quote_text(reply.embeds[0]["description"])


async def test_slow_answer_defers_then_follows_up_with_the_same_visibility(harness):
    harness.bot.defer_after = 0  # as if the search took longer than Discord's patience

    deferred, answer = await harness.slash("ask", {"question": GREAT_WALL, "private": True})

    assert deferred.kind == "callback" and deferred.type == 5 and deferred.ephemeral
    assert answer.kind == "followup" and answer.ephemeral
    assert "1.11 مليون سيارة" in quote_text(answer.embeds[0]["description"])


async def test_more_sources_button_sends_the_next_quotes(harness):
    (first,) = await harness.slash("ask", {"question": GREAT_WALL})
    more_id = first.button("sanad:more:")["custom_id"]

    (more,) = await harness.press(first, more_id, user_id=USER_ID + 1)

    shown = quote_text(first.embeds[0]["description"])
    next_quotes = [quote_text(e["description"]) for e in more.embeds]
    assert next_quotes and shown not in next_quotes
    assert all(q in SEED_TEXT for q in next_quotes)
    assert not more.ephemeral  # as visible as the answer it continues
    assert "sanad:vote:1:up" in more.custom_ids


async def test_more_sources_on_a_private_answer_stays_private(harness):
    (first,) = await harness.slash("ask", {"question": GREAT_WALL, "private": True})

    (more,) = await harness.press(first, first.button("sanad:more:")["custom_id"])

    assert more.ephemeral


async def test_votes_are_stored_once_per_user_and_can_change(harness):
    (reply,) = await harness.slash("ask", {"question": GREAT_WALL})
    up, down = "sanad:vote:1:up", "sanad:vote:1:down"

    (thanks,) = await harness.press(reply, up)
    await harness.press(reply, up)
    assert thanks.ephemeral and thanks.content == texts.VOTE_UP_THANKS
    assert (harness.app.service.stats().feedback_up, harness.app.service.stats().feedback_down) == (1, 0)

    await harness.press(reply, down)
    await harness.press(reply, up, user_id=USER_ID + 1)
    stats = harness.app.service.stats()
    assert (stats.feedback_up, stats.feedback_down) == (1, 1)


async def test_buttons_keep_working_after_a_restart(tmp_path, monkeypatch):
    async with Harness.running(make_app(tmp_path), monkeypatch) as before:
        (reply,) = await before.slash("ask", {"question": GREAT_WALL})

    # A new process: new client, new tree, nothing remembered but the database.
    async with Harness.running(make_app(tmp_path), monkeypatch) as after:
        (more,) = await after.press(reply, reply.button("sanad:more:")["custom_id"])
        (thanks,) = await after.press(reply, "sanad:vote:1:down")

        assert more.embeds and all(quote_text(e["description"]) in SEED_TEXT for e in more.embeds)
        assert thanks.content == texts.VOTE_DOWN_THANKS
        assert after.app.service.stats().feedback_down == 1


async def test_button_of_an_unknown_question_says_so(harness):
    (reply,) = await harness.slash("ask", {"question": GREAT_WALL})
    reply.message["components"][0]["components"][0]["custom_id"] = "sanad:more:999:1"  # from another database
    reply.data["components"] = reply.message["components"]

    (gone,) = await harness.press(reply, "sanad:more:999:1")

    assert gone.ephemeral and gone.content == texts.QUESTION_GONE


async def test_autocomplete_offers_titles_and_earlier_questions(harness):
    choices = await harness.autocomplete("ask", "question", "")
    assert XIAOMI_TITLE in [c["value"] for c in choices]

    await harness.slash("ask", {"question": GREAT_WALL})
    await harness.slash("ask", {"question": XIAOMI})
    choices = await harness.autocomplete("ask", "question", "كم")
    assert [c["value"] for c in choices] == [GREAT_WALL]

    choices = await harness.autocomplete("ask", "question", "شاومي")
    assert [c["name"] for c in choices] == [XIAOMI_TITLE]


async def test_autocomplete_respects_discord_limits(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    articles = [
        {"title": f"مقالة رقم {i} " + "عنوان طويل جدا " * 10, "text": f"نص المقالة رقم {i} عن موضوع ما."}
        for i in range(30)
    ]
    (tmp_path / "many.json").write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
    app.service.reindex([tmp_path / "many.json"])
    async with Harness.running(app, monkeypatch) as h:
        choices = await h.autocomplete("ask", "question", "مقالة")

    assert len(choices) == 25
    assert all(0 < len(c["name"]) <= 100 and 0 < len(c["value"]) <= 100 for c in choices)


async def test_markdown_in_articles_is_shown_literally(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    sentence = "يكتب المبرمج الرمز *النجمة* والشرطة_السفلية والعلامة `الخلفية` و~~التيلدا~~ في ملفات التوثيق."
    article = {"title": "دليل *الرموز* في _التوثيق_", "url": "https://example.com/symbols", "text": sentence}
    (tmp_path / "symbols.json").write_text(json.dumps(article, ensure_ascii=False), encoding="utf-8")
    app.service.reindex([tmp_path / "symbols.json"])
    async with Harness.running(app, monkeypatch) as h:
        (reply,) = await h.slash("ask", {"question": "ما الرمز الذي يكتبه المبرمج في ملفات التوثيق؟"})

    embed = reply.embeds[0]
    assert quote_text(embed["description"]) == sentence
    unescaped = re.sub(r"\\.|\*\*", "", embed["description"] + embed["title"])
    assert not set("*_`~") & set(unescaped), "markdown characters must reach Discord escaped"
    assert unrender(embed["title"]) == article["title"]
    assert embed["url"] == "https://example.com/symbols"


def _long_articles(tmp_path):
    rnd = random.Random(7)
    words = "الشركة السوق المدينة الطريق المصنع البحر الجبل النهر الكتاب المدرسة الحديقة القرية".split()

    def sentence(length: int) -> str:
        out = ["الزعفران"]
        while len(" ".join(out)) < length:
            out.append(rnd.choice(words))
            if rnd.random() < 0.05:
                out.append("الزعفران الأحمر")
        return " ".join(out) + "."

    articles = [{"title": "مقالة طويلة عن الزعفران", "url": "https://example.com/saffron", "text": sentence(9000)}]
    articles += [{"title": f"مقالة {i} عن الزعفران", "text": sentence(2600)} for i in range(3)]
    path = tmp_path / "saffron.json"
    path.write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
    return path, {a["title"]: a["text"] for a in articles}


async def test_long_answers_respect_discord_limits_and_are_never_cut(tmp_path, monkeypatch):
    app = make_app(tmp_path, quote_max_chars=0)  # whole sentences, however long
    path, texts_by_title = _long_articles(tmp_path)
    app.service.reindex([path])
    async with Harness.running(app, monkeypatch) as h:
        sent = await h.slash("ask", {"question": "ما لون الزعفران الأحمر؟"})

    assert len(sent) >= 2 and sent[0].kind == "callback" and all(s.kind == "followup" for s in sent[1:])
    assert_within_discord_limits(sent)
    # Each quote starts with a titled embed; its continuation embeds follow it untitled.
    quotes: list[tuple[str, list[str]]] = []
    for embed in (e for s in sent for e in s.embeds):
        if "title" in embed:
            quotes.append((unrender(embed["title"]), []))
        quotes[-1][1].append(unrender(embed["description"]))
    assert len(quotes) == 3
    for title, pieces in quotes:
        text = " ".join(pieces).removeprefix("«").removesuffix("»")
        assert text == texts_by_title[title]
    assert len(quotes[0][1]) >= 3  # the 9000-character sentence spans several embeds
    # The buttons sit under the last message only.
    assert [bool(s.custom_ids) for s in sent] == [False] * (len(sent) - 1) + [True]


async def test_rate_limit_answers_politely_then_tersely(tmp_path, monkeypatch):
    async with Harness.running(make_app(tmp_path, rate_limit_per_minute=2), monkeypatch) as h:
        for _ in range(2):
            (ok,) = await h.slash("ask", {"question": GREAT_WALL})
            assert ok.embeds
        (limited,) = await h.slash("ask", {"question": GREAT_WALL})
        (again,) = await h.slash("ask", {"question": GREAT_WALL})
        (other,) = await h.slash("ask", {"question": GREAT_WALL}, user_id=USER_ID + 7)

    assert limited.ephemeral and limited.content == texts.RATE_LIMITED and not limited.embeds
    assert again.ephemeral and again.content == texts.RATE_LIMITED_AGAIN
    assert other.embeds  # one user's limit is not another's


async def test_a_failing_button_apologizes_and_logs_without_the_token(harness):
    (reply,) = await harness.slash("ask", {"question": GREAT_WALL})
    with harness.app.store.engine.begin() as connection:  # the database breaks under the bot
        connection.exec_driver_sql("DROP TABLE feedback")
    harness.expect_errors = True

    (apology,) = await harness.press(reply, "sanad:vote:1:up")

    assert apology.ephemeral and apology.content == texts.APOLOGY
    (record,) = harness.errors.records
    assert "sanad:vote:1:up failed" in record.getMessage() and record.exc_info
    assert TOKEN not in record.getMessage()


async def test_a_command_discord_still_offers_but_this_version_lacks_is_answered(harness, caplog):
    (apology,) = await harness.slash("ask_old", {"question": GREAT_WALL})

    assert apology.ephemeral and apology.content == texts.APOLOGY
    assert "sanad discord-sync" in caplog.text


async def test_sources_are_paginated(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    articles = [{"title": f"مقالة قصيرة {i:02d}", "text": f"هذه مقالة قصيرة رقم {i} للتجربة."} for i in range(25)]
    (tmp_path / "short.json").write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
    app.service.reindex([tmp_path / "short.json"])
    async with Harness.running(app, monkeypatch) as h:
        (first,) = await h.slash("sources")
        (second,) = await h.press(first, "sanad:sources:1")
        (third,) = await h.press(second, "sanad:sources:2")

    assert first.ephemeral
    embed = first.embeds[0]
    assert embed["title"] == "المقالات المفهرسة (27)"
    assert embed["footer"]["text"] == "الصفحة 1 من 3"
    assert len(embed["description"].splitlines()) == 10
    assert "— 14 جملة" in embed["description"]
    assert [b["disabled"] for b in first.buttons] == [True, False]
    assert second.type == 7  # the same message turns the page
    assert second.data["embeds"][0]["footer"]["text"] == "الصفحة 2 من 3"
    assert second.data["embeds"][0]["description"].startswith("11. ")
    assert [b["disabled"] for b in third.buttons] == [False, True]
    assert len(third.data["embeds"][0]["description"].splitlines()) == 7


async def test_help_is_arabic_and_private(harness):
    (in_server,) = await harness.slash("help")
    (in_dm,) = await harness.slash("help", dm=True)

    assert in_server.ephemeral
    assert in_server.embeds[0]["title"] == texts.HELP_TITLE
    assert "/reindex" in in_server.embeds[0]["description"]
    assert "/reindex" not in in_dm.embeds[0]["description"]  # admin commands do not exist in DMs


async def test_articles_ingested_by_another_process_are_picked_up_without_restart(tmp_path, monkeypatch):
    app = make_app(tmp_path, index_poll_seconds=0.05)
    (tmp_path / "olive.txt").write_text(OLIVE, encoding="utf-8")
    async with Harness.running(app, monkeypatch, poll_index=True) as h:
        (before,) = await h.slash("ask", {"question": OLIVE_QUESTION})
        other = make_app(tmp_path)  # `sanad ingest` in another process, on the same database
        other.service.reindex([tmp_path / "olive.txt"])
        other.close()
        async with asyncio.timeout(5):
            while h.app.service.version != other.service.version:
                await asyncio.sleep(0.02)
        (after,) = await h.slash("ask", {"question": OLIVE_QUESTION})

    assert before.content.startswith(REASON_NO_ANSWER)
    assert "مدينة جرش" in quote_text(after.embeds[0]["description"])


async def test_commands_are_answered_for_guild_scoped_registrations(harness):
    # After `sanad discord-sync` with DISCORD_GUILD_IDS, Discord sends the guild id in the
    # command data; the bot must still find the command.
    from .discord_fakes import slash

    payload = slash("ask", {"question": GREAT_WALL})
    payload["data"]["guild_id"] = str(GUILD_ID)
    (reply,) = await harness.deliver(payload)

    assert "1.11 مليون سيارة" in quote_text(reply.embeds[0]["description"])
