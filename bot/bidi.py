"""Right-to-left safety for mixed Arabic and Latin text.

Latin names and numbers inside an Arabic line can drag the punctuation around them into the
wrong place. Wrapping each left-to-right run in Unicode isolates (LRI ... PDI) keeps the line
reading right to left. The characters are invisible and change nothing else.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence

LRI = "\u2066"
PDI = "\u2069"
RLM = "\u200f"
ELLIPSIS = "\u2026"

# A run of Latin words and numbers, with the spaces and light punctuation between them
# ("Great Wall", "Lei Jun", "1.11", "Xiaomi Auto").
_LTR_RUN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 .,'’&+\-/:%]*[A-Za-z0-9%])?")


def isolate_ltr(text: str) -> str:
    """Wrap every Latin/number run of *text* in LRI ... PDI."""
    return _LTR_RUN.sub(lambda m: f"{LRI}{m.group()}{PDI}", text)


def segments(text: str, highlights: Sequence[tuple[int, int]]) -> Iterator[tuple[str, bool]]:
    """Split *text* into (piece, highlighted) runs following the highlight spans."""
    cursor = 0
    for start, end in sorted(highlights):
        start, end = max(start, cursor), min(end, len(text))
        if start >= end:
            continue
        if start > cursor:
            yield text[cursor:start], False
        yield text[start:end], True
        cursor = end
    if cursor < len(text):
        yield text[cursor:], False


def ltr_runs(text: str) -> list[tuple[int, int]]:
    """Spans of *text* that :func:`isolate_ltr` would wrap.

    Empty when the text carries isolates of its own: adding ours could unbalance them.
    """
    if LRI in text or PDI in text:
        return []
    return [m.span() for m in _LTR_RUN.finditer(text)]


def mark_up(
    text: str,
    spans: Sequence[tuple[int, int]] = (),
    *,
    escape: Callable[[str], str] = lambda s: s,
    open_mark: str = "",
    close_mark: str = "",
) -> str:
    """*text* with *spans* between open/close marks and every Latin run isolated.

    Isolates are placed from the raw text, so a mark inside "Great Wall" cannot split it into
    two runs (two isolates with a space between them read in reverse order in a right-to-left
    line). Where two wraps start or end together, the longer one is outside, so they nest;
    the text between cuts is passed through *escape*.
    """
    # kind 0 (marks) is outside kind 1 (isolates) when both cover the same span.
    wraps = [(s, e, 0, open_mark, close_mark) for s, e in spans]
    wraps += [(s, e, 1, LRI, PDI) for s, e in ltr_runs(text)]
    opens: dict[int, list[tuple[int, int, str]]] = {}
    closes: dict[int, list[tuple[int, int, str]]] = {}
    for start, end, kind, first, last in wraps:
        opens.setdefault(start, []).append((-end, kind, first))
        closes.setdefault(end, []).append((-start, -kind, last))

    def at(position: int) -> str:
        # Outer wraps (reaching further) open first; inner ones (started later) close first.
        closing = "".join(mark for *_, mark in sorted(closes.get(position, [])))
        opening = "".join(mark for *_, mark in sorted(opens.get(position, [])))
        return closing + opening

    cuts = sorted({0, len(text), *opens, *closes})
    out: list[str] = []
    for start, end in itertools.pairwise(cuts):
        out.append(at(start))
        out.append(escape(text[start:end]))
    out.append(at(len(text)) if text else "")
    return "".join(out)


def highlight_spans(text: str, highlights: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The highlighted spans of *text*, sorted, clipped and without overlaps."""
    spans = []
    position = 0
    for piece, hit in segments(text, highlights):
        if hit:
            spans.append((position, position + len(piece)))
        position += len(piece)
    return spans


def cut_marks(body: str, *, before: bool, after: bool) -> str:
    """*body* (an excerpt, already marked up) with "…" on each side where its sentence was cut.

    An excerpt may begin with a Latin word or a number, which a client that guesses the
    paragraph direction from its first letter would lay out left to right, putting the "…"
    on the left. The right-to-left mark before the leading "…" settles the direction (and
    holds the ellipsis at the right-hand start); the one after the trailing "…" keeps it at
    the left-hand end after a Latin run. The space says words are left out, not trailed off.
    """
    head = f"{RLM}{ELLIPSIS} " if before else ""
    tail = f" {ELLIPSIS}{RLM}" if after else ""
    return f"{head}{body}{tail}"
