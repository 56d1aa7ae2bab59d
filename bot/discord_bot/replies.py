"""Answering an interaction: first reply or follow-up, notices, deferral and the apology."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import discord

from ..ratelimit import Admission
from . import texts
from .render import Page

log = logging.getLogger(__name__)
T = TypeVar("T")


async def send(interaction: discord.Interaction, *, ephemeral: bool, **message: Any) -> None:
    """Send one message: as the interaction's reply if none was sent yet, else as a follow-up."""
    message = {k: v for k, v in message.items() if v is not None}
    if not interaction.response.is_done():
        await interaction.response.send_message(ephemeral=ephemeral, **message)
    else:
        await interaction.followup.send(ephemeral=ephemeral, **message)


async def send_pages(
    interaction: discord.Interaction,
    pages: Sequence[Page],
    *,
    ephemeral: bool,
    view: discord.ui.View | None = None,
) -> None:
    """Send every page in order; the buttons go under the last one."""
    for number, page in enumerate(pages, 1):
        await send(
            interaction,
            ephemeral=ephemeral,
            content=page.content,
            embeds=page.embeds or None,
            view=view if number == len(pages) else None,
        )


async def notice(interaction: discord.Interaction, text: str) -> None:
    """A short message only the user who acted can see."""
    await send(interaction, ephemeral=True, content=text)


async def rate_limited(interaction: discord.Interaction, admission: Admission) -> None:
    """Tell a user who is over the limit, politely the first time and tersely after that.

    Discord needs an answer to every interaction, so even the "silent" case replies.
    """
    await notice(interaction, texts.RATE_LIMITED if admission is Admission.LIMITED_NOTIFY else texts.RATE_LIMITED_AGAIN)


async def within_deadline(
    interaction: discord.Interaction,
    work: Awaitable[T],
    *,
    ephemeral: bool,
    patience: float,
) -> T:
    """Await *work*; if it takes longer than *patience* seconds, defer first.

    Discord drops an interaction that gets no reply within three seconds, while a
    quick answer should not flash a "thinking…" message first.
    """
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=patience)
    if not done and not interaction.response.is_done():
        try:
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        except BaseException:
            task.cancel()
            raise
    return await task


def command_name(interaction: discord.Interaction) -> str:
    """What the user invoked, for logs: "/ask" or the button's custom id."""
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data = interaction.data or {}
    return str(data.get("custom_id") or data.get("name") or interaction.type.name)


async def apologize(interaction: discord.Interaction, error: BaseException | None = None) -> None:
    """Tell the user, briefly and only them, that it failed; with *error*, log it with its traceback."""
    if error is not None:
        log.error(
            "%s failed (interaction %s, guild %s)",
            command_name(interaction),
            interaction.id,
            interaction.guild_id,
            exc_info=(type(error), error, error.__traceback__),
        )
    try:
        await notice(interaction, texts.APOLOGY)
    except discord.HTTPException:  # the interaction may have expired; the log says what happened
        log.warning("could not send the apology for interaction %s", interaction.id)
