"""Admin commands (``TELEGRAM_ADMIN_IDS``): /reindex, /stats and adding articles by document.

Anyone else gets a polite refusal and nothing happens. A reindex runs in a worker thread in
the background, so the bot keeps answering questions (from the old index) while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from pathlib import Path

from telegram import Message, Update
from telegram.constants import ChatType

from retrieval.documents import SUPPORTED_SUFFIXES, BadFile, load_file

from ..service import AnswerService, CorpusMissing, ReindexInProgress
from . import render, texts
from .appdata import Context, is_admin, sanad
from .replies import reply

log = logging.getLogger(__name__)

UPLOADS_FOLDER = "uploads"
# Bots may download files of at most 20 MB from Telegram's Bot API.
MAX_DOWNLOAD_MB = 20
# PTB's default read timeout (5 s) is meant for API calls, not for 20 MB on a slow link.
DOWNLOAD_TIMEOUT_S = 120
_CLAIM_KEY = "sanad_reindex_claimed"
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.\- ]+")


async def reindex_command(update: Update, context: Context) -> None:
    """/reindex: say it started, rebuild the index off the event loop, then report the counts."""
    message = update.effective_message
    if not is_admin(update, context):
        await reply(message, render.ui(texts.ADMIN_ONLY))
        return
    if not _claim_reindex(context):
        await reply(message, render.ui(texts.REINDEX_BUSY))
        return
    try:
        await reply(message, render.ui(texts.REINDEX_STARTED))
    finally:
        _start_reindex(update, context, message)


async def stats_command(update: Update, context: Context) -> None:
    """/stats: corpus size, questions, feedback and the most frequent unanswered questions."""
    message = update.effective_message
    if not is_admin(update, context):
        await reply(message, render.ui(texts.ADMIN_ONLY))
        return
    if message.chat.type != ChatType.PRIVATE:
        await reply(message, render.ui(texts.STATS_PRIVATE_ONLY))
        return
    stats = await asyncio.to_thread(sanad(context).service.stats)
    for text in render.pack([render.stats_text(stats)]):
        await reply(message, text)


async def document(update: Update, context: Context) -> None:
    """A file sent in a private chat: an admin's new articles; validated, saved, then reindexed."""
    message = update.effective_message
    if not is_admin(update, context):
        await reply(message, render.ui(texts.ADMIN_ONLY_UPLOAD))
        return
    attachment = message.document
    name = safe_file_name(attachment.file_name or "")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        await reply(message, render.ui(texts.UPLOAD_BAD_TYPE))
        return
    if (attachment.file_size or 0) > MAX_DOWNLOAD_MB * 1024 * 1024:
        await reply(message, render.ui(texts.UPLOAD_TOO_BIG.format(limit=MAX_DOWNLOAD_MB)))
        return
    if not _claim_reindex(context):
        await reply(message, render.ui(texts.UPLOAD_BUSY))
        return
    articles = None
    try:
        articles = await _receive(message, sanad(context).settings.corpus_dir / UPLOADS_FOLDER, name)
        if articles is not None:
            saved = texts.UPLOAD_SAVED.format(name=name, articles=texts.count_articles(articles))
            await reply(message, render.ui(saved))
    finally:
        # Once the file is in the corpus, the reindex runs even if the reply above failed.
        if articles is not None:
            _start_reindex(update, context, message)
        else:
            _release_reindex(context)


async def _receive(message: Message, uploads: Path, name: str) -> int | None:
    """Download the document, check it and move it into *uploads*: its article count, or None if bad."""
    telegram_file = await message.document.get_file()
    with tempfile.TemporaryDirectory(prefix="sanad-upload-") as folder:
        received = Path(folder) / name
        await telegram_file.download_to_drive(received, read_timeout=DOWNLOAD_TIMEOUT_S)
        # Checked before it enters the corpus: a bad file there would be skipped with a
        # warning on every later reindex.
        try:
            documents = await asyncio.to_thread(load_file, received)
        except BadFile as exc:
            await reply(message, render.ui(texts.UPLOAD_BAD_FILE.format(reason=str(exc))))
            return None
        uploads.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.move, received, uploads / name)
    return len(documents)


def safe_file_name(name: str) -> str:
    """*name* reduced to a plain file name that cannot leave the uploads folder or hide in it."""
    name = _UNSAFE_NAME_CHARS.sub("_", Path(name.replace("\\", "/")).name).strip(" ._")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        return name[:100]
    return f"{stem[:100]}.{suffix[:10]}"


def _claim_reindex(context: Context) -> bool:
    # Checked and taken without an await in between: updates are handled concurrently, and two
    # admins (or one impatient one) must not both be told that their reindex started.
    if sanad(context).service.reindexing or context.application.bot_data.get(_CLAIM_KEY):
        return False
    context.application.bot_data[_CLAIM_KEY] = True
    return True


def _release_reindex(context: Context) -> None:
    context.application.bot_data[_CLAIM_KEY] = False


def _start_reindex(update: Update, context: Context, message: Message) -> None:
    async def run() -> None:
        try:
            await _reindex_and_report(sanad(context).service, message)
        finally:
            _release_reindex(context)

    context.application.create_task(run(), update=update, name="sanad-reindex")


async def _reindex_and_report(service: AnswerService, message: Message) -> None:
    try:
        report = await asyncio.to_thread(service.reindex)
    except ReindexInProgress:  # started in this process by something other than a chat
        await reply(message, render.ui(texts.REINDEX_BUSY))
    except CorpusMissing:
        log.warning("reindex asked from Telegram, but CORPUS_DIR does not exist")
        await reply(message, render.ui(texts.REINDEX_NO_CORPUS))
    except Exception:
        log.exception("reindex asked from Telegram failed")
        await reply(message, render.ui(texts.REINDEX_FAILED))
    else:
        await reply(message, render.reindex_text(report))
