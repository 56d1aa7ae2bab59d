"""The python-telegram-bot ``Application`` for Sanad: handlers, command menu, errors, and running it."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import Forbidden, InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from ..app import App
from . import admin, handlers, keyboards, render, texts
from .appdata import APP_KEY, Context
from .logs import Redactor, install
from .replies import reply

log = logging.getLogger(__name__)

# Edited messages are not answered a second time: handlers only see new messages.
NEW = filters.UpdateType.MESSAGE
PRIVATE = filters.ChatType.PRIVATE
GROUPS = filters.ChatType.GROUPS
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

_REDACTOR_KEY = "sanad_redactor"
_REFRESH_KEY = "sanad_refresh_task"


def build_application(
    app: App,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> Application:
    """The Telegram application serving *app*, with every handler registered.

    *request* and *get_updates_request* replace PTB's HTTP transport (tests record with them).
    ``TELEGRAM_API_BASE_URL`` points the bot at a self-hosted Bot API server.
    """
    settings = app.settings
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        # Queues outgoing calls within Telegram's flood limits and retries after RetryAfter.
        .rate_limiter(AIORateLimiter(max_retries=3))
        # A few updates at once, so one slow update (an admin's large file) does not hold up
        # every other chat; each answer is a reply to its own question, so order is kept visible.
        .concurrent_updates(8)
        .post_init(_post_init)
        .post_stop(_post_stop)
    )
    if settings.telegram_api_base_url:
        base = settings.telegram_api_base_url.rstrip("/").removesuffix("/bot")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    application.bot_data[APP_KEY] = app
    application.bot_data[_REDACTOR_KEY] = _redactor(app)
    register_handlers(application)
    return application


def _redactor(app: App) -> Redactor:
    return Redactor([app.settings.telegram_bot_token, app.settings.telegram_webhook_secret])


def register_handlers(application: Application) -> None:
    """Route updates: commands, buttons, questions in private and groups, files, everything else."""
    add = application.add_handler
    add(CommandHandler("start", handlers.start, filters=NEW))
    add(CommandHandler("help", handlers.help_command, filters=NEW))
    add(CommandHandler("ask", handlers.ask_command, filters=NEW))
    add(CommandHandler("reindex", admin.reindex_command, filters=NEW))
    add(CommandHandler("stats", admin.stats_command, filters=NEW))
    add(CallbackQueryHandler(handlers.button, pattern=keyboards.CALLBACK_PATTERN))
    add(MessageHandler(NEW & PRIVATE & filters.TEXT & ~filters.COMMAND, handlers.private_text))
    add(MessageHandler(NEW & GROUPS & filters.TEXT & ~filters.COMMAND, handlers.group_text))
    add(MessageHandler(NEW & PRIVATE & filters.COMMAND, handlers.unknown_command))
    add(MessageHandler(NEW & PRIVATE & filters.Document.ALL, admin.document))
    add(MessageHandler(NEW & PRIVATE & ~filters.StatusUpdate.ALL, handlers.not_text))
    application.add_error_handler(on_error)


async def on_error(update: object, context: Context) -> None:
    """Log a handler's error (without the token) and apologise to the user; the bot keeps running."""
    redactor: Redactor = context.application.bot_data[_REDACTOR_KEY]
    where = f"update {update.update_id}" if isinstance(update, Update) else "a background task"
    log.error("handling %s failed:\n%s", where, redactor.describe(context.error))
    if not isinstance(update, Update) or isinstance(context.error, Forbidden):
        return  # nobody to tell, or the bot may not write to this chat any more
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.APOLOGY, show_alert=True)
        elif update.effective_message is not None:
            await reply(update.effective_message, render.ui(texts.APOLOGY))
    except TelegramError as exc:
        log.warning("could not apologise for %s: %s", where, redactor.redact(str(exc)))


async def _post_init(application: Application) -> None:
    app: App = application.bot_data[APP_KEY]
    await set_commands(application)
    if app.settings.index_poll_seconds > 0:
        application.bot_data[_REFRESH_KEY] = asyncio.create_task(
            _keep_index_fresh(app, app.settings.index_poll_seconds), name="sanad-index-refresh"
        )
    log.info("Telegram bot @%s serving %d articles", application.bot.username, len(app.service.index.articles))


async def _post_stop(application: Application) -> None:
    task = application.bot_data.pop(_REFRESH_KEY, None)
    if task is not None:
        task.cancel()


async def set_commands(application: Application) -> None:
    """Register the command menu (Arabic descriptions); admins also see /reindex and /stats."""
    app: App = application.bot_data[APP_KEY]
    everyone = [BotCommand(name, description) for name, description in texts.COMMANDS]
    admins = everyone + [BotCommand(name, description) for name, description in texts.ADMIN_COMMANDS]
    try:
        await application.bot.set_my_commands(everyone)
    except TelegramError as exc:  # a missing menu is no reason not to answer questions
        log.warning("could not register the command menu: %s", exc)
    for admin_id in app.settings.telegram_admin_ids:
        try:
            await application.bot.set_my_commands(admins, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # e.g. this admin never opened a chat with the bot
            log.warning("could not show the admin commands to user %s: %s", admin_id, exc)


async def _keep_index_fresh(app: App, seconds: float) -> None:
    # Another process (`sanad reindex`, a second bot) may rebuild the shared index.
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(app.service.refresh_if_stale)
        except Exception:
            log.warning("could not check whether the index changed", exc_info=True)


def run_telegram(app: App) -> int:
    """Run the bot until stopped (Ctrl+C or SIGTERM): long polling, or a webhook when configured.

    Returns the process exit code; start-up problems are one line on standard error.
    """
    settings = app.settings
    redactor = _redactor(app)
    install(redactor)  # before the Bot exists: at DEBUG it logs its URLs, token included
    application = build_application(app)
    try:
        if settings.telegram_webhook_url:
            # Never the token in the path: proxies and access logs record paths.
            path = urlsplit(settings.telegram_webhook_url).path.strip("/")
            application.run_webhook(
                listen=settings.telegram_webhook_listen,
                port=settings.telegram_webhook_port,
                url_path=path,
                webhook_url=settings.telegram_webhook_url,
                # Without a configured secret, a fresh one per run still keeps forged updates out.
                secret_token=settings.telegram_webhook_secret or secrets.token_urlsafe(32),
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        print("sanad: Telegram rejected TELEGRAM_BOT_TOKEN: check the token from @BotFather", file=sys.stderr)
        return 2
    except TelegramError as exc:
        where = settings.telegram_api_base_url or "api.telegram.org"
        print(f"sanad: cannot talk to the Telegram Bot API at {where}: {redactor.redact(str(exc))}", file=sys.stderr)
        return 1
    return 0

