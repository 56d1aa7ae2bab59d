"""Admin commands: /reindex and /stats.

Discord hides them from members without Manage Server (``default_permissions``) and offers
them only in servers, but a server can loosen those defaults in its integration settings, so
the bot checks again before doing anything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..service import CorpusMissing, ReindexInProgress
from ..settings import Settings
from . import render, replies, texts

if TYPE_CHECKING:
    from .client import SanadBot

log = logging.getLogger(__name__)


class NotAllowed(app_commands.CheckFailure):
    """The user may not run an admin command here; the message says why, in Arabic."""


def is_admin(interaction: discord.Interaction, settings: Settings) -> bool:
    """Whether the user may run admin commands here.

    Only in a server, only with Manage Server (or Administrator) there, and, when
    ``DISCORD_ADMIN_USER_IDS`` or ``DISCORD_ADMIN_ROLE_IDS`` is set, only for a listed user or a
    holder of a listed role. The index is shared by every server the bot is in, so a bot in many
    servers should set the lists: otherwise any server's manager can reindex for all of them.
    """
    if interaction.guild_id is None:
        return False
    permissions = interaction.permissions
    if not (permissions.manage_guild or permissions.administrator):
        return False
    if not settings.discord_admin_user_ids and not settings.discord_admin_role_ids:
        return True
    if interaction.user.id in settings.discord_admin_user_ids:
        return True
    # The role ids come with the interaction; Member.roles would need the server's roles cached.
    role_ids = getattr(interaction.user, "_roles", ())
    return any(role_id in role_ids for role_id in settings.discord_admin_role_ids)


def _admin_only(command: app_commands.Command) -> app_commands.Command:
    command = app_commands.guild_only()(command)
    command = app_commands.allowed_installs(guilds=True, users=False)(command)
    return app_commands.default_permissions(manage_guild=True)(command)


class Admin(commands.Cog):
    """Reindexing and statistics, for the bot's admins only."""

    def __init__(self, bot: SanadBot) -> None:
        self.bot = bot
        self.service = bot.service

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Refuse (through the tree's error handler) before any admin command runs."""
        if interaction.guild_id is None:
            raise NotAllowed(texts.GUILD_ONLY)
        if not is_admin(interaction, self.bot.settings):
            log.info(
                "refused %s to user %s in guild %s",
                replies.command_name(interaction),
                interaction.user.id,
                interaction.guild_id,
            )
            raise NotAllowed(texts.NOT_ADMIN)
        return True

    @_admin_only
    @app_commands.command(name="reindex", description=texts.REINDEX_DESCRIPTION)
    async def reindex(self, interaction: discord.Interaction) -> None:
        """Sync the corpus folder and swap in the new index, off the event loop."""
        if self.service.reindexing:
            await replies.notice(interaction, texts.REINDEX_RUNNING)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        log.info("reindex requested by user %s in guild %s", interaction.user.id, interaction.guild_id)
        try:
            report = await asyncio.to_thread(self.service.reindex)
        except ReindexInProgress:  # one started between the check above and here
            await replies.notice(interaction, texts.REINDEX_RUNNING)
            return
        except CorpusMissing:
            log.warning("reindex: corpus folder %s not found", self.bot.settings.corpus_dir)
            await replies.notice(interaction, texts.CORPUS_MISSING)
            return
        await replies.notice(interaction, render.reindex_text(report))

    @_admin_only
    @app_commands.command(name="stats", description=texts.STATS_DESCRIPTION)
    async def stats(self, interaction: discord.Interaction) -> None:
        """Corpus, questions and feedback counts."""
        stats = await asyncio.to_thread(self.service.stats)
        await replies.send(interaction, ephemeral=True, embed=render.stats_embed(stats))
