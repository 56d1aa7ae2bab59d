"""Right-to-left safety for mixed Arabic and Latin text.

Latin names and numbers inside an Arabic line can drag the punctuation around them into the
wrong place. Wrapping each left-to-right run in Unicode isolates (LRI ... PDI) keeps the line
reading right to left. The characters are invisible and change nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

LRI = "\u2066"
PDI = "\u2069"
RLM = "\u200f"

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
