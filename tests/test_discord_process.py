"""`sanad run discord` and `sanad discord-sync` as real processes against a fake Discord on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import discord
import pytest

from .discord_fakes import GUILD_ID, REPO, SEEDS, TOKEN, FakeDiscord, quote_text, slash

UNKNOWN_GUILD = 1000000000000000999


def environment(tmp_path: Path, fake: FakeDiscord, **extra: str) -> dict[str, str]:
    # The developer's own Sanad settings must not leak into the process under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "TELEGRAM_", "DATABASE_", "CORPUS_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        DISCORD_BOT_TOKEN=TOKEN,
        DISCORD_API_BASE_URL=fake.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path}/sanad.db",
        CORPUS_DIR=str(SEEDS),
        LOG_LEVEL="DEBUG",  # the most talkative the logs get: the token must still not appear
    )
    env.update(extra)
    return env


async def sanad(tmp_path: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    # Output goes to files: a pipe nobody reads would block a chatty process.
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=tmp_path,  # no .env from the repository
        env=env,
        stdout=(tmp_path / "stdout.txt").open("wb"),
        stderr=(tmp_path / "stderr.txt").open("wb"),
    )  # fmt: skip


def output(tmp_path: Path) -> tuple[str, str]:
    return (tmp_path / "stdout.txt").read_text("utf-8"), (tmp_path / "stderr.txt").read_text("utf-8")


@pytest.fixture
async def fake():
    server = await FakeDiscord(heartbeat_interval_ms=300).start()
    yield server
    await server.close()


async def test_run_discord_answers_a_question_over_the_gateway(tmp_path, fake):
    process = await sanad(tmp_path, environment(tmp_path, fake), "run", "discord")
    try:
        identify = await fake.wait_identified(timeout=30)
        payload = slash("ask", {"question": "كم سيارة باعت Great Wall في العام الماضي؟"})
        await fake.dispatch("INTERACTION_CREATE", payload)
        (reply,) = await fake.wait_sent(payload["token"], timeout=20)
        async with asyncio.timeout(10):  # heartbeats are acknowledged, so the bot stays on one session
            while fake.heartbeats < 2:
                await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    stdout, stderr = output(tmp_path)

    assert "1.11 مليون سيارة" in quote_text(reply.embeds[0]["description"])
    assert reply.custom_ids[-2:] == ["sanad:vote:1:up", "sanad:vote:1:down"]
    intents = discord.Intents._from_value(identify["intents"])
    assert not (intents.members or intents.presences or intents.message_content)  # no privileged intent
    assert len(fake.identify) == 1
    assert fake.commands == {}  # starting does not re-register the commands
    assert code == 0, stderr
    assert "discord.http" in stderr  # the debug log really was on
    assert TOKEN not in stdout + stderr


async def test_discord_sync_registers_in_the_configured_servers(tmp_path, fake):
    env = environment(tmp_path, fake, DISCORD_GUILD_IDS=f"{GUILD_ID},{UNKNOWN_GUILD}")

    process = await sanad(tmp_path, env, "discord-sync")
    code = await asyncio.wait_for(process.wait(), 30)
    stdout, stderr = output(tmp_path)

    assert f"synced 5 commands to guild {GUILD_ID}: /ask, /sources, /help, /reindex, /stats" in stdout
    assert f"could not sync to guild {UNKNOWN_GUILD}" in stderr
    assert code == 1  # one server failed, and the exit code says so
    assert set(fake.commands) == {GUILD_ID}
    assert TOKEN not in stdout + stderr


async def test_a_rejected_token_is_one_clear_line(tmp_path, fake):
    env = environment(tmp_path, fake, DISCORD_BOT_TOKEN="not-the-right-token", LOG_LEVEL="INFO")

    process = await sanad(tmp_path, env, "run", "discord")
    code = await asyncio.wait_for(process.wait(), 30)
    _stdout, stderr = output(tmp_path)

    assert code == 1
    assert "Discord rejected DISCORD_BOT_TOKEN" in stderr
    assert "Traceback" not in stderr and "not-the-right-token" not in stderr


async def test_a_missing_token_is_one_clear_line(tmp_path, fake):
    env = environment(tmp_path, fake)
    del env["DISCORD_BOT_TOKEN"]

    process = await sanad(tmp_path, env, "run", "discord")
    code = await asyncio.wait_for(process.wait(), 30)
    _stdout, stderr = output(tmp_path)

    assert code == 2
    assert stderr.strip().splitlines() == [
        "sanad: DISCORD_BOT_TOKEN is not set: put the bot token from the Discord developer portal in .env"
    ]
