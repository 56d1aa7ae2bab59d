"""``sanad run telegram`` as its own process, against a Bot API server on 127.0.0.1.

These exercise what the offline tests cannot: PTB's real HTTP transport and form encoding, the
long-polling loop (offset and timeout), webhook mode, start-up, and a clean stop on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bot.bidi import LRI, PDI

from .telegram_fakes import (
    BOT,
    GROUP,
    SEEDS,
    TOKEN,
    BotApiServer,
    FakeBotApi,
    message,
    text_update,
    update,
    visible_text,
)

ROOT = SEEDS.parent


def shown(call) -> str:
    return visible_text(call.params["text"]).replace(LRI, "").replace(PDI, "")

GREAT_WALL = "كم سيارة باعت Great Wall في العام الماضي؟"


def bot_env(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=api_url,
        TELEGRAM_ADMIN_IDS="42",
        DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
        CORPUS_DIR=str(SEEDS),
        PYTHONIOENCODING="utf-8",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@asynccontextmanager
async def sanad_process(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """``sanad run telegram`` running; stopped with SIGTERM on exit. Yields it and its log file."""
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", str(tmp_path / "no.env"), "run", "telegram",
            cwd=ROOT, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            yield process, log
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    process.kill()
                    await process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_sanad_run_telegram_answers_through_real_long_polling(tmp_path: Path):
    api = FakeBotApi()
    async with BotApiServer(api) as server:
        # At DEBUG, PTB logs the URLs it uses; the token must still never show.
        env = bot_env(tmp_path, server.url, LOG_LEVEL="debug")
        async with sanad_process(tmp_path, env) as (bot, log):
            menu = await api.wait_for("setMyCommands", 2, timeout=30)
            assert [c["command"] for c in menu[0].params["commands"]] == ["ask", "start", "help"]

            private = text_update(GREAT_WALL)
            api.push_update(private)
            [answer] = await api.wait_for("sendMessage", 1)
            assert answer.params["parse_mode"] == "HTML"
            assert answer.params["reply_parameters"]["message_id"] == private["message"]["message_id"]
            assert "1.11 مليون سيارة" in shown(answer)
            assert answer.params["reply_markup"]["inline_keyboard"][1][0]["text"] == "👍"

            group = update(message(f"/ask@{BOT['username']} {GREAT_WALL}", chat=GROUP))
            api.push_update(group)
            _, in_group = await api.wait_for("sendMessage", 2)
            assert in_group.params["chat_id"] == GROUP["id"]
            assert "1.11 مليون سيارة" in shown(in_group)

            # Long polling as Telegram does it: each update confirmed by the next offset, and a
            # server-side timeout so an idle bot is not hammering the API.
            await api.wait_for("getUpdates", where=lambda c: c.params.get("offset") == group["update_id"] + 1)
            polls = [c.params for c in api.calls if c.method == "getUpdates"]
            assert all(p["timeout"] == 10 for p in polls)
            assert api.updates == []  # both confirmed

            bot.terminate()
            assert await asyncio.wait_for(bot.wait(), 15) == 0  # a clean stop on SIGTERM
    output = log.read_text(encoding="utf-8")
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "Traceback" not in output


async def test_sanad_run_telegram_serves_a_webhook_when_one_is_configured(tmp_path: Path):
    api = FakeBotApi()
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/sanad"
    secret = "webhook-secret-for-tests"
    env_extra = {
        "TELEGRAM_WEBHOOK_URL": hook,
        "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
        "TELEGRAM_WEBHOOK_PORT": str(port),
        "TELEGRAM_WEBHOOK_SECRET": secret,
    }
    async with BotApiServer(api) as server, sanad_process(tmp_path, bot_env(tmp_path, server.url, **env_extra)) as (bot, log):
        [registered] = await api.wait_for("setWebhook", timeout=30)
        assert registered.params["url"] == hook and registered.params["secret_token"] == secret
        assert TOKEN not in registered.params["url"]

        private = text_update(GREAT_WALL)
        async with aiohttp.ClientSession() as http:
            # setWebhook may reach Telegram a moment before the listener accepts connections.
            async with asyncio.timeout(30):
                while True:
                    try:
                        async with http.post(hook, json=private) as forged:
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
            assert forged.status == 403  # no secret header: not from Telegram
            async with http.post(hook, json=private, headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as ok:
                assert ok.status == 200
        [answer] = await api.wait_for("sendMessage", timeout=30)
        assert "1.11 مليون سيارة" in shown(answer)
        assert answer.params["reply_parameters"]["message_id"] == private["message"]["message_id"]
        assert not [c for c in api.calls if c.method == "getUpdates"]

        bot.terminate()
        assert await asyncio.wait_for(bot.wait(), 15) == 0
    output = log.read_text(encoding="utf-8")
    assert TOKEN not in output and secret not in output


async def test_a_rejected_token_is_one_clear_line_without_the_token(tmp_path: Path):
    api = FakeBotApi(reject_token=True)
    async with BotApiServer(api) as server, sanad_process(tmp_path, bot_env(tmp_path, server.url)) as (bot, log):
        assert await asyncio.wait_for(bot.wait(), 30) == 2
    output = log.read_text(encoding="utf-8")
    assert "sanad: Telegram rejected TELEGRAM_BOT_TOKEN" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "Traceback" not in output
