"""Where handlers find the Sanad app, and who the sender of an update is."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from ..app import App

APP_KEY = "sanad"

Context = ContextTypes.DEFAULT_TYPE


def sanad(context: Context) -> App:
    """The Sanad app this Telegram application serves."""
    return context.application.bot_data[APP_KEY]


def user_key(update: Update) -> int:
    """The id rate limits and votes count by: the user, or the chat for anonymous senders."""
    message = update.message
    # Anonymous group admins all arrive as the same placeholder user; the chat they speak for
    # tells them apart.
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return 0


def is_admin(update: Update, context: Context) -> bool:
    """Whether the sender is listed in ``TELEGRAM_ADMIN_IDS``."""
    user = update.effective_user
    return user is not None and user.id in sanad(context).settings.telegram_admin_ids
