"""Excerpts of long sentences: the stretch of a sentence that a reader needs, verbatim.

Wikipedia-style sentences run to 300-900 characters, and the answer sits in one part of them.
A sentence longer than the limit is quoted as one contiguous run of its words, never cut
inside a word and never rewritten, chosen to cover as much of the question as it can: the
same word weights and credits as the answer's confidence (``retrieval/confidence.py``).
Between windows that cover equally, the one that starts latest wins: the matched words then
open the excerpt and the room is left after them, where the answer usually is (on ARCD the
answer follows the question's words ten times as often as it precedes them).

Small preferences (:class:`Preferences`) break the ties that coverage leaves; their sizes were
chosen with folds over ARCD's articles (``bench/tune_excerpt.py``, see the README):

* a window that leaves a word or two after its last matched word: the answer is often the
  very next words ("أسسها عثمان الأول", "إلى أكثر من 120 مليون نسخة");
* question words the article's title holds weigh half: the source line shows the title;
* the sentence's opening gets a little credit: it names the subject ("X هو ...");
* a "when" or "how many" question prefers a window with a number, year or month in it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.aliases import AliasTable
from retrieval.arabic import Token, normalize, tokenize
from retrieval.confidence import QuestionProfile, WordCredits, profile

# A word of the excerpt: the excerpt starts and ends at whitespace, so no word is ever cut.
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Preferences:
    """What breaks the ties that coverage (0..1) leaves between windows; chosen with
    ``bench/tune_excerpt.py`` (folds over ARCD's articles)."""

    title_share: float = 0.5  # how much of a question word's weight the title already shows
    opening_credit: float = 0.025  # for the window that starts the sentence
    number_credit: float = 0.1  # for a window with a number, when the question asks when or how many
    room_after: int = 10  # characters wanted after the last matched word of a window (a word or two)
    room_credit: float = 0.05  # for a window that leaves them, or that ends where the sentence ends


PREFERENCES = Preferences()

_MONTHS = (
    "يناير فبراير مارس أبريل ابريل مايو يونيو يوليو أغسطس اغسطس سبتمبر أكتوبر اكتوبر نوفمبر ديسمبر "
    "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين "
    "محرم صفر ربيع جمادى رجب شعبان رمضان شوال"
)
_NUMBER_WORDS = (
    "واحد واحدة اثنان اثنين اثنتان اثنتين ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة ثمان ثماني "
    "ثمانية تسع تسعة عشر عشرة عشرين ثلاثين أربعين خمسين ستين سبعين ثمانين تسعين مئة مائة مئتين مائتين "
    "ألف ألفين آلاف مليون مليونين ملايين مليار مليارات مرة مرتين مرات"
)
_NUMBER_NORMS = frozenset(normalize(w) for w in f"{_MONTHS} {_NUMBER_WORDS}".split())
_CLITICS = ("و", "ب", "ل", "ف")

# "When" and "how many" questions, by their normalised words.
_WHEN_WORDS = frozenset({"متي", "امتي"})
_COUNT_WORDS = frozenset({"كم", "بكم", "عدد"})
_WHICH_WORDS = frozenset({"اي", "باي", "لاي", "في"})
_TIME_NOUNS = frozenset({"عام", "العام", "سنه", "السنه", "تاريخ", "قرن", "القرن", "يوم", "شهر", "عصر", "فتره"})


@dataclass(frozen=True, slots=True)
class Asked:
    """What choosing an excerpt needs to know of a question, worked out once per question."""

    profile: QuestionProfile
    credits: WordCredits
    wants_number: bool


def asked(question: str, idf: Callable[[str], float], aliases: AliasTable | None = None) -> Asked:
    """Analyse *question* for :func:`choose` (*idf* weighs a light stem, as the index does)."""
    analysed = profile(question, idf, aliases)
    return Asked(analysed, WordCredits(analysed), wants_number(question))


def wants_number(question: str) -> bool:
    """Whether *question* asks when (a year, a date) or how many (a number)."""
    words = [t.norm for t in tokenize(question)]
    for i, word in enumerate(words):
        if word in _WHEN_WORDS or (word in _COUNT_WORDS and (word != "عدد" or i < 3)):
            return True
        if word in _WHICH_WORDS and i + 1 < len(words) and words[i + 1] in _TIME_NOUNS:
            return True
        if word in _TIME_NOUNS and i + 1 < len(words) and words[i + 1] == "كم":
            return True  # "في عام كم"
    return False


def _is_number(norm: str) -> bool:
    if any(ch.isdigit() for ch in norm) or norm in _NUMBER_NORMS:
        return True
    return norm.startswith(_CLITICS) and norm[1:] in _NUMBER_NORMS


def number_spans(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """The spans of the numbers, years and months among *tokens* (digits or words)."""
    return [(t.start, t.end) for t in tokens if _is_number(t.norm)]


def weights(question: Asked, title: str, prefs: Preferences = PREFERENCES) -> list[float]:
    """The question words' weights for choosing an excerpt of a sentence of article *title*:
    the words the title holds weigh less, since the source line shows it."""
    shown = [0.0] * len(question.profile.words)
    for _start, _end, credits in question.credits(title):
        shown = [max(a, b) for a, b in zip(shown, credits, strict=True)]
    return [w * (1 - prefs.title_share * s) for w, s in zip(question.profile.weights, shown, strict=True)]


def cuts(length: int, limit: int, whole_up_to: int = 0) -> bool:
    """Whether a sentence of *length* characters is quoted as an excerpt: it is longer than
    *limit* (0: no sentence is cut) and than *whole_up_to*, the longest quoted whole anyway."""
    return 0 < limit < length and length > whole_up_to


def choose(
    text: str, question: Asked, title: str, limit: int, prefs: Preferences = PREFERENCES, *, whole_up_to: int = 0
) -> tuple[int, int]:
    """The span of *text* to quote: the whole of it unless :func:`cuts` says otherwise, else
    the best excerpt of at most *limit* characters (longer only when a single word is)."""
    if not cuts(len(text), limit, whole_up_to):
        return 0, len(text)
    tokens = tokenize(text)
    numbers = number_spans(tokens) if question.wants_number else []
    credits = question.credits(text, tokens)
    return window(text, credits, weights(question, title, prefs), limit, numbers=numbers, prefs=prefs)


def window(
    text: str,
    credits: Sequence[tuple[int, int, Sequence[float]]],
    weights: Sequence[float],
    limit: int,
    *,
    numbers: Sequence[tuple[int, int]] = (),
    prefs: Preferences = PREFERENCES,
) -> tuple[int, int]:
    """The whole words of *text* within *limit* characters that cover the question best.

    *credits* are the matched words (span, credit per question word), *weights* the question
    words' weights, *numbers* the spans of numbers when the question wants one. A window is
    the longest run of words from a given word that fits; coverage changes only where a
    matched word or a number enters or leaves it, so it is summed again only there.
    """
    words = [m.span() for m in _WORD.finditer(text)]
    if not words:
        return 0, len(text)
    starts = [s for s, _ in words]
    # The credits each word carries: the best of its tokens' ("(بالإنجليزية:Paracetamol)").
    carried: dict[int, list[float]] = {}
    for start, _end, word_credit in credits:
        i = bisect.bisect_right(starts, start) - 1
        carried[i] = [max(a, b) for a, b in zip(carried.get(i, word_credit), word_credit, strict=True)]
    matched = sorted(carried)
    number_words = sorted({bisect.bisect_right(starts, s) - 1 for s, _ in numbers})
    total = sum(weights) or 1.0
    known: dict[tuple[int, int], float] = {}  # by the matched words inside: most windows repeat one

    def coverage(first: int, last: int) -> float:
        inside = (bisect.bisect_left(matched, first), bisect.bisect_right(matched, last))
        if inside not in known:
            best = [0.0] * len(weights)
            for i in matched[inside[0] : inside[1]]:
                best = [max(a, b) for a, b in zip(best, carried[i], strict=True)]
            known[inside] = sum(w * c for w, c in zip(weights, best, strict=True)) / total
        return known[inside]

    best_key, best = (-1.0, 0), (0, 0)
    last = 0
    for first, (start, _) in enumerate(words):
        last = max(last, first)
        while last + 1 < len(words) and words[last + 1][1] - start <= limit:
            last += 1
        score = coverage(first, last)
        if first == 0:
            score += prefs.opening_credit
        k = bisect.bisect_right(number_words, last) - 1
        if k >= 0 and number_words[k] >= first:
            score += prefs.number_credit
        k = bisect.bisect_right(matched, last) - 1
        final = matched[k] if k >= 0 and matched[k] >= first else None
        if last == len(words) - 1 or final is None or words[last][1] - words[final][1] >= prefs.room_after:
            score += prefs.room_credit
        key = (round(score, 9), first)  # equal scores: the later start, room after the matches
        if key > best_key:
            best_key, best = key, (first, last)
        if last == len(words) - 1:
            break  # a later start reaches no further and only drops words
    return words[best[0]][0], words[best[1]][1]
