"""How much of a question a sentence covers: the basis of an honest "no answer".

Each content word of the question weighs its idf (a rare word matters more than a common
one; a word the corpus never saw weighs the most). A sentence covers a word fully when it
has the same light stem, mostly when it shares the root, and in part when a word of it is
spelled nearly the same (character-trigram overlap, for typos). Name aliases count as the
name: a question that writes شاومي is covered by a sentence that writes Xiaomi.

:func:`coverage` reads a sentence's text; :class:`IndexedCoverage` gives the same numbers from
the index's fields (stems, roots and character n-grams of every sentence's words), without
analysing the text again: that is what keeps answering fast at a million sentences.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .aliases import AliasTable
from .arabic import STOP_WORDS, Token, light_stem, root_stem, tokenize
from .index import BM25Index, ComposedIndex, TermsHeld, coverage_beyond, coverage_of_credits, credits_from_holds

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


def profile(
    question: str,
    idf: Callable[[str], float],
    aliases: AliasTable | None = None,
    found: list[tuple[tuple[str, ...], list[str]]] | None = None,
) -> QuestionProfile:
    """Analyse *question* once for scoring many sentences (*found*: its names' other spellings,
    ``aliases.alternatives(question)``, when the caller has them already)."""
    norms = [t.norm for t in tokenize(question) if t.norm not in STOP_WORDS]
    words = tuple(_word(n) for n in norms)
    weights = tuple(idf(w.stem) for w in words)
    alternatives: list[list[_Word]] = [[] for _ in words]
    if found is None and aliases is not None:
        found = aliases.alternatives(question)
    if found:
        for phrase, spellings in found:
            alt_words = [_word(t.norm) for s in spellings for t in tokenize(s) if t.norm not in STOP_WORDS]
            for i, n in enumerate(norms):
                if n in phrase:
                    alternatives[i].extend(alt_words)
    return QuestionProfile(words, weights, tuple(tuple(a) for a in alternatives))


def _credit(word: _Word, stems: set[str], roots: set[str], grams: list[frozenset[str]], near: bool = True) -> float:
    if word.stem in stems:
        return 1.0
    best = ROOT_CREDIT if word.root in roots and len(word.root) >= 3 else 0.0
    if near and len(word.grams) >= 3:
        for other in grams:
            overlap = len(word.grams & other) / len(word.grams | other)
            if overlap >= TYPO_MIN_OVERLAP and overlap > best:
                best = overlap
    return best


def sentence_credits(question: QuestionProfile, sentence: str, *, near: bool = True) -> np.ndarray:
    """How fully *sentence* covers each of the question's words (0..1), in question order;
    without *near*, a near spelling (typo) earns nothing."""
    sentence_words = [_word(t.norm) for t in tokenize(sentence) if t.norm not in STOP_WORDS]
    stems = {w.stem for w in sentence_words}
    roots = {w.root for w in sentence_words}
    grams = [w.grams for w in sentence_words]
    credits = np.zeros(len(question.words))
    for i, (word, alts) in enumerate(zip(question.words, question.alternatives, strict=True)):
        credit = _credit(word, stems, roots, grams, near)
        if credit < 1.0 and alts:
            credit = max(credit, min(_credit(a, stems, roots, grams, near) for a in alts))
        credits[i] = credit
    return credits


def coverage(question: QuestionProfile, sentence: str) -> float:
    """Share (0..1) of the question's weight that *sentence* covers."""
    if not sum(question.weights):
        return 0.0
    return float(coverage_from_credits(question.weights, sentence_credits(question, sentence)[None, :])[0])


def coverage_from_credits(
    weights: Sequence[float], credits: np.ndarray, titled: np.ndarray | None = None
) -> np.ndarray:
    """Coverage of each row of *credits* (float[sentences, words]) by words weighing *weights*;
    with *titled* (bool[sentences, words]), a word the sentence's title holds counts as covered.
    One compiled pass (numpy took a step per word)."""
    return coverage_of_credits(
        np.ascontiguousarray(credits, dtype=np.float64),
        np.ascontiguousarray(titled, dtype=np.bool_) if titled is not None else _NO_TITLES,
        np.asarray(weights, dtype=np.float64),
    )


