"""The commands everyone can use: /ask (with autocomplete), /sources and /help."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..answers import AnswerStatus
from ..ratelimit import Admission
from . import render, replies, texts
from .views import PLATFORM, answer_view, sources_message

if TYPE_CHECKING:
    from .client import SanadBot


def _public(command: app_commands.Command) -> app_commands.Command:
    """Usable in servers and in the bot's DMs, for a bot installed in servers."""
    command = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)(command)
    return app_commands.allowed_installs(guilds=True, users=False)(command)


class Questions(commands.Cog):
    """Asking questions and browsing the indexed articles."""

    def __init__(self, bot: SanadBot) -> None:
        self.bot = bot
        self.service = bot.service

    @_public
    @app_commands.command(name="ask", description=texts.ASK_DESCRIPTION)
    @app_commands.describe(question=texts.ASK_QUESTION_DESCRIPTION, private=texts.ASK_PRIVATE_DESCRIPTION)
    async def ask(self, interaction: discord.Interaction, question: str, private: bool = False) -> None:
        """Answer *question* with quoted sentences and their sources."""
        admission = self.service.admit(PLATFORM, interaction.user.id)
        if admission is not Admission.ALLOWED:
            await replies.rate_limited(interaction, admission)
            return
        answer = await replies.within_deadline(
            interaction,
            asyncio.to_thread(self.service.ask, question, platform=PLATFORM, user_id=interaction.user.id),
            ephemeral=private,
            patience=self.bot.defer_after,
        )
        # A question that cannot be asked concerns only the one who typed it; after a defer,
        # though, the visibility was fixed by the "thinking…" message.
        invalid = answer.status is AnswerStatus.INVALID and not interaction.response.is_done()
        ephemeral = private or invalid
        pages = render.answer_pages(answer)
        await replies.send_pages(interaction, pages, ephemeral=ephemeral, view=answer_view(answer))

    @ask.autocomplete("question")
    async def ask_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Earlier frequent questions starting with what is typed, then matching article titles."""
        frequent = await asyncio.to_thread(self.service.frequent_questions, current.strip(), render.CHOICES)
        titles = [source.title for source in self.service.sources()]
        return render.question_choices(current, frequent, titles)

    @_public
    @app_commands.command(name="sources", description=texts.SOURCES_DESCRIPTION)
    async def sources(self, interaction: discord.Interaction) -> None:
        """The indexed articles, ten per page, with previous/next buttons."""
        embed, view = sources_message(self.service.sources(), 0)
        await replies.send(interaction, ephemeral=True, embed=embed, view=view)

    @_public
    @app_commands.command(name="help", description=texts.HELP_DESCRIPTION)
    async def help(self, interaction: discord.Interaction) -> None:
        """How to use Sanad, in Arabic."""
        embed = render.help_embed(admin_hint=interaction.guild_id is not None)
        await replies.send(interaction, ephemeral=True, embed=embed)
