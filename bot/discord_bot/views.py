"""Buttons under answers and source lists.

Every button carries its whole state in its custom id (question log id, offset, vote, page)
and is decoded by a :class:`discord.ui.DynamicItem` template, so buttons sent before a
restart keep working and the bot keeps no per-message memory.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import discord

from ..answers import Answer, SourceInfo
from ..ratelimit import Admission
from . import render, replies, texts

if TYPE_CHECKING:
    from .client import SanadBot

ItemT = TypeVar("ItemT", bound=discord.ui.DynamicItem[Any])

PLATFORM = "discord"


def guarded(
    callback: Callable[[ItemT, discord.Interaction], Awaitable[None]],
) -> Callable[[ItemT, discord.Interaction], Awaitable[None]]:
    """Route a button's failure to the same log-and-apologize path as slash commands.

    discord.py only logs exceptions raised by dynamic items, which leaves the user with
    "this interaction failed".
    """

    @functools.wraps(callback)
    async def wrapper(self: ItemT, interaction: discord.Interaction) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:
            await replies.apologize(interaction, error)

    return wrapper


def _bot(interaction: discord.Interaction) -> SanadBot:
    return interaction.client  # type: ignore[return-value]


MORE_TEMPLATE = r"sanad:more:(?P<question>[0-9]+):(?P<offset>[0-9]+)"
VOTE_TEMPLATE = r"sanad:vote:(?P<question>[0-9]+):(?P<vote>up|down)"
SOURCES_TEMPLATE = r"sanad:sources:(?P<page>[0-9]+)"


class MoreSources(discord.ui.DynamicItem[discord.ui.Button], template=MORE_TEMPLATE):
    """The «مصادر أخرى» button: the next quotes of a logged question, from *offset* on."""

    def __init__(self, question_id: int, offset: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=texts.MORE_LABEL,
                emoji="📚",
                style=discord.ButtonStyle.primary,
                custom_id=f"sanad:more:{question_id}:{offset}",
            )
        )
        self.question_id = question_id
        self.offset = offset

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> MoreSources:
        """Rebuild the button from its custom id."""
        return cls(int(match["question"]), int(match["offset"]))

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        """Send the next quotes, as visible as the answer the button was under."""
        bot = _bot(interaction)
        admission = bot.service.admit(PLATFORM, interaction.user.id)
        if admission is not Admission.ALLOWED:
            await replies.rate_limited(interaction, admission)
            return
        ephemeral = bool(interaction.message and interaction.message.flags.ephemeral)
        answer = await replies.within_deadline(
            interaction,
            asyncio.to_thread(bot.service.more, self.question_id, self.offset),
            ephemeral=ephemeral,
            patience=bot.defer_after,
        )
        if answer is None:
            await replies.notice(interaction, texts.QUESTION_GONE)
        elif not answer.quotes:
            await replies.notice(interaction, texts.NO_MORE)
        else:
            pages = render.answer_pages(answer)
            await replies.send_pages(interaction, pages, ephemeral=ephemeral, view=answer_view(answer))


class Vote(discord.ui.DynamicItem[discord.ui.Button], template=VOTE_TEMPLATE):
    """👍 / 👎 on an answer; one vote per user per answer, a new vote replaces the old one."""

    def __init__(self, question_id: int, up: bool) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if up else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"sanad:vote:{question_id}:{'up' if up else 'down'}",
            )
        )
        self.question_id = question_id
        self.up = up

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> Vote:
        """Rebuild the button from its custom id."""
        return cls(int(match["question"]), match["vote"] == "up")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        """Store the vote and thank the voter, privately."""
        service = _bot(interaction).service
        stored = await asyncio.to_thread(
            service.feedback, self.question_id, PLATFORM, interaction.user.id, 1 if self.up else -1
        )
        if not stored:
            await replies.notice(interaction, texts.QUESTION_GONE)
            return
        await replies.notice(interaction, texts.VOTE_UP_THANKS if self.up else texts.VOTE_DOWN_THANKS)


def answer_view(answer: Answer) -> discord.ui.View | None:
    """The buttons under an answer: "مصادر أخرى" when there are more, and the two votes."""
    if not answer.quotes or answer.question_id is None:
        return None
    view = discord.ui.View(timeout=None)
    if answer.has_more:
        view.add_item(MoreSources(answer.question_id, answer.offset + len(answer.quotes)))
    view.add_item(Vote(answer.question_id, up=True))
    view.add_item(Vote(answer.question_id, up=False))
    return view


class SourcesPage(discord.ui.DynamicItem[discord.ui.Button], template=SOURCES_TEMPLATE):
    """Previous / next page of /sources; the list is read again, so it follows reindexes."""

    def __init__(self, page: int, label: str, *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"sanad:sources:{page}",
                disabled=disabled,
            )
        )
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> SourcesPage:
        """Rebuild the button from its custom id."""
        return cls(int(match["page"]), item.label or "")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        """Show the requested page in the same message."""
        embed, view = sources_message(_bot(interaction).service.sources(), self.page)
        await interaction.response.edit_message(embed=embed, view=view)


def sources_message(sources: Sequence[SourceInfo], page: int) -> tuple[discord.Embed, discord.ui.View | None]:
    """One page of /sources and its previous/next buttons (none when one page is enough)."""
    pages = render.page_count(len(sources))
    page = min(max(page, 0), pages - 1)
    embed = render.sources_embed(sources, page)
    if pages == 1:
        return embed, None
    view = discord.ui.View(timeout=None)
    # Custom ids must differ within a message: at the ends the disabled button points at the
    # current page and the other one at its neighbour, so the two never collide.
    view.add_item(SourcesPage(max(page - 1, 0), texts.PREVIOUS_LABEL, disabled=page == 0))
    view.add_item(SourcesPage(min(page + 1, pages - 1), texts.NEXT_LABEL, disabled=page == pages - 1))
    return embed, view


DYNAMIC_ITEMS = (MoreSources, Vote, SourcesPage)