class IndexedCoverage:
    """:func:`coverage` for many sentences at once, read from the index.

    *stems* is the light-stem field, *roots* the root field and *grams* the character n-gram
    field of the same sentences; each of their words was analysed exactly as :func:`coverage`
    analyses a sentence's words, so the result is the same number.
    """

    def __init__(self, stems: BM25Index, roots: BM25Index | ComposedIndex, grams: ComposedIndex) -> None:
        self.stems = stems
        self.roots = roots
        self.grams = grams

    def __call__(self, question: QuestionProfile, docs: Sequence[int]) -> np.ndarray:
        """The coverage of *question* by each of *docs* (sentence ids), in order."""
        docs = np.asarray(docs, dtype=np.int64)
        if not sum(question.weights) or not len(docs):
            return np.zeros(len(docs))
        return coverage_from_credits(question.weights, self.credits(question, docs))

    def credits(
        self,
        question: QuestionProfile,
        docs: Sequence[int],
        *,
        near: bool = True,
        held: TermsHeld | None = None,
        holds: ProbeHolds | None = None,
    ) -> np.ndarray:
        """How fully each of *docs* covers each question word, as float[docs, words] (see
        :func:`sentence_credits`). Without *near* no trigrams are compared: stems and roots are
        read from postings, which costs a tenth as much. *held* tells which of *docs* hold
        which question terms when the ranking recorded it (``Ranked.terms_held``); *holds*
        is :meth:`probe_holds` of the same *docs* when the caller has it already."""
        docs = np.asarray(docs, dtype=np.int64)
        if not question.words or not len(docs):
            return np.zeros((len(docs), len(question.words)))
        if holds is None:
            holds = self.probe_holds(question, docs, held)
        probes, alternative_columns, same_stem, same_root = holds
        if near:
            grams = self.grams.vocabulary
            trigrams = [
                ([i for g in w.grams if (i := grams.get(g)) is not None] if len(w.grams) >= 3 else [], len(w.grams))
                for w in probes
            ]
            overlap = self.grams.trigram_overlap(trigrams, docs)
        else:
            overlap = _NO_OVERLAP
        # One compiled pass instead of a numpy step per column (a thousand candidates for the
        # beyond-title coverage, the hits for the confidence).
        return credits_from_holds(
            same_stem, same_root, overlap, len(question.words), *_flat_columns(alternative_columns), ROOT_CREDIT,
            TYPO_MIN_OVERLAP,
        )

    def beyond_title(
        self,
        question: QuestionProfile,
        docs: Sequence[int],
        titled: np.ndarray,
        held: TermsHeld | None = None,
        holds: ProbeHolds | None = None,
    ) -> np.ndarray:
        """:func:`~retrieval.beyond_title.beyond_title_coverage` of the credits without near
        spellings (``credits(..., near=False)``), compiled."""
        docs = np.asarray(docs, dtype=np.int64)
        if not question.words or not len(docs):
            return np.zeros(len(docs))
        return coverage_beyond(
            self.credits(question, docs, near=False, held=held, holds=holds),
            np.ascontiguousarray(titled, dtype=np.bool_), np.asarray(question.weights, dtype=np.float64),
        )

    def probe_holds(self, question: QuestionProfile, docs: np.ndarray, held: TermsHeld | None = None) -> ProbeHolds:
        """The probes (the question's words, then every alternative spelling's words), each
        word's columns of alternatives, and whether each of *docs* has each probe's stem and root."""
        probes = list(question.words)
        alternative_columns = []
        for alts in question.alternatives:
            alternative_columns.append(list(range(len(probes), len(probes) + len(alts))))
            probes.extend(alts)
        stems = self.stems.vocabulary
        roots = self.roots.vocabulary
        stem_ids = [stems.get(w.stem, -1) for w in probes]
        root_ids = [roots.get(w.root, -1) if len(w.root) >= 3 else -1 for w in probes]
        if held is None:
            same_stem, same_root = self.stems.holds(stem_ids, docs), self.roots.holds(root_ids, docs)
        else:
            same_stem, same_root = held.holds(self.stems, stem_ids, docs), held.holds(self.roots, root_ids, docs)
        return ProbeHolds(probes, alternative_columns, same_stem, same_root)


