"""Process entry points: ``sanad run discord`` and ``sanad discord-sync``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator

import discord

from ..app import App
from ..redaction import Redactor
from .client import SanadBot, configure_rest, sync_tree

log = logging.getLogger(__name__)

@contextlib.contextmanager
def redacted_logs(*secrets: str) -> Iterator[None]:
    """Redact *secrets* from everything the root logger's handlers write, while in the block."""
    handlers = list(logging.getLogger().handlers)
    redact = Redactor(secrets)
    for handler in handlers:
        handler.addFilter(redact)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)


async def _serve(bot: SanadBot, token: str) -> None:
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []  # keeps the close task referenced until it is done

    def stop(sig: signal.Signals) -> None:
        log.info("%s received: disconnecting from Discord", sig.name)
        closing.append(loop.create_task(bot.close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        # Closing cleanly lets Discord mark the bot offline at once instead of after a timeout.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)
    async with bot:
        await bot.start(token)


def run_discord(app: App) -> int:
    """Run the Discord bot until it is stopped (SIGINT/SIGTERM). Commands are not synced here."""
    token = app.settings.discord_bot_token or ""
    configure_rest(app.settings.discord_api_base_url)
    with redacted_logs(token):
        bot = SanadBot(app)
        try:
            asyncio.run(_serve(bot, token))
        except discord.LoginFailure:
            log.error("Discord rejected DISCORD_BOT_TOKEN: check the token in the developer portal")
            return 1
        except discord.PrivilegedIntentsRequired:  # cannot happen with our intents; said clearly if it does
            log.error("Discord refused the requested intents")
            return 1
        log.info("Discord bot stopped")
        return 0


async def _sync(app: App) -> int:
    settings = app.settings
    bot = SanadBot(app, poll_index=False)
    failed = 0
    async with bot:
        await bot.login(settings.discord_bot_token or "")
        scopes = settings.discord_guild_ids or (None,)
        for scope in scopes:
            try:
                ((guild_id, commands),) = await sync_tree(bot.tree, (scope,) if scope else ())
            except discord.Forbidden:
                failed += 1
                print(
                    f"could not sync to guild {scope}: missing access "
                    "(is the bot in that server, invited with the applications.commands scope?)",
                    file=sys.stderr,
                )
                continue
            where = f"guild {guild_id}" if guild_id else "all servers (global)"
            names = ", ".join(f"/{c.name}" for c in commands)
            print(f"synced {len(commands)} commands to {where}: {names}")
    return 1 if failed else 0


def sync_commands(app: App) -> int:
    """Register the slash commands with Discord once: in ``DISCORD_GUILD_IDS``, else globally."""
    token = app.settings.discord_bot_token or ""
    configure_rest(app.settings.discord_api_base_url)
    with redacted_logs(token):
        try:
            return asyncio.run(_sync(app))
        except discord.LoginFailure:
            print("sanad: Discord rejected DISCORD_BOT_TOKEN: check the token in the developer portal", file=sys.stderr)
            return 1
