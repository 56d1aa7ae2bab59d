"""Answers as Telegram HTML: quotes in blockquotes, escaped text, isolates, 4096-character messages.

Everything that comes from users or articles goes through :func:`html.escape` here, and
nowhere else builds HTML. Telegram counts the limit after parsing entities, so lengths are
measured on the visible text, in UTF-16 code units as Telegram counts them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from ..answers import Answer, AnswerStatus, Quote, ReindexReport, Stats
from ..bidi import RLM, cut_marks, highlight_spans, isolate_ltr, mark_up
from . import texts

TELEGRAM_LIMIT = 4096
# Titles and listed questions are labels, not quotes: past this length they are shortened.
MAX_LABEL_CHARS = 300
BLOCK_SEPARATOR = "\n\n"

_TAG = re.compile(r"<[^>]*>")
# Commands and @mentions stay whole: an isolate inside "/ask" would stop it being a command.
_COMMAND_OR_MENTION = re.compile(r"((?<![\w/@])[/@][A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?)")


def visible_length(markup: str) -> int:
    """How long Telegram considers *markup* after parsing: UTF-16 code units of its text."""
    text = html.unescape(_TAG.sub("", markup))
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """User or article text made safe for HTML parse mode, with Latin runs isolated."""
    return html.escape(isolate_ltr(text), quote=False)


def ui(text: str) -> str:
    """One of our own sentences (already formatted) as HTML; commands and mentions stay clickable."""
    pieces = _COMMAND_OR_MENTION.split(text)
    return "".join(
        html.escape(piece if i % 2 else isolate_ltr(piece), quote=False) for i, piece in enumerate(pieces)
    )


def label(text: str) -> str:
    """A title or a listed question, shortened at a word when very long, then escaped."""
    text = " ".join(text.split())
    if len(text) > MAX_LABEL_CHARS:
        text = text[:MAX_LABEL_CHARS].rsplit(" ", 1)[0] + "…"
    return escape(text)


def marked_sentence(text: str, highlights: Sequence[tuple[int, int]]) -> str:
    """*text* escaped, matched words in ``<b>``, Latin runs isolated across the bold boundaries.

    Isolates are computed on the whole sentence (so "Great Wall" stays one run even when only
    "Great" is bold); they are characters, not tags, so they need not nest with ``<b>``.
    """
    return mark_up(
        text,
        highlight_spans(text, highlights),
        escape=lambda piece: html.escape(piece, quote=False),
        open_mark="<b>",
        close_mark="</b>",
    )


def source_line(quote: Quote) -> str:
    """The quote's article title (a link when it has a web address) and its sentence position."""
    title = label(quote.title)
    if quote.url and quote.url.startswith(("https://", "http://")):
        title = f'<a href="{html.escape(quote.url, quote=True)}">{title}</a>'
    where = texts.SENTENCE_POSITION.format(position=quote.position, count=quote.sentence_count)
    return f"{RLM}📄 {title} — {html.escape(where, quote=False)}"


