"""Sending rendered HTML back to a chat: always HTML parse mode, always a reply, no link previews."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode

# Title links would otherwise unfold a large preview card under every answer.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup


async def reply(message: Message, html_text: str, markup: Markup | None = None) -> Message:
    """Send *html_text* as a reply to *message* (still sent if that message was deleted)."""
    return await message.reply_text(
        html_text,
        parse_mode=ParseMode.HTML,
        reply_parameters=ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True),
        reply_markup=markup,
        link_preview_options=NO_PREVIEW,
    )


async def reply_all(message: Message, html_texts: Sequence[str], markup: Markup | None = None) -> list[Message]:
    """Send several messages replying to *message*; the buttons go under the last one."""
    sent = []
    for i, text in enumerate(html_texts):
        sent.append(await reply(message, text, markup if i == len(html_texts) - 1 else None))
    return sent
