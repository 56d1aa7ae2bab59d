"""Admin commands and command registration, through the real discord.py against a fake Discord."""

from __future__ import annotations

import asyncio
import shutil
import threading

import discord
import pytest

from bot.discord_bot import texts
from bot.discord_bot.client import sync_tree

from .discord_fakes import (
    ADMIN_ID,
    ADMIN_ROLE_ID,
    GUILD_ID,
    MANAGE_GUILD,
    MEMBER,
    SEEDS,
    USER_ID,
    Harness,
    make_app,
    quote_text,
)

NEW_ARTICLE = "مهرجان الزيتون\n\nأقيم مهرجان الزيتون السنوي في مدينة جرش بمشاركة أربعين مزارعا من القرى المجاورة.\n"
NEW_QUESTION = "أين أقيم مهرجان الزيتون؟"
ADMIN = {"user_id": ADMIN_ID, "permissions": MANAGE_GUILD}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
async def harness(tmp_path, corpus, monkeypatch):
    async with Harness.running(make_app(tmp_path, corpus_dir=corpus), monkeypatch) as h:
        yield h


# --- registration ---------------------------------------------------------------------------------


async def test_global_sync_payload(harness):
    await sync_tree(harness.bot.tree, ())

    commands = {c["name"]: c for c in harness.fake.commands[None]}
    assert set(commands) == {"ask", "sources", "help", "reindex", "stats"}
    for command in commands.values():
        assert 0 < len(command["description"]) <= 100
        assert any("\u0600" <= ch <= "\u06ff" for ch in command["description"])  # Arabic
        assert command["integration_types"] == [0]  # installed in servers

    ask = commands["ask"]
    question, private = ask["options"]
    assert (question["name"], question["type"], question["required"]) == ("question", 3, True)
    assert question["description"] == texts.ASK_QUESTION_DESCRIPTION
    assert question["autocomplete"] is True
    assert private["name"] == "private" and private["type"] == 5 and not private.get("required")
    assert private["description"] == texts.ASK_PRIVATE_DESCRIPTION
    assert ask["default_member_permissions"] is None
    assert sorted(ask["contexts"]) == [0, 1]  # servers and the bot's DMs

    for name in ("reindex", "stats"):
        admin = commands[name]
        assert int(admin["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
        assert admin["contexts"] == [0] and admin["dm_permission"] is False  # never in DMs


async def test_guild_sync_registers_in_each_server_and_not_globally(harness):
    synced = await sync_tree(harness.bot.tree, (GUILD_ID,))

    assert [(guild, sorted(c.name for c in cmds)) for guild, cmds in synced] == [
        (GUILD_ID, ["ask", "help", "reindex", "sources", "stats"])
    ]
    assert set(harness.fake.commands) == {GUILD_ID}


async def test_logging_in_does_not_sync_commands(harness):
    assert harness.fake.commands == {}
    assert not [c for c in harness.fake.calls if "/commands" in c.path]


# --- /reindex ---------------------------------------------------------------------------------------


async def test_admin_reindex_defers_then_reports_counts(harness, corpus):
    (corpus / "olive.txt").write_text(NEW_ARTICLE, encoding="utf-8")

    deferred, report = await harness.slash("reindex", **ADMIN)

    assert deferred.type == 5 and deferred.ephemeral
    assert report.kind == "followup" and report.ephemeral
    assert "اكتملت إعادة الفهرسة" in report.content
    assert "1 مضافة، 0 محدّثة، 0 محذوفة، 2 دون تغيير" in report.content
    assert "3 مقالة" in report.content
    (answer,) = await harness.slash("ask", {"question": NEW_QUESTION})
    assert "مدينة جرش" in quote_text(answer.embeds[0]["description"])


async def test_non_admin_is_refused_and_nothing_happens(harness, corpus):
    (corpus / "olive.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    version = harness.app.service.version

    (refusal,) = await harness.slash("reindex", user_id=USER_ID, permissions=MEMBER)

    assert refusal.type == 4 and refusal.ephemeral and refusal.content == texts.NOT_ADMIN
    assert harness.app.service.version == version
    assert len(harness.app.service.sources()) == 2


async def test_admin_commands_are_refused_in_direct_messages(harness):
    (refusal,) = await harness.slash("reindex", user_id=ADMIN_ID, dm=True)

    assert refusal.ephemeral and refusal.content == texts.GUILD_ONLY


async def test_second_reindex_while_one_runs_is_told_so(harness):
    started, release = threading.Event(), threading.Event()

    def hold(_count: int) -> None:
        started.set()
        release.wait(10)

    running = asyncio.ensure_future(asyncio.to_thread(harness.app.service.reindex, progress=hold))
    try:
        await asyncio.to_thread(started.wait, 10)
        (busy,) = await harness.slash("reindex", **ADMIN)
    finally:
        release.set()
        await running

    assert busy.type == 4 and busy.ephemeral and busy.content == texts.REINDEX_RUNNING


async def test_missing_corpus_folder_is_reported_to_the_admin(harness, corpus):
    shutil.rmtree(corpus)

    _deferred, report = await harness.slash("reindex", **ADMIN)

    assert report.ephemeral and report.content == texts.CORPUS_MISSING
    assert len(harness.app.service.sources()) == 2  # the old index keeps serving


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        # With admin lists set, a server manager must also be listed (by id or role)...
        ({"user_id": USER_ID, "permissions": MANAGE_GUILD}, False),
        ({"user_id": ADMIN_ID, "permissions": discord.Permissions(administrator=True)}, True),
        ({"user_id": ADMIN_ID, "permissions": MANAGE_GUILD}, True),
        ({"user_id": USER_ID, "permissions": MANAGE_GUILD, "roles": (ADMIN_ROLE_ID,)}, True),
        ({"user_id": USER_ID, "permissions": MANAGE_GUILD, "roles": (ADMIN_ROLE_ID + 1,)}, False),
        # ... and a listed user still needs Manage Server in the server they ask from.
        ({"user_id": ADMIN_ID, "permissions": MEMBER}, False),
        ({"user_id": USER_ID, "permissions": MEMBER, "roles": (ADMIN_ROLE_ID,)}, False),
        ({"user_id": USER_ID, "permissions": MEMBER}, False),
    ],
)
async def test_who_may_run_admin_commands(tmp_path, monkeypatch, who, allowed):
    # A server can let anyone see the command in its integration settings; the bot checks anyway.
    app = make_app(tmp_path, discord_admin_user_ids=(ADMIN_ID,), discord_admin_role_ids=(ADMIN_ROLE_ID,))
    async with Harness.running(app, monkeypatch) as h:
        sent = await h.slash("stats", **who)

    if allowed:
        assert sent[0].ephemeral and sent[0].embeds[0]["title"] == texts.STATS_TITLE
    else:
        assert [s.content for s in sent] == [texts.NOT_ADMIN] and sent[0].ephemeral


# --- /stats -----------------------------------------------------------------------------------------


async def test_stats_show_corpus_questions_and_feedback(harness):
    (answer,) = await harness.slash("ask", {"question": "كم سيارة باعت Great Wall في العام الماضي؟"})
    await harness.press(answer, "sanad:vote:1:up")
    await harness.slash("ask", {"question": "ما عاصمة أستراليا؟"})

    (reply,) = await harness.slash("stats", **ADMIN)

    assert reply.ephemeral
    fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
    assert fields[texts.STATS_ARTICLES] == "2"
    assert fields[texts.STATS_QUESTIONS].startswith("2:")
    assert fields[texts.STATS_FEEDBACK] == "👍 1 · 👎 0"
    assert "ما عاصمة أستراليا؟" in fields[texts.STATS_UNANSWERED]


async def test_a_failing_command_apologizes_privately_and_logs(harness):
    with harness.app.store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE feedback")
    harness.expect_errors = True

    (apology,) = await harness.slash("stats", **ADMIN)

    assert apology.ephemeral and apology.content == texts.APOLOGY
    (record,) = harness.errors.records
    assert record.getMessage().startswith("/stats failed") and record.exc_info


async def test_without_admin_lists_any_server_manager_is_an_admin(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    async with Harness.running(app, monkeypatch) as h:
        manager = await h.slash("stats", user_id=USER_ID, permissions=MANAGE_GUILD)
        member = await h.slash("stats", user_id=USER_ID + 1, permissions=MEMBER)
    assert manager[0].embeds[0]["title"] == texts.STATS_TITLE
    assert [s.content for s in member] == [texts.NOT_ADMIN]
