"""What users see: questions in private and group chats, /start, /help, buttons, non-text messages.

Handlers only translate: an update becomes a service call, an answer becomes messages.
Service calls run in a worker thread because they touch the database, which can be busy
(for example while a reindex writes); the event loop keeps serving other chats meanwhile.
"""

from __future__ import annotations

import asyncio

from telegram import Bot, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest

from ..ratelimit import Admission
from ..service import AnswerService
from . import keyboards, render, texts
from .appdata import Context, is_admin, sanad, user_key
from .replies import NO_PREVIEW, reply, reply_all


async def start(update: Update, context: Context) -> None:
    """/start: greet in Arabic, say how many articles are known, offer two example questions."""
    message = update.effective_message
    service = sanad(context).service
    private = message.chat.type == ChatType.PRIVATE
    examples = await asyncio.to_thread(_examples, service)
    text = render.greeting(len(service.index.articles), examples, private=private)
    # In groups a reply keyboard would be shown to everyone and its taps would not reach a bot
    # in privacy mode, so groups get the examples as /ask lines instead.
    await reply(message, text, keyboards.examples_keyboard(examples) if private else None)


def _examples(service: AnswerService, wanted: int = 2) -> list[str]:
    # Earlier users' questions are not offered: they could expose what someone else asked.
    return [q for q in texts.FALLBACK_EXAMPLES if service.ask(q, log_question=False).answered][:wanted]


async def help_command(update: Update, context: Context) -> None:
    """/help: the commands (and the admin ones for admins)."""
    await reply(update.effective_message, render.help_text(context.bot.username, admin=is_admin(update, context)))


async def ask_command(update: Update, context: Context) -> None:
    """/ask question (also /ask@BotName): the way to ask in groups, and it works in private too."""
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=1)
    question = _without_own_mentions(message, context.bot, parts[1] if len(parts) > 1 else "")
    if not question:
        await reply(message, render.ui(texts.ASK_EMPTY.format(example=texts.FALLBACK_EXAMPLES[1])))
        return
    await answer_question(update, context, question)


async def private_text(update: Update, context: Context) -> None:
    """Any text in a private chat is a question."""
    message = update.effective_message
    await answer_question(update, context, _without_own_mentions(message, context.bot, message.text or ""))


async def group_text(update: Update, context: Context) -> None:
    """In groups, answer only a message that mentions the bot or replies to one of its messages."""
    message = update.effective_message
    if not (_mentions_bot(message, context.bot) or _replies_to_bot(message, context.bot)):
        return
    question = _without_own_mentions(message, context.bot, message.text or "")
    if not question:
        mention = f"@{context.bot.username}"
        await reply(message, render.ui(texts.MENTION_EMPTY.format(mention=mention, example=texts.FALLBACK_EXAMPLES[1])))
        return
    await answer_question(update, context, question)


async def answer_question(update: Update, context: Context, question: str) -> None:
    """Ask the service and reply with the quotes (or why there are none), buttons underneath."""
    message = update.effective_message
    if not await _admitted(update, context):
        return
    service = sanad(context).service
    answer = await asyncio.to_thread(service.ask, question, platform=texts.PLATFORM, user_id=user_key(update))
    await reply_all(message, render.answer_messages(answer), keyboards.answer_keyboard(answer))


async def _admitted(update: Update, context: Context) -> bool:
    admission = sanad(context).service.admit(texts.PLATFORM, user_key(update))
    if admission is Admission.ALLOWED:
        return True
    if admission is Admission.LIMITED_NOTIFY:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.RATE_LIMITED, show_alert=True)
        else:
            await reply(update.effective_message, render.ui(texts.RATE_LIMITED))
    elif update.callback_query is not None:
        await update.callback_query.answer()  # a callback must always be answered, even in silence
    return False


async def button(update: Update, context: Context) -> None:
    """"مصادر أخرى" edits the answer with the next quotes; 👍/👎 stores one vote per user."""
    query = update.callback_query
    action = keyboards.decode(query.data)
    service = sanad(context).service
    if isinstance(action, keyboards.Vote):
        stored = await asyncio.to_thread(
            service.feedback, action.question_id, texts.PLATFORM, user_key(update), action.vote
        )
        await query.answer(texts.VOTE_THANKS if stored else texts.STALE_BUTTON)
        return
    if action is None:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return
    if not await _admitted(update, context):
        return
    answer = await asyncio.to_thread(service.more, action.question_id, action.offset)
    if answer is None:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return
    if not answer.answered or not answer.quotes:
        await query.answer(texts.NO_MORE)
        if isinstance(query.message, Message):
            await query.edit_message_reply_markup(InlineKeyboardMarkup([keyboards.votes_row(action.question_id)]))
        return
    await query.answer()
    messages = render.answer_messages(answer)
    markup = keyboards.answer_keyboard(answer)
    shown = query.message
    if isinstance(shown, Message):
        try:
            await shown.edit_text(
                messages[0],
                parse_mode=ParseMode.HTML,
                reply_markup=markup if len(messages) == 1 else None,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as exc:
            # Pressed twice: the message already shows these quotes.
            if "not modified" not in exc.message.lower():
                raise
        if len(messages) > 1:
            await reply_all(shown, messages[1:], markup)
        return
    # Too old to edit (Telegram no longer gives its content): send the quotes as a new message.
    for i, text in enumerate(messages):
        await context.bot.send_message(
            query.message.chat.id if query.message else update.effective_chat.id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup if i == len(messages) - 1 else None,
            link_preview_options=NO_PREVIEW,
        )


async def not_text(update: Update, _context: Context) -> None:
    """Stickers, photos, voice and the like in a private chat: a short hint (groups stay silent)."""
    await reply(update.effective_message, render.ui(texts.NOT_TEXT))


async def unknown_command(update: Update, _context: Context) -> None:
    """A command this bot does not have, in a private chat."""
    await reply(update.effective_message, render.ui(texts.UNKNOWN_COMMAND))


def _own_mentions(message: Message, bot: Bot) -> list[str]:
    username = (bot.username or "").lower()
    found = []
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if entity.type == MessageEntity.MENTION and value[1:].lower() == username:
            found.append(value)
        elif entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            found.append(value)
    return found


def _mentions_bot(message: Message, bot: Bot) -> bool:
    return bool(_own_mentions(message, bot))


def _replies_to_bot(message: Message, bot: Bot) -> bool:
    replied = message.reply_to_message
    # In forum topics every message "replies" to the topic's opening service message.
    return bool(
        replied is not None
        and replied.forum_topic_created is None
        and replied.from_user is not None
        and replied.from_user.id == bot.id
    )


def _without_own_mentions(message: Message, bot: Bot, text: str) -> str:
    for mention in _own_mentions(message, bot):
        text = text.replace(mention, " ", 1)
    return text.strip()