def quote_blocks(quote: Quote, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """One block per quote: the sentence (or excerpt, with "…" where it was cut) in a
    blockquote, then its source.

    A sentence too long for one message (rare: an article without punctuation, quoted whole)
    is cut between words into several blockquotes, so every word still reaches the user
    verbatim; the source follows the last part.
    """
    source = source_line(quote)
    text = quote.text

    def blockquote(start: int, end: int, spans: Sequence[tuple[int, int]]) -> str:
        before, after = quote.trimmed_before and start == 0, quote.trimmed_after and end == len(text)
        body = cut_marks(marked_sentence(text[start:end], spans), before=before, after=after)
        return f"<blockquote>{body}</blockquote>"

    whole = f"{blockquote(0, len(text), quote.highlights)}\n{source}"
    if visible_length(whole) <= limit:
        return [whole]
    blocks: list[str] = []
    start = 0
    room = limit - visible_length(source) - 1
    while start < len(text):
        size = room
        while True:
            end = _word_cut(text, start, size)
            spans = [(max(a, start) - start, min(b, end) - start) for a, b in quote.highlights if a < end and b > start]
            block = blockquote(start, end, spans)
            if visible_length(block) <= room:
                break
            size = max(1, size * 9 // 10)  # isolates made it longer than its characters: cut shorter
        blocks.append(block)
        start = end
    blocks[-1] += f"\n{source}"
    return blocks


def _word_cut(text: str, start: int, size: int) -> int:
    end = start + size
    if end >= len(text):
        return len(text)
    space = text.rfind(" ", start + 1, end)
    return space + 1 if space > start else end


def answer_blocks(answer: Answer) -> list[str]:
    """The blocks of a reply to *answer*: quotes, or the reason with the closest titles."""
    if answer.status is AnswerStatus.ANSWERED and answer.quotes:
        return [block for quote in answer.quotes for block in quote_blocks(quote)]
    blocks = [f"{RLM}{ui(answer.reason or texts.NO_ANSWER)}"]
    if answer.suggestions:
        titles = "\n".join(f"{RLM}• {label(title)}" for title in answer.suggestions)
        blocks.append(f"{RLM}{ui(texts.NO_ANSWER_SUGGESTIONS)}\n{titles}")
    return blocks


def answer_messages(answer: Answer, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """*answer* as message texts of at most *limit* characters each."""
    return pack(answer_blocks(answer), limit)


def pack(blocks: Iterable[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join *blocks* into as few messages as fit in *limit*, splitting only between blocks.

    A block that alone is too long (never a quote: those are cut by :func:`quote_blocks`) is
    split between its lines.
    """
    messages: list[str] = []
    current = ""
    for block in _fitting(blocks, limit):
        candidate = f"{current}{BLOCK_SEPARATOR}{block}" if current else block
        if visible_length(candidate) <= limit:
            current = candidate
            continue
        messages.append(current)
        current = block
    if current:
        messages.append(current)
    return messages


def _fitting(blocks: Iterable[str], limit: int) -> Iterable[str]:
    for block in blocks:
        if visible_length(block) <= limit:
            yield block
            continue
        current = ""
        for line in block.split("\n"):
            candidate = f"{current}\n{line}" if current else line
            if current and visible_length(candidate) > limit:
                yield current
                current = line
            else:
                current = candidate
        if current:
            yield current


# --- commands -------------------------------------------------------------------------------


def greeting(articles: int, examples: Sequence[str], *, private: bool) -> str:
    """/start: what the bot does, how much it knows, and how to ask."""
    lines = [ui(texts.GREETING.format(articles=texts.count_articles(articles)))]
    if not examples:
        lines.append(ui(texts.GREETING_NO_EXAMPLES))
    elif private:
        lines.append(ui(texts.GREETING_EXAMPLES_PRIVATE))
    else:
        lines.append(ui(texts.GREETING_EXAMPLES_GROUP))
        lines.extend(ui(f"/ask {example}") for example in examples)
    return "\n".join(f"{RLM}{line}" for line in lines)


def help_text(bot_username: str | None, *, admin: bool) -> str:
    """/help: the commands, and the admin ones for admins."""
    mention = f"@{bot_username}" if bot_username else "@"
    text = texts.HELP.format(mention=mention) + (texts.HELP_ADMIN if admin else "")
    return ui(text)


def stats_text(stats: Stats) -> str:
    """/stats for an admin: corpus, questions, feedback and the frequent unanswered questions."""
    head = texts.STATS.format(
        articles=texts.count_articles(stats.articles),
        sentences=texts.count_sentences(stats.sentences),
        version=stats.index_version,
        built=_when(stats.index_built_at) if stats.index_built_at else texts.STATS_NEVER_BUILT,
        questions=stats.questions,
        answered=stats.answered,
        unanswered=stats.unanswered,
        invalid=stats.invalid,
        up=stats.feedback_up,
        down=stats.feedback_down,
    )
    lines = [ui(line) for line in head.split("\n")]
    if stats.top_unanswered:
        lines.append(ui(texts.STATS_TOP_UNANSWERED))
        lines.extend(f"• {label(question)} ({count}×)" for question, count in stats.top_unanswered)
    else:
        lines.append(ui(texts.STATS_NO_UNANSWERED))
    return "\n".join(f"{RLM}{line}" for line in lines)


def reindex_text(report: ReindexReport) -> str:
    """The outcome of a reindex: counts and duration, and the files that could not be read."""
    text = ui(
        texts.REINDEX_DONE.format(
            duration=f"{report.duration_s:.2f}",
            added=report.added,
            updated=report.updated,
            removed=report.removed,
            unchanged=report.unchanged,
            articles=texts.count_articles(report.articles),
            sentences=texts.count_sentences(report.sentences),
        )
    )
    if report.problems:
        problems = "\n".join(f"• {label(_file_name(path))}: {label(reason)}" for path, reason in report.problems)
        text += f"\n{ui(texts.REINDEX_PROBLEMS)}\n{problems}"
    return text


def _when(iso: str) -> str:
    # "2026-11-21T05:51:31" (UTC, from the index state) -> "2026-11-21 05:51 UTC"
    return f"{iso.replace('T', ' ')[:16]} UTC"


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
