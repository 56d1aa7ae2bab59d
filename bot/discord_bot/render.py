"""Answers, sources, statistics and help as Discord messages, within Discord's limits.

Pure functions: service values in, ``discord.Embed`` and text out. Nothing here talks to
Discord, so the limits can be checked without a connection.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import discord
from discord import app_commands
from discord.utils import escape_markdown

from ..answers import Answer, AnswerStatus, Quote, ReindexReport, SourceInfo, Stats
from ..bidi import cut_marks, mark_up, segments
from . import texts

# Discord's documented limits.
MESSAGE_CHARS = 2000
TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
FIELD_VALUE_CHARS = 1024
FIELDS_PER_EMBED = 25
FOOTER_CHARS = 2048
EMBED_TOTAL_CHARS = 6000  # all embeds of one message together
EMBEDS_PER_MESSAGE = 10
CHOICES = 25
CHOICE_CHARS = 100

SOURCES_PER_PAGE = 10
COLOR = discord.Colour(0x1F7A6D)
OPEN_QUOTE, CLOSE_QUOTE = "«", "»"
ELLIPSIS = "…"


@dataclass
class Page:
    """One Discord message: text and/or embeds that fit together."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)


def plain(text: str) -> str:
    """*text* shown literally: Discord markdown escaped, Latin runs isolated for right-to-left."""
    return markdown(text)


def clip(text: str, limit: int, render: Callable[[str], str] = plain) -> str:
    """``render(text)``, shortened at a word boundary with an ellipsis when longer than *limit*.

    Only for titles and labels; quotes are never shortened (see :func:`quote_chunks`).
    """
    out = render(text)
    if len(out) <= limit:
        return out
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix whose rendering, with the ellipsis, still fits
        mid = (lo + hi + 1) // 2
        if len(render(text[:mid].rstrip()) + ELLIPSIS) <= limit:
            lo = mid
        else:
            hi = mid - 1
    prefix = text[:lo]
    word_end = prefix.rstrip().rfind(" ")
    if word_end > lo // 2:  # prefer a word boundary unless it would throw away half the text
        prefix = prefix[:word_end]
    return render(prefix.rstrip()) + ELLIPSIS


