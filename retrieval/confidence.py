"""How much of a question a sentence covers: the basis of an honest "no answer".

Each content word of the question weighs its idf (a rare word matters more than a common
one; a word the corpus never saw weighs the most). A sentence covers a word fully when it
has the same light stem, mostly when it shares the root, and in part when a word of it is
spelled nearly the same (character-trigram overlap, for typos). Name aliases count as the
name: a question that writes شاومي is covered by a sentence that writes Xiaomi.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .aliases import AliasTable
from .arabic import STOP_WORDS, light_stem, root_stem, tokenize

ROOT_CREDIT = 0.7  # same root, different stem: related, not the same word
TYPO_MIN_OVERLAP = 0.5  # trigram Jaccard from which a near spelling counts


def _trigrams(word: str) -> frozenset[str]:
    marked = f"#{word}#"
    return frozenset(marked[i : i + 3] for i in range(max(1, len(marked) - 2)))


@dataclass(frozen=True, slots=True)
class _Word:
    stem: str
    root: str
    grams: frozenset[str]


@lru_cache(maxsize=200_000)
def _word(norm: str) -> _Word:
    return _Word(light_stem(norm), root_stem(norm), _trigrams(norm))


@dataclass(frozen=True, slots=True)
class QuestionProfile:
    """The question's content words, their weights and their alias alternatives."""

    words: tuple[_Word, ...]
    weights: tuple[float, ...]
    alternatives: tuple[tuple[_Word, ...], ...]  # per word: other spellings' words


def profile(question: str, idf: Callable[[str], float], aliases: AliasTable | None = None) -> QuestionProfile:
    """Analyse *question* once for scoring many sentences."""
    norms = [t.norm for t in tokenize(question) if t.norm not in STOP_WORDS]
    words = tuple(_word(n) for n in norms)
    weights = tuple(idf(w.stem) for w in words)
    alternatives: list[list[_Word]] = [[] for _ in words]
    if aliases is not None:
        for phrase, spellings in aliases.alternatives(question):
            alt_words = [_word(t.norm) for s in spellings for t in tokenize(s) if t.norm not in STOP_WORDS]
            for i, n in enumerate(norms):
                if n in phrase:
                    alternatives[i].extend(alt_words)
    return QuestionProfile(words, weights, tuple(tuple(a) for a in alternatives))


def _credit(word: _Word, stems: set[str], roots: set[str], grams: list[frozenset[str]]) -> float:
    if word.stem in stems:
        return 1.0
    best = ROOT_CREDIT if word.root in roots and len(word.root) >= 3 else 0.0
    if len(word.grams) >= 3:
        for other in grams:
            overlap = len(word.grams & other) / len(word.grams | other)
            if overlap >= TYPO_MIN_OVERLAP and overlap > best:
                best = overlap
    return best


def coverage(question: QuestionProfile, sentence: str) -> float:
    """Share (0..1) of the question's weight that *sentence* covers."""
    total = sum(question.weights)
    if not total:
        return 0.0
    sentence_words = [_word(t.norm) for t in tokenize(sentence) if t.norm not in STOP_WORDS]
    stems = {w.stem for w in sentence_words}
    roots = {w.root for w in sentence_words}
    grams = [w.grams for w in sentence_words]
    covered = 0.0
    for word, weight, alts in zip(question.words, question.weights, question.alternatives, strict=True):
        credit = _credit(word, stems, roots, grams)
        if credit < 1.0 and alts:
            credit = max(credit, min(_credit(a, stems, roots, grams) for a in alts))
        covered += weight * credit
    return covered / total
