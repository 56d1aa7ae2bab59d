"""Arabic-aware sentence splitting that keeps exact character offsets.

Every sentence is a span of the article: ``text[start:end]`` is the sentence as written, and
what lies between two sentences is only white space, so no character of the article is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Sentence-ending marks; a run of them ("...", "!!!", "؟!") ends one sentence.
_TERMINATORS = ".!?؟…۔"
# Closing marks that belong to the sentence they follow: «قال: "نعم."» ends after the quotes.
_CLOSERS = "»”’)]}›"
_AMBIGUOUS_QUOTES = "\"'"

_CANDIDATE_RE = re.compile(rf"[{re.escape(_TERMINATORS)}]+|\n")
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
_DIGIT = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9]")
_LETTER = re.compile(r"[^\W\d_]")

# Sentences shorter than this are merged into a neighbour: a lone "نعم." or a heading
# fragment quoted alone answers nothing.
MIN_SENTENCE_CHARS = 30


@dataclass(frozen=True, slots=True)
class SentenceSpan:
    """Where a sentence stands in its article."""

    start: int
    end: int


def _previous_word(text: str, end: int) -> str:
    start = end
    while start > 0 and (text[start - 1].isalnum()):
        start -= 1
    return text[start:end]


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Whether the terminator run text[start:end] really ends a sentence."""
    run = text[start:end]
    if run != ".":
        return True  # "...", "!", "؟", "…": always an end
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    # 1.11 and 1.002.000 are numbers, not two sentences.
    if _DIGIT.match(before) and _DIGIT.match(after):
        return False
    # Latin on both sides with no space is a domain, a file name or a version ("x.com").
    if _LATIN_OR_DIGIT.match(before) and _LATIN_OR_DIGIT.match(after):
        return False
    # A single letter before the period is an abbreviation: ق.م، د. أحمد، U.S.
    word = _previous_word(text, start)
    if len(word) == 1 and _LETTER.match(word):
        return False
    return True


def _raw_spans(text: str) -> list[SentenceSpan]:
    spans: list[SentenceSpan] = []
    cursor = 0
    for match in _CANDIDATE_RE.finditer(text):
        if match.start() < cursor:
            continue
        if match.group() == "\n":
            end = match.start()
        else:
            if not _is_boundary(text, match.start(), match.end()):
                continue
            end = match.end()
            # Closing quotes and brackets stay with the sentence; a straight quote only when it
            # is followed by space or the end (otherwise it opens the next sentence).
            while end < len(text):
                ch = text[end]
                if ch in _CLOSERS:
                    end += 1
                elif ch in _AMBIGUOUS_QUOTES and (end + 1 == len(text) or not text[end + 1].isalnum()):
                    end += 1
                else:
                    break
        spans.append(SentenceSpan(cursor, end))
        cursor = end
    spans.append(SentenceSpan(cursor, len(text)))
    return [s for s in (_strip(text, s) for s in spans) if s is not None]


def _strip(text: str, span: SentenceSpan) -> SentenceSpan | None:
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        return None
    return SentenceSpan(start, end)


def _merge_small(text: str, spans: list[SentenceSpan], min_chars: int) -> list[SentenceSpan]:
    """Merge fragments shorter than *min_chars* into a neighbour of the same paragraph.

    The previous sentence on the same line is preferred, then the next one on the same line,
    then the neighbours across a single line break; a blank line is never crossed.
    """
    spans = list(spans)

    def gap(a: SentenceSpan, b: SentenceSpan) -> str:
        return text[a.end : b.start]

    changed = True
    while changed:
        changed = False
        for i, span in enumerate(spans):
            if span.end - span.start >= min_chars or len(spans) == 1:
                continue
            options = []
            if i > 0:
                options.append((gap(spans[i - 1], span), i - 1))
            if i + 1 < len(spans):
                options.append((gap(span, spans[i + 1]), i + 1))
            choice = None
            for allowed in (lambda g: "\n" not in g, lambda g: g.count("\n") < 2):
                for g, j in options:
                    if allowed(g):
                        choice = j
                        break
                if choice is not None:
                    break
            if choice is None:
                continue
            lo, hi = min(i, choice), max(i, choice)
            spans[lo : hi + 1] = [SentenceSpan(spans[lo].start, spans[hi].end)]
            changed = True
            break
    return spans


_CLAUSE_RE = re.compile(r"[،,]\s+")


def _split_long(text: str, span: SentenceSpan, max_chars: int, min_chars: int) -> list[SentenceSpan]:
    """Cut a run-on sentence at the comma nearest its middle, recursively.

    Wikipedia-style sentences of several hundred characters chain clauses with commas; a
    quote of one clause answers as well and reads far better in a chat.
    """
    if span.end - span.start <= max_chars:
        return [span]
    middle = (span.start + span.end) // 2
    best = None
    for match in _CLAUSE_RE.finditer(text, span.start, span.end):
        cut = match.start() + 1
        if cut - span.start < min_chars * 2 or span.end - match.end() < min_chars * 2:
            continue
        if best is None or abs(cut - middle) < abs(best[0] - middle):
            best = (cut, match.end())
    if best is None:
        return [span]
    left = SentenceSpan(span.start, best[0])
    right = SentenceSpan(best[1], span.end)
    return _split_long(text, left, max_chars, min_chars) + _split_long(text, right, max_chars, min_chars)


def split_sentences(text: str, min_chars: int = MIN_SENTENCE_CHARS, max_chars: int = 0) -> list[SentenceSpan]:
    """Split an article into sentence spans.

    Splits at ``. ! ? ؟ …`` and line breaks; keeps decimals, grouped numbers and one-letter
    abbreviations whole; does not split at ``؛``; keeps closing quotes and brackets with their
    sentence and merges fragments shorter than *min_chars* with a neighbour. With *max_chars*,
    longer sentences are cut at a comma near their middle.
    """
    spans = _merge_small(text, _raw_spans(text), min_chars)
    if max_chars:
        spans = [piece for span in spans for piece in _split_long(text, span, max_chars, min_chars)]
    return spans