def _bold_runs(text: str, highlights: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    # Matched words separated only by spaces become one bold run ("**Great Wall**"), and
    # whitespace stays outside the markers: "** word**" is not bold in Discord.
    runs: list[tuple[int, int]] = []
    position = 0
    for piece, hit in segments(text, highlights):
        start, end = position, position + len(piece)
        position = end
        if not hit:
            continue
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start == end:
            continue
        if runs and not text[runs[-1][1] : start].strip():
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def markdown(text: str, highlights: Sequence[tuple[int, int]] = ()) -> str:
    """*text* as Discord markdown: literal (escaped), matched words in bold, Latin runs isolated."""
    return mark_up(text, _bold_runs(text, highlights), escape=escape_markdown, open_mark="**", close_mark="**")


def quote_chunks(quote: Quote, limit: int = DESCRIPTION_CHARS) -> list[str]:
    """The quote in guillemets as markdown, in as few pieces of at most *limit* as possible.

    An excerpt of a long sentence shows "…" inside the guillemets where it was cut. A quote is
    cut only when it cannot fit in one piece, and then between words of the raw text, so
    every piece is valid markdown on its own and the pieces together are the whole quote,
    verbatim.
    """
    text = quote.text

    def render(start: int, end: int) -> str:
        spans = [(max(a, start) - start, min(b, end) - start) for a, b in quote.highlights if a < end and b > start]
        first, last = start == 0, end == len(text)
        body = cut_marks(
            markdown(text[start:end], spans), before=quote.trimmed_before and first, after=quote.trimmed_after and last
        )
        return (OPEN_QUOTE if first else "") + body + (CLOSE_QUOTE if last else "")

    whole = render(0, len(text))
    if len(whole) <= limit:
        return [whole]
    # Cut points: the start of every whitespace run (the run itself is dropped between pieces).
    cuts = [i for i in range(1, len(text)) if text[i].isspace() and not text[i - 1].isspace()]
    chunks: list[str] = []
    start = 0
    while start < len(text):
        rest = render(start, len(text))
        if len(rest) <= limit:
            chunks.append(rest)
            break
        lo = bisect.bisect_right(cuts, start)
        end = _longest_fit(render, start, cuts[lo:], limit)
        if end is None:  # one "word" longer than the limit: cut between characters
            end = _longest_fit(render, start, range(start + 1, len(text)), limit)
            assert end is not None, "a single character always fits"
        chunks.append(render(start, end))
        start = end
        while start < len(text) and text[start].isspace():
            start += 1
    return chunks


def _longest_fit(render: Callable[[int, int], str], start: int, ends: Sequence[int], limit: int) -> int | None:
    # Rendering only grows as the piece grows, so binary search finds the last end that fits.
    lo, hi, best = 0, len(ends) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if len(render(start, ends[mid])) <= limit:
            best, lo = ends[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _is_web_url(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(("http://", "https://"))  # type: ignore[union-attr]


def quote_embeds(quote: Quote) -> list[discord.Embed]:
    """Embeds for one quote: the title (linked when the article has a web address), the quote,
    the sentence position in the footer. A very long quote continues in further embeds."""
    chunks = quote_chunks(quote)
    embeds = [discord.Embed(description=chunk, colour=COLOR) for chunk in chunks]
    embeds[0].title = clip(quote.title, TITLE_CHARS)
    footer = texts.POSITION.format(position=quote.position, count=quote.sentence_count)
    if _is_web_url(quote.url):
        embeds[0].url = quote.url
    elif quote.url:  # not a link Discord accepts, but still where the quote comes from
        footer = clip(f"{footer} · {quote.url}", FOOTER_CHARS, render=lambda s: s)
    embeds[-1].set_footer(text=footer)
    return embeds


def pack(groups: Iterable[Sequence[discord.Embed]]) -> list[Page]:
    """Embeds in as few messages as Discord allows (10 embeds, 6000 characters each); the
    embeds of one group stay in one message whenever they fit in one."""
    pages: list[Page] = []
    current: list[discord.Embed] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        if current:
            pages.append(Page(embeds=current))
        current, size = [], 0

    for group in groups:
        group_size = sum(len(e) for e in group)
        if len(current) + len(group) > EMBEDS_PER_MESSAGE or size + group_size > EMBED_TOTAL_CHARS:
            flush()
        for embed in group:  # a group larger than a whole message is spread over several
            if len(current) + 1 > EMBEDS_PER_MESSAGE or size + len(embed) > EMBED_TOTAL_CHARS:
                flush()
            current.append(embed)
            size += len(embed)
    flush()
    return pages


def no_answer_text(answer: Answer) -> str:
    """The polite reason, and for "no answer" the closest article titles, within 2000 characters."""
    text = answer.reason or ""
    if answer.status is AnswerStatus.NO_ANSWER and answer.suggestions:
        lines = [texts.CLOSEST_TITLES]
        for title in answer.suggestions:
            line = f"• {clip(title, 200)}"
            if len(text) + sum(len(x) + 1 for x in lines) + len(line) + 1 > MESSAGE_CHARS:
                break
            lines.append(line)
        if len(lines) > 1:
            text += "\n" + "\n".join(lines)
    return text[:MESSAGE_CHARS]


def answer_pages(answer: Answer) -> list[Page]:
    """The messages that carry *answer*: quote embeds, or one polite text."""
    if answer.quotes:
        return pack(quote_embeds(q) for q in answer.quotes)
    return [Page(content=no_answer_text(answer))]


def page_count(total: int, per_page: int = SOURCES_PER_PAGE) -> int:
    """Pages needed for *total* items (at least one, for the empty list)."""
    return max(1, -(-total // per_page))


def _masked_link(title: str, url: str | None) -> str:
    text = clip(title, 150)
    if not _is_web_url(url):
        return text
    text = text.replace("[", "\\[").replace("]", "\\]")
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")  # type: ignore[union-attr]
    return f"[{text}]({target})"


def sources_embed(sources: Sequence[SourceInfo], page: int) -> discord.Embed:
    """One page of the indexed articles (title, sentence count); *page* counts from 0."""
    pages = page_count(len(sources))
    page = min(max(page, 0), pages - 1)
    first = page * SOURCES_PER_PAGE
    lines = [
        texts.SOURCES_LINE.format(number=first + i + 1, title=_masked_link(s.title, s.url), sentences=s.sentences)
        for i, s in enumerate(sources[first : first + SOURCES_PER_PAGE])
    ]
    embed = discord.Embed(
        title=texts.SOURCES_TITLE.format(count=len(sources)),
        description="\n".join(lines) or texts.SOURCES_EMPTY,
        colour=COLOR,
    )
    if pages > 1:
        embed.set_footer(text=texts.PAGE.format(page=page + 1, pages=pages))
    return embed


def question_choices(current: str, frequent: Sequence[str], titles: Sequence[str]) -> list[app_commands.Choice[str]]:
    """Autocomplete for a question: earlier frequent questions, then matching article titles.

    At most 25 choices of at most 100 characters; a question longer than that is left out
    rather than offered cut (it would become a different question).
    """
    needle = current.strip().casefold()
    picked: list[str] = [q for q in frequent if 0 < len(q) <= CHOICE_CHARS]
    picked += [clip(t, CHOICE_CHARS, render=lambda s: s) for t in titles if needle in t.casefold()]
    seen: set[str] = set()
    choices = []
    for value in picked:
        if value in seen:
            continue
        seen.add(value)
        choices.append(app_commands.Choice(name=value, value=value))
        if len(choices) == CHOICES:
            break
    return choices


def reindex_text(report: ReindexReport) -> str:
    """What a reindex did, for the admin who asked, within one message."""
    text = texts.REINDEX_DONE.format(
        duration=report.duration_s,
        added=report.added,
        updated=report.updated,
        removed=report.removed,
        unchanged=report.unchanged,
        articles=report.articles,
        sentences=report.sentences,
        version=report.version,
    )
    if report.problems:
        text += "\n" + texts.REINDEX_PROBLEMS.format(count=len(report.problems))
        for path, reason in report.problems:
            line = f"\n• {plain(Path(path).name)}: {plain(reason)}"
            if len(text) + len(line) > MESSAGE_CHARS - 2:
                text += f"\n{ELLIPSIS}"
                break
            text += line
    return text


def stats_embed(stats: Stats) -> discord.Embed:
    """Corpus, questions and feedback counts as embed fields."""
    embed = discord.Embed(title=texts.STATS_TITLE, colour=COLOR)
    embed.add_field(name=texts.STATS_ARTICLES, value=str(stats.articles))
    embed.add_field(name=texts.STATS_SENTENCES, value=str(stats.sentences))
    built = stats.index_built_at or texts.STATS_NEVER_BUILT
    index = texts.STATS_INDEX_VALUE.format(version=stats.index_version, built=built)
    embed.add_field(name=texts.STATS_INDEX, value=index)
    embed.add_field(
        name=texts.STATS_QUESTIONS,
        value=texts.STATS_QUESTIONS_VALUE.format(
            questions=stats.questions, answered=stats.answered, unanswered=stats.unanswered, invalid=stats.invalid
        ),
        inline=False,
    )
    embed.add_field(name=texts.STATS_FEEDBACK, value=f"👍 {stats.feedback_up} · 👎 {stats.feedback_down}")
    lines: list[str] = []
    for question, count in stats.top_unanswered:
        line = f"{count}× {clip(question, 200)}"
        if sum(len(x) + 1 for x in lines) + len(line) > FIELD_VALUE_CHARS:
            break
        lines.append(line)
    if lines:
        embed.add_field(name=texts.STATS_UNANSWERED, value="\n".join(lines), inline=False)
    return embed


def help_embed(*, admin_hint: bool) -> discord.Embed:
    """/help in Arabic; the admin commands are mentioned only where they can be used."""
    body = texts.HELP_BODY + (f"\n\n{texts.HELP_ADMIN}" if admin_hint else "")
    return discord.Embed(title=texts.HELP_TITLE, description=body, colour=COLOR)
