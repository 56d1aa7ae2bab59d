"""Users asking Sanad on Telegram: real updates through the real PTB Application, exact Bot API calls."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from telegram.error import BadRequest
from telegram.ext import AIORateLimiter

from bot.bidi import LRI, PDI, RLM
from bot.telegram_bot import keyboards

from .telegram_fakes import (
    ADMIN,
    BOT,
    GROUP,
    OTHER_USER,
    TOKEN,
    USER,
    Harness,
    callback_update,
    harness,
    message,
    text_update,
    update,
    visible_text,
)

GREAT_WALL = "كم سيارة باعت Great Wall في العام الماضي؟"
XIAOMI_CAR = "متى تخطط شاومي لإنتاج أول سيارة؟"
NO_ANSWER = "ما عاصمة أستراليا؟"
XIAOMI_TITLE = "شاومي تخطط لتصنيع سيارات كهربائية"


@pytest.fixture
async def tg(tmp_path):
    async with harness(tmp_path) as h:
        yield h


def plain(text: str) -> str:
    """Visible text without the invisible direction marks."""
    return text.replace(LRI, "").replace(PDI, "").replace(RLM, "")


def quotes_in(markup: str) -> list[str]:
    """The quoted sentences of a message, as the user reads them."""
    return [plain(visible_text(q)) for q in re.findall(r"<blockquote>(.*?)</blockquote>", markup, re.S)]


def only_call(calls, method="sendMessage"):
    assert [c.method for c in calls] == [method], [(c.method, c.params) for c in calls]
    return calls[0].params


# --- private chat ---------------------------------------------------------------------------


async def test_a_private_question_is_answered_with_the_quoted_sentence_as_an_html_reply(tg: Harness):
    payload = text_update(GREAT_WALL)
    sent = only_call(await tg.send(payload))

    assert sent["chat_id"] == USER["id"]
    assert sent["parse_mode"] == "HTML"
    assert sent["reply_parameters"] == {"message_id": payload["message"]["message_id"], "allow_sending_without_reply": True}
    assert sent["link_preview_options"] == {"is_disabled": True}
    [quote] = quotes_in(sent["text"])
    best = tg.app.service.ask(GREAT_WALL, log_question=False).quotes[0]
    assert quote == best.text  # verbatim
    assert "1.11 مليون سيارة" in quote
    # Matched words in bold; Latin names and numbers isolated so the line reads right to left.
    assert "<b>وباعت</b>" in sent["text"] and "<b>سيارة</b>" in sent["text"]
    assert f"{LRI}<b>Great</b> <b>Wall</b>{PDI}" in sent["text"]
    assert f"{LRI}1.11{PDI}" in sent["text"]
    source = plain(visible_text(sent["text"])).split("\n")[-1]
    assert XIAOMI_TITLE in source and f"الجملة {best.position} من {best.sentence_count}" in source


async def test_an_answer_has_more_sources_and_vote_buttons_with_small_callback_data(tg: Harness):
    sent = only_call(await tg.ask(GREAT_WALL))
    rows = sent["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [["مصادر أخرى"], ["👍", "👎"]]
    data = [b["callback_data"] for row in rows for b in row]
    assert all(len(d.encode()) <= 64 for d in data)
    more, up, down = (keyboards.decode(d) for d in data)
    assert more == keyboards.MoreSources(more.question_id, 1)  # the next quote after the one shown
    assert up == keyboards.Vote(more.question_id, +1) and down == keyboards.Vote(more.question_id, -1)
    assert tg.app.service.more(more.question_id, 1).question == GREAT_WALL  # the logged question


async def test_close_answers_from_two_articles_are_shown_together(tg: Harness):
    sent = only_call(await tg.ask(XIAOMI_CAR))
    quotes = quotes_in(sent["text"])
    assert 2 <= len(quotes) <= 3
    joined = " ".join(quotes)
    assert "2024" in joined and "2023" in joined
    assert sent["text"].count("📄") == len(quotes)  # each quote carries its source


async def test_no_answer_is_a_polite_sentence_with_the_closest_titles_and_no_quote(tg: Harness):
    sent = only_call(await tg.ask(NO_ANSWER))
    shown = plain(visible_text(sent["text"]))
    assert "<blockquote>" not in sent["text"]
    assert "لم أجد في المقالات جملة تجيب عن سؤالك" in shown and "صياغة أخرى" in shown
    assert "أقرب المقالات إلى سؤالك:" in shown and f"• {XIAOMI_TITLE}" in shown
    assert "reply_markup" not in sent
    assert sent["reply_parameters"]["message_id"]


async def test_a_question_over_the_length_limit_gets_a_polite_refusal(tg: Harness):
    sent = only_call(await tg.ask("سؤال " * 300))
    shown = plain(visible_text(sent["text"]))
    assert "السؤال طويل جدا" in shown and "1000" in shown


async def test_start_greets_with_the_article_count_and_two_tappable_example_questions(tg: Harness):
    sent = only_call(await tg.ask("/start"))
    shown = plain(visible_text(sent["text"]))
    assert shown.startswith("أهلا بك! أنا سند")
    assert "مقالتين" in shown  # the two seed articles
    keyboard = sent["reply_markup"]
    assert keyboard["one_time_keyboard"] is True
    examples = [row[0]["text"] for row in keyboard["keyboard"]]
    assert examples == [GREAT_WALL, XIAOMI_CAR]
    # A tap sends the example as the user's own message: it gets a quoted answer.
    answered = only_call(await tg.ask(examples[1]))
    assert len(quotes_in(answered["text"])) == 2


async def test_start_in_a_group_gives_the_examples_as_ask_commands(tg: Harness):
    sent = only_call(await tg.ask("/start@SanadTestBot", chat=GROUP))
    assert "reply_markup" not in sent  # a reply keyboard in a group would be pushed on everyone
    lines = plain(visible_text(sent["text"])).split("\n")
    assert lines[-2:] == [f"/ask {GREAT_WALL}", f"/ask {XIAOMI_CAR}"]


async def test_help_lists_the_commands_and_admin_commands_only_for_admins(tg: Harness):
    user_help = plain(visible_text(only_call(await tg.ask("/help"))["text"]))
    assert "/ask" in user_help and "/start" in user_help and "@SanadTestBot" in user_help
    assert "/reindex" not in user_help
    admin_help = plain(visible_text(only_call(await tg.ask("/help", user=ADMIN))["text"]))
    assert "/reindex" in admin_help and "/stats" in admin_help


@pytest.mark.parametrize(
    "extra",
    [
        {"sticker": {"file_id": "s1", "file_unique_id": "s1u", "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False}},
        {"photo": [{"file_id": "p1", "file_unique_id": "p1u", "width": 90, "height": 90}], "caption": "متى تخطط شاومي؟"},
        {"voice": {"file_id": "v1", "file_unique_id": "v1u", "duration": 3}},
    ],
    ids=["sticker", "photo", "voice"],
)
async def test_non_text_messages_get_a_short_hint_in_private_and_silence_in_groups(tg: Harness, extra):
    sent = only_call(await tg.send(update(message(None, **extra))))
    assert plain(visible_text(sent["text"])) == "أفهم الأسئلة المكتوبة فقط. اكتب سؤالك نصا، من فضلك."
    assert await tg.send(update(message(None, chat=GROUP, **extra))) == []


async def test_an_edited_message_is_not_answered_again(tg: Harness):
    original = message(GREAT_WALL)
    only_call(await tg.send(update(original)))
    edited = original | {"text": XIAOMI_CAR, "edit_date": original["date"] + 5}
    assert await tg.send(update(edited, "edited_message")) == []
    assert await tg.send(update(edited | {"chat": GROUP, "text": "/ask " + XIAOMI_CAR}, "edited_message")) == []


async def test_an_unknown_command_gets_a_hint_in_private_and_silence_in_groups(tg: Harness):
    sent = only_call(await tg.ask("/weather"))
    assert "/help" in visible_text(sent["text"])
    assert await tg.ask("/weather", chat=GROUP) == []


# --- groups ---------------------------------------------------------------------------------


async def test_group_chatter_is_ignored(tg: Harness):
    assert await tg.ask(GREAT_WALL, chat=GROUP) == []
    assert await tg.ask(f"/ask@OtherBot {GREAT_WALL}", chat=GROUP) == []
    assert await tg.ask(f"@SomeoneElse {GREAT_WALL}", chat=GROUP) == []
    someone = message("رسالة من عضو", chat=GROUP, user=OTHER_USER)
    assert await tg.send(text_update(GREAT_WALL, chat=GROUP, reply_to=someone)) == []


@pytest.mark.parametrize(
    "text",
    [f"/ask {GREAT_WALL}", f"/ask@SanadTestBot {GREAT_WALL}", f"@SanadTestBot {GREAT_WALL}", f"{GREAT_WALL} @sanadtestbot"],
    ids=["ask", "ask@BotName", "mention first", "mention last"],
)
async def test_in_a_group_the_bot_answers_ask_and_mentions(tg: Harness, text):
    payload = text_update(text, chat=GROUP)
    sent = only_call(await tg.send(payload))
    assert sent["chat_id"] == GROUP["id"]
    assert sent["reply_parameters"]["message_id"] == payload["message"]["message_id"]
    assert "1.11 مليون سيارة" in quotes_in(sent["text"])[0]
    # The mention and the command are not part of the question that was logged.
    assert tg.app.service.frequent_questions() == [GREAT_WALL]


async def test_in_a_group_a_reply_to_the_bot_is_a_question(tg: Harness):
    first = await tg.ask(f"/ask {NO_ANSWER}", chat=GROUP)
    bot_message = first[0].result
    assert bot_message["from"]["id"] == BOT["id"]
    sent = only_call(await tg.send(text_update(XIAOMI_CAR, chat=GROUP, reply_to=bot_message)))
    assert len(quotes_in(sent["text"])) == 2


async def test_ask_without_a_question_explains_how_to_ask(tg: Harness):
    shown = plain(visible_text(only_call(await tg.ask("/ask@SanadTestBot", chat=GROUP))["text"]))
    assert "اكتب سؤالك بعد الأمر" in shown and "/ask " in shown
    shown = plain(visible_text(only_call(await tg.ask("@SanadTestBot", chat=GROUP))["text"]))
    assert "@SanadTestBot" in shown
    assert tg.app.service.stats().questions == 0


# --- HTML safety and length -------------------------------------------------------------------


ARTICLE_WITH_MARKUP = (
    "شركة <Tom & Jerry> للسيارات\n\n"
    'أعلنت شركة Tom & Jerry أن الشفرة <script>alert("x")</script> لا تعمل في متصفح السيارات الجديد.\n'
    "وقالت الشركة إن المتصفح سيصدر في الربيع المقبل للمشترين.\n"
)


async def test_markup_in_article_text_and_titles_is_escaped_not_interpreted(tg: Harness, tmp_path: Path):
    article = tmp_path / "markup.txt"
    article.write_text(ARTICLE_WITH_MARKUP, encoding="utf-8")
    tg.app.service.reindex([article])

    sent = only_call(await tg.ask("ماذا أعلنت شركة Tom & Jerry عن الشفرة؟"))
    assert "&lt;" in sent["text"] and "&amp;" in sent["text"]
    assert "<script" not in sent["text"] and "</script" not in sent["text"]
    [quote] = quotes_in(sent["text"])  # the fake Bot API parsed it as Telegram would
    assert quote == 'أعلنت شركة Tom & Jerry أن الشفرة <script>alert("x")</script> لا تعمل في متصفح السيارات الجديد.'
    assert "شركة <Tom & Jerry> للسيارات" in plain(visible_text(sent["text"]))


async def test_markup_in_a_question_is_escaped_wherever_it_is_shown(tg: Harness):
    question = '<script>alert("x")</script> & <b>ما عاصمة أستراليا؟'
    sent = only_call(await tg.ask(question))
    assert "لم أجد" in visible_text(sent["text"])
    stats = only_call(await tg.ask("/stats", user=ADMIN))
    assert "<script" not in stats["text"] and "<b>ما" not in stats["text"] and "&amp;" in stats["text"]
    assert question in plain(visible_text(stats["text"]))


async def test_an_article_with_a_web_address_is_cited_with_a_link(tg: Harness, tmp_path: Path):
    article = tmp_path / "linked.json"
    article.write_text(
        '{"title": "مرصد الفضاء", "url": "https://example.org/space?id=7&lang=ar",'
        ' "text": "رصد المرصد الفلكي مذنبا أخضر يقترب من الأرض هذا الشتاء. وسيظهر المذنب بالعين المجردة في سماء المدن العربية طوال شهر يناير."}',
        encoding="utf-8",
    )
    tg.app.service.reindex([article])
    sent = only_call(await tg.ask("ماذا رصد المرصد الفلكي؟"))
    assert '<a href="https://example.org/space?id=7&amp;lang=ar">مرصد الفضاء</a> — الجملة 1 من 2' in sent["text"]


def long_article(tmp_path: Path) -> Path:
    filler = " ".join(["وتمتد", "السهول", "الواسعة", "حيث", "ترعى", "القطعان", "بهدوء", "تحت", "الشمس"] * 30)
    body = " ".join(f"شاهد الرحالة الزرافة البنفسجية رقم {i} {filler}." for i in range(3))
    path = tmp_path / "long.txt"
    path.write_text(f"رحلة السافانا\n\n{body}\n", encoding="utf-8")
    return path


@pytest.fixture
async def whole(tmp_path):
    """A bot that quotes whole sentences however long (QUOTE_MAX_CHARS=0)."""
    async with harness(tmp_path, quote_max_chars=0) as h:
        yield h


async def test_a_long_answer_is_split_between_quotes_never_inside_one(whole: Harness, tmp_path: Path):
    tg = whole
    tg.app.service.reindex([long_article(tmp_path)])
    payload = text_update("أين شوهدت الزرافة البنفسجية؟")
    calls = await tg.send(payload)
    assert [c.method for c in calls] == ["sendMessage", "sendMessage"]
    expected = [q.text for q in tg.app.service.ask("الزرافة البنفسجية", log_question=False).quotes]
    assert len(expected) == 3 and sum(map(len, expected)) > 4096
    shown = [quotes_in(c.params["text"]) for c in calls]
    assert shown[0] + shown[1] == expected  # every quote whole, in order
    for call in calls:
        assert len(visible_text(call.params["text"])) <= 4096
        assert call.params["reply_parameters"]["message_id"] == payload["message"]["message_id"]
    assert "reply_markup" not in calls[0].params and "inline_keyboard" in calls[1].params["reply_markup"]


async def test_a_sentence_longer_than_a_message_still_reaches_the_user_whole(whole: Harness, tmp_path: Path):
    tg = whole
    sentence = "الفيل الوردي " + " ".join(["يمشي", "ببطء", "في", "الغابة", "الكثيفة"] * 200)
    article = tmp_path / "huge.txt"
    article.write_text(f"الفيل\n\n{sentence}\n", encoding="utf-8")
    tg.app.service.reindex([article])
    calls = await tg.ask("أين يمشي الفيل الوردي؟")
    assert len(calls) == 2 and all(c.ok for c in calls)
    parts = [part for c in calls for part in quotes_in(c.params["text"])]
    assert "".join(parts) == sentence
    assert "📄" not in calls[0].params["text"] and "📄" in calls[1].params["text"]


# --- buttons --------------------------------------------------------------------------------


async def test_more_sources_edits_the_same_message_with_the_next_quotes(tg: Harness):
    [answer] = await tg.ask(GREAT_WALL)
    [first] = quotes_in(answer.params["text"])
    more = keyboards.decode(answer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    assert more.offset == 1

    calls = await tg.send(callback_update(keyboards.encode(more), answer.result))
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    assert "text" not in calls[0].params  # a silent acknowledgement: the edit is the answer
    edit = calls[1].params
    assert (edit["chat_id"], edit["message_id"]) == (USER["id"], answer.result["message_id"])
    assert edit["parse_mode"] == "HTML"
    following = quotes_in(edit["text"])
    assert 1 <= len(following) <= 3 and first not in following
    assert all("Great Wall" in quote for quote in following)
    assert [b["text"] for b in edit["reply_markup"]["inline_keyboard"][-1]] == ["👍", "👎"]

    beyond = keyboards.encode(keyboards.MoreSources(more.question_id, 50))
    calls = await tg.send(callback_update(beyond, calls[1].result))
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageReplyMarkup"]
    assert calls[0].params["text"] == "لا توجد مصادر أخرى لهذا السؤال."
    assert [b["text"] for b in calls[1].params["reply_markup"]["inline_keyboard"][0]] == ["👍", "👎"]


async def test_buttons_still_work_after_a_restart(tmp_path: Path):
    async with harness(tmp_path) as first:
        [answer] = await first.ask(GREAT_WALL)
    async with harness(tmp_path) as second:  # a new process over the same database
        markup = answer.params["reply_markup"]["inline_keyboard"]
        calls = await second.send(callback_update(markup[0][0]["callback_data"], answer.result))
        assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
        assert quotes_in(calls[1].params["text"])
        calls = await second.send(callback_update(markup[1][0]["callback_data"], answer.result))
        assert calls[0].params["text"] == "شكرا لتقييمك!"
        assert second.app.service.stats().feedback_up == 1


async def test_votes_are_acknowledged_and_stored_once_per_user(tg: Harness):
    [answer] = await tg.ask(GREAT_WALL)
    up, down = (b["callback_data"] for b in answer.params["reply_markup"]["inline_keyboard"][1])
    for data, user in [(up, USER), (up, USER), (down, USER), (up, OTHER_USER)]:
        [ack] = await tg.send(callback_update(data, answer.result, user=user))
        assert ack.method == "answerCallbackQuery" and ack.params["text"] == "شكرا لتقييمك!"
    stats = tg.app.service.stats()
    assert (stats.feedback_up, stats.feedback_down) == (1, 1)  # the first user changed their vote


@pytest.mark.parametrize("data", ["more:not-a-number", "vote:99999999:+1", "more:99999999:1"])
async def test_a_stale_or_foreign_button_is_answered_not_ignored(tg: Harness, data):
    bot_message = {"message_id": 7, "date": 1, "chat": {"id": USER["id"], "type": "private"}, "from": BOT, "text": "…"}
    [ack] = await tg.send(callback_update(data, bot_message))
    assert ack.method == "answerCallbackQuery"
    assert "لم يعد يعمل" in ack.params["text"]


# --- abuse and errors -----------------------------------------------------------------------


async def test_the_rate_limit_answers_the_excess_with_one_notice(tmp_path: Path):
    async with harness(tmp_path, rate_limit_per_minute=2) as tg:
        replies = [await tg.ask(GREAT_WALL) for _ in range(5)]
        assert [len(r) for r in replies] == [1, 1, 1, 0, 0]
        assert quotes_in(replies[0][0].params["text"]) and quotes_in(replies[1][0].params["text"])
        notice = plain(visible_text(replies[2][0].params["text"]))
        assert notice.startswith("أرسلت أسئلة كثيرة في دقيقة واحدة")
        assert replies[2][0].params["reply_parameters"]["message_id"]
        assert tg.app.service.stats().questions == 2  # the excess never reached the service
        other = await tg.ask(GREAT_WALL, user=OTHER_USER)
        assert quotes_in(other[0].params["text"])


async def test_a_failing_handler_is_logged_without_the_token_and_the_user_gets_an_apology(tg: Harness, caplog):
    tg.api.fail_next("sendMessage", 400, "Bad Request: message to be replied not found")
    payload = text_update(GREAT_WALL)
    with caplog.at_level(logging.ERROR, logger="bot.telegram_bot"):
        calls = await tg.send(payload)
    assert [c.ok for c in calls] == [False, True]
    apology = calls[1].params
    assert plain(visible_text(apology["text"])) == "عذرا، حدث خطأ أثناء معالجة طلبك. حاول مرة أخرى بعد قليل."
    assert apology["reply_parameters"]["message_id"] == payload["message"]["message_id"]
    [error] = tg.errors
    assert isinstance(error, BadRequest)
    tg.errors.clear()
    assert f"update {payload['update_id']} failed" in caplog.text and "Message to be replied not found" in caplog.text
    assert TOKEN not in caplog.text
    # The bot keeps working.
    assert quotes_in(only_call(await tg.ask(GREAT_WALL))["text"])


def test_outgoing_messages_are_paced_by_ptbs_rate_limiter(tg: Harness):
    assert isinstance(tg.application.bot.rate_limiter, AIORateLimiter)


async def test_the_command_menu_is_registered_in_arabic_at_start_up(tg: Harness):
    await tg.application.post_init(tg.application)
    menus = tg.api.sent("setMyCommands")
    assert [[c["command"] for c in m["commands"]] for m in menus] == [
        ["ask", "start", "help"],
        ["ask", "start", "help", "reindex", "stats"],
    ]
    assert "scope" not in menus[0]
    assert menus[1]["scope"] == {"type": "chat", "chat_id": ADMIN["id"]}
    assert all(re.search(r"[\u0600-\u06ff]", c["description"]) for m in menus for c in m["commands"])
    await tg.application.post_stop(tg.application)