class ProbeHolds(NamedTuple):
    """Which of some documents hold the stem and the root of each probe of a question (see
    :meth:`IndexedCoverage.probe_holds`): what both the beyond-title coverage of the candidates
    and the confidence of the hits among them are computed from."""

    probes: list[_Word]
    alternative_columns: list[list[int]]
    same_stem: np.ndarray  # bool[docs, probes]
    same_root: np.ndarray

    def take(self, rows: np.ndarray) -> ProbeHolds:
        """The same for the documents at *rows*."""
        return self._replace(same_stem=self.same_stem[rows], same_root=self.same_root[rows])


_NO_OVERLAP = np.zeros((0, 0))  # credits without near spellings


def _flat_columns(columns: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Lists of columns as (indptr, flat) arrays for the compiled kernels."""
    indptr = np.array([0, *itertools.accumulate(map(len, columns))], dtype=np.int64)
    return indptr, np.array([p for c in columns for p in c], dtype=np.int64)


_NO_TITLES = np.zeros((0, 0), dtype=np.bool_)


class WordCredits:
    """The credit (0..1) each word of a text earns for each word of one question, as
    :func:`coverage` credits a sentence's words: the same stem 1, the same root
    ``ROOT_CREDIT``, a near spelling its trigram overlap. The best credit of a question word
    over a stretch of words is what that stretch covers of it, so a part of a sentence can be
    weighed like a whole one.

    Built once per question; a word is then looked up by its stem, root and trigrams instead
    of being compared with every question word. A name's other spellings count word by word
    here (any of their words), which is looser than :func:`coverage`'s all-of-them.
    """

    def __init__(self, question: QuestionProfile) -> None:
        self.size = len(question.words)
        self._stems: dict[str, set[int]] = {}
        self._roots: dict[str, set[int]] = {}
        self._grams: dict[str, list[int]] = {}  # trigram -> probes that have it
        self._probes: list[tuple[int, int]] = []  # probe -> (question word, trigram count)
        for i, (word, alts) in enumerate(zip(question.words, question.alternatives, strict=True)):
            for probe in (word, *alts):
                self._stems.setdefault(probe.stem, set()).add(i)
                if len(probe.root) >= 3:
                    self._roots.setdefault(probe.root, set()).add(i)
                if len(probe.grams) >= 3:
                    for gram in probe.grams:
                        self._grams.setdefault(gram, []).append(len(self._probes))
                    self._probes.append((i, len(probe.grams)))
        self._known: dict[str, tuple[float, ...]] = {}

    def __call__(self, text: str, tokens: Sequence[Token] | None = None) -> list[tuple[int, int, tuple[float, ...]]]:
        """The words of *text* that earn some credit: (start, end, credit per question word).
        *tokens* are ``tokenize(text)`` when the caller has them already."""
        out: list[tuple[int, int, tuple[float, ...]]] = []
        for token in tokenize(text) if tokens is None else tokens:
            credits = self._known.get(token.norm)
            if credits is None:
                credits = self._known[token.norm] = self._word(token.norm)
            if credits:
                out.append((token.start, token.end, credits))
        return out

    def _word(self, norm: str) -> tuple[float, ...]:
        """The credits of one normalised word; empty when it earns none."""
        if norm in STOP_WORDS:
            return ()
        word = _word(norm)
        credit = [0.0] * self.size
        for i in self._roots.get(word.root, ()):
            credit[i] = ROOT_CREDIT
        shared: dict[int, int] = {}
        for gram in word.grams:
            for probe in self._grams.get(gram, ()):
                shared[probe] = shared.get(probe, 0) + 1
        for probe, count in shared.items():
            i, size = self._probes[probe]
            overlap = count / (size + len(word.grams) - count)
            if overlap >= TYPO_MIN_OVERLAP and overlap > credit[i]:
                credit[i] = overlap
        for i in self._stems.get(word.stem, ()):
            credit[i] = 1.0
        return tuple(credit) if any(credit) else ()


def word_credits(
    question: QuestionProfile, text: str, tokens: Sequence[Token] | None = None
) -> list[tuple[int, int, tuple[float, ...]]]:
    """The words of *text* that cover part of *question*, each with its span and its credit
    for every question word (see :class:`WordCredits`)."""
    return WordCredits(question)(text, tokens)
