"""The Discord client: intents, the command tree and its error handler, REST address, sync."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
from discord import app_commands
from discord.ext import commands

from ..app import App
from ..service import AnswerService
from ..settings import Settings
from . import replies
from .admin import Admin, NotAllowed
from .commands import Questions
from .views import DYNAMIC_ITEMS

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"


def intents() -> discord.Intents:
    """Only ``guilds``: slash commands and buttons need no privileged intent, not even messages."""
    return discord.Intents(guilds=True)


def configure_rest(base_url: str | None) -> None:
    """Send REST calls to *base_url* (``DISCORD_API_BASE_URL``, e.g. a nirn-proxy), else to Discord.

    The gateway address still comes from ``GET /gateway/bot`` on that base.
    """
    discord.http.Route.BASE = (base_url or DISCORD_API).rstrip("/")


class SanadTree(app_commands.CommandTree):
    """The command tree; failures are logged and the user gets a short private apology."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Refusals get their Arabic reason; anything else is logged and apologized for."""
        if isinstance(error, NotAllowed):
            await replies.notice(interaction, str(error))
            return
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            # Not a bug in this process: Discord still offers commands from another version.
            log.warning("%s: run `sanad discord-sync` to register this version's commands", error)
            await replies.apologize(interaction)
            return
        await replies.apologize(interaction, getattr(error, "original", error))


class SanadBot(commands.AutoShardedBot):
    """Sanad on Discord.

    Sharded so that the gateway address is asked from the REST API (``GET /gateway/bot``),
    which follows ``DISCORD_API_BASE_URL``, and so a growing bot shards by itself.
    """

    def __init__(self, app: App, *, poll_index: bool = True) -> None:
        # Sanad never joins voice: the "voice will NOT be supported" warnings would only alarm.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,  # required by ext.commands; no prefix commands exist
            help_command=None,
            intents=intents(),
            tree_cls=SanadTree,
            allowed_mentions=discord.AllowedMentions.none(),  # article text must never ping anyone
            activity=discord.Activity(type=discord.ActivityType.listening, name="/ask"),
        )
        self.app = app
        self.defer_after = 2.0  # seconds before a slow answer shows "thinking…" (Discord waits 3)
        self._poll_index = poll_index
        self._poller: asyncio.Task[None] | None = None

    @property
    def service(self) -> AnswerService:
        return self.app.service

    @property
    def settings(self) -> Settings:
        return self.app.settings

    async def setup_hook(self) -> None:
        """Register the commands and the restart-proof buttons; commands are synced on demand only."""
        await self.add_cog(Questions(self))
        await self.add_cog(Admin(self))
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        if self._poll_index and self.settings.index_poll_seconds > 0:
            self._poller = asyncio.create_task(self._follow_index(), name="sanad-index-poller")

    async def _follow_index(self) -> None:
        # `sanad reindex` or `sanad ingest` in another process bumps the index version in the
        # database; pick the new index up without a restart.
        while True:
            await asyncio.sleep(self.settings.index_poll_seconds)
            try:
                await asyncio.to_thread(self.service.refresh_if_stale)
            except Exception:
                log.warning("could not check the index version", exc_info=True)

    async def on_ready(self) -> None:
        """Say who we are and which commands this process serves."""
        names = ", ".join(f"/{c.name}" for c in self.tree.get_commands())
        log.info("Discord: logged in as %s (application %s) serving %s", self.user, self.application_id, names)

    async def close(self) -> None:
        """Stop polling the index, then disconnect."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await super().close()


async def sync_tree(
    tree: app_commands.CommandTree, guild_ids: tuple[int, ...]
) -> list[tuple[int | None, list[app_commands.AppCommand]]]:
    """Register the commands with Discord: in each of *guild_ids* (instant), or globally.

    Returns ``(guild id or None, commands)`` for each scope synced.
    """
    if not guild_ids:
        return [(None, await tree.sync())]
    synced = []
    for guild_id in guild_ids:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        synced.append((guild_id, await tree.sync(guild=guild)))
    return synced
