"""Sentence search: several analysed BM25 fields, article context and an honest confidence.

Each field (light stems, character n-grams, roots...) is a :class:`~retrieval.index.BM25Index`
over the same sentences. A question's scores are normalised per field and summed with the
field weights; the sentence's article (its own BM25 score and a title match) is added as
context. The best ``rerank_depth`` sentences by those are then scored on the part of the
question their article's title does not hold (see :mod:`retrieval.beyond_title`), and
character n-gram fields re-rank the best ``ngram_depth`` of them (a
:class:`~retrieval.index.ComposedIndex`): n-gram postings would cost ten times the rest.
The confidence of a hit is the share of the question's idf mass that the sentence matches:
a sentence that shares only a common word with the question is not an answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .aliases import AliasTable
from .arabic import Analyzer, tokenize
from .beyond_title import beyond_title_coverage, title_holds
from .confidence import IndexedCoverage, ProbeHolds, QuestionProfile, coverage_from_credits, profile, sentence_credits
from .index import (
    BM25Index,
    BM25Params,
    CandidateScore,
    ComposedIndex,
    IndexParts,
    Ranked,
    Ranker,
    TermsHeld,
    article_context,
    build_parts,
)
from .parallel import Workers

# Words that make a question ask for a definition ("ما هو X"): the opening sentence of the
# article about X usually is that definition.
_DEFINITION_WORDS = frozenset({"هو", "هي", "تعريف", "يعرف", "تعرف", "المقصود", "معني", "معنى"})


@dataclass(frozen=True, slots=True)
class FieldConfig:
    """One analysed field of the sentence index and its weight in the final score."""

    analyzer: str
    weight: float = 1.0
    params: BM25Params = field(default_factory=BM25Params)
    # The largest share of the sentences a term of the field may be found in and still make a
    # sentence a candidate on its own; a more common one only adds to the sentences other terms
    # reach (see :meth:`~retrieval.index.Ranker.rank`).
    reach: float = 1.0


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """How sentences are scored; the defaults are the tuned configuration (see ``sanad eval``)."""

    fields: tuple[FieldConfig, ...] = (FieldConfig("light", 1.0, BM25Params("okapi", 1.2, 0.75)),)
    article_weight: float = 0.0
    title_weight: float = 0.0
    lead_weight: float = 0.0
    article_params: BM25Params = field(default_factory=BM25Params)
    # How many of the best sentences by the other fields the n-gram fields score. On ARCD any
    # depth from 100 ranks exactly as scoring every sentence; 1000 leaves room at a million.
    rerank_depth: int = 1000
    # Weight of the coverage of the question words that a candidate's article title does not
    # hold (normalised by the best candidate's); see retrieval/beyond_title.py.
    beyond_title_weight: float = 0.0
    # With that coverage, the rerank_depth candidates get it first and the n-gram fields score
    # only the best ngram_depth of them. The n-grams mostly reorder candidates the coverage
    # already ranks high: on the benchmark's 1M corpus, with 100 of the 1000 each of 1000
    # questions gets the first answer it got when the n-grams scored all 1000 before the coverage
    # (three a different second or third), in 0.6 ms less; on ARCD nothing changes down to 50.
    ngram_depth: int = 100
    # Whether the confidence reads a sentence with its article's title: a question word the
    # title holds counts as covered ("توفي في نيويورك" answers "متى توفي جبران" in Gibran's
    # article). With its own article removed a question is answered as often as without it.
    title_in_confidence: bool = False
    # Threads that share one question's work at a million sentences (see retrieval/parallel.py);
    # the results are the same with any number.
    threads: int = 1


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    id: int
    title: str
    source: str
    url: str | None
    first_doc: int
    n_sentences: int


@dataclass(frozen=True, slots=True)
class SentenceRecord:
    id: int
    article: int  # index into the articles list
    position: int
    start: int
    end: int
    text: str


@dataclass(slots=True)
class Hit:
    doc: int
    score: float  # what ranks: the sentence's own match plus its article's context
    match: float  # the sentence's own match, without context: compares quotes across articles
    _coverage: Callable[[int], float] = field(repr=False, compare=False)
    _confidence: float | None = field(default=None, repr=False, compare=False)

    @property
    def confidence(self) -> float:
        """Share of the question's idf mass the sentence covers, with its article's title when
        ``SearchConfig.title_in_confidence`` (computed on demand)."""
        if self._confidence is None:
            self._confidence = self._coverage(self.doc)
        return self._confidence


@dataclass(frozen=True, slots=True)
class _Candidates:
    """What the beyond-title coverage looked up of the re-rank candidates: the hits are among
    them, and their confidence needs the same stems, roots and titles."""

    docs: np.ndarray
    titled: np.ndarray  # bool[docs, question words]: the article's title holds the word
    holds: ProbeHolds

    def rows(self, docs: np.ndarray) -> np.ndarray | None:
        """Where each of *docs* is among the candidates; None if one is not."""
        if not len(self.docs):
            return None
        order = np.argsort(self.docs, kind="stable")
        at = order[np.minimum(np.searchsorted(self.docs, docs, sorter=order), len(order) - 1)]
        return at if np.array_equal(self.docs[at], docs) else None


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    terms: frozenset[str]  # the question's primary-field terms (for highlighting)
    known_terms: int  # how many of them the corpus has at all


def _smooth_idf(doc_freq: float, n_docs: int) -> float:
    # Always positive (Lucene's form), so a very common word still counts a little.
    return math.log(1 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5))


class SearchIndex:
    """An immutable, queryable snapshot of the corpus. Build a new one to reindex."""

    def __init__(
        self,
        articles: Sequence[ArticleRecord],
        sentences: Sequence[SentenceRecord],
        config: SearchConfig,
        aliases: AliasTable | None = None,
        *,
        parts: IndexParts | None = None,
    ) -> None:
        """Index *sentences*; with *parts* (built by ``index.CorpusAnalyser`` or loaded from a
        snapshot, aliases included) nothing is analysed again and *sentences* is kept as given."""
        self.articles = list(articles)
        self.sentences = sentences if parts is not None else list(sentences)
        self.config = config
        self.analyzers = [Analyzer(f.analyzer) for f in config.fields]
        self.primary = self.analyzers[0]
        if parts is None:
            texts = [s.text for s in self.sentences]
            parts = build_parts(
                config,
                texts,
                np.fromiter((s.article for s in self.sentences), dtype=np.int32, count=len(self.sentences)),
                np.fromiter((a.first_doc for a in self.articles), dtype=np.int32, count=len(self.articles)),
                [a.title for a in self.articles],
            )
            parts.aliases = AliasTable.for_corpus(aliases, texts)
        self.parts = parts
        self.aliases = parts.aliases if parts.aliases is not None else AliasTable.for_corpus(aliases, [])
        self.fields = parts.fields
        self.doc_article = parts.doc_article
        self._article_first = parts.article_first
        self._article_index: BM25Index | None = parts.article_index
        self._title_index = parts.title_index
        self._primary_doc_freq = np.diff(self.fields[0].weights.indptr)
        postings = sum(not isinstance(f, ComposedIndex) for f in self.fields)
        self.workers = Workers(config.threads)
        self._ranker = Ranker(len(self.sentences), self.doc_article, self._article_first, postings, self.workers)
        self._indexed_coverage = self._coverage_from_fields()

    def _coverage_from_fields(self) -> IndexedCoverage | None:
        """Confidence read from the fields when they hold what it needs (the tuned configuration
        does); otherwise each hit's text is analysed again (fine for small corpora)."""
        kinds = {a.kind: f for a, f in zip(self.analyzers, self.fields, strict=True)}
        stems, roots, grams = kinds.get("light"), kinds.get("root"), kinds.get("ngram")
        if self.primary.kind != "light" or roots is None or not isinstance(grams, ComposedIndex):
            return None
        return IndexedCoverage(stems, roots, grams)

    @property
    def coverage_from_index(self) -> bool:
        """Whether confidence is read from the fields rather than from the hits' text."""
        return self._indexed_coverage is not None

    def _coverages(
        self,
        asked: QuestionProfile,
        docs: Sequence[int],
        held: TermsHeld | None = None,
        candidates: _Candidates | None = None,
        rows: np.ndarray | None = None,
    ) -> list[float]:
        """The confidence of each of *docs*; *candidates* is what the beyond-title coverage
        looked up, and *rows* where *docs* are among them when the caller knows."""
        if candidates is None or self._indexed_coverage is None:
            rows = None
        elif rows is None:
            rows = candidates.rows(docs)
        titled = None
        if rows is not None:
            # The hits are candidates whose stems, roots and titles the re-rank has looked up.
            credits = self._indexed_coverage.credits(asked, docs, holds=candidates.holds.take(rows))
            if self.config.title_in_confidence:
                titled = candidates.titled[rows]
        else:
            credits = self.credits(asked, docs, held=held)
            if self.config.title_in_confidence:
                titled = title_holds(asked, self._title_index, self.doc_article[np.asarray(docs, dtype=np.int64)])
        return coverage_from_credits(asked.weights, credits, titled).tolist()

    def credits(
        self, asked: QuestionProfile, docs: Sequence[int], *, near: bool = True, held: TermsHeld | None = None
    ) -> np.ndarray:
        """How fully each of *docs* covers each word of *asked*, as float[docs, words]; without
        *near*, near spellings earn nothing (see confidence.py)."""
        if self._indexed_coverage is not None:
            return self._indexed_coverage.credits(asked, docs, near=near, held=held)
        out = np.zeros((len(docs), len(asked.words)))
        for row, doc in enumerate(docs):
            out[row] = sentence_credits(asked, self.sentences[doc].text, near=near)
        return out

    def beyond_title(self, asked: QuestionProfile, docs: Sequence[int], held: TermsHeld | None = None) -> np.ndarray:
        """For each of *docs*, the coverage of the question words its article's title does not
        hold (0..1), by stems and roots (*held*: see :meth:`IndexedCoverage.credits`).

        Near spellings are left out: comparing every candidate word's trigrams would cost ten
        times the rest at a thousand candidates, and the n-gram field already ranks typos.
        """
        return self._beyond_title(asked, np.asarray(docs, dtype=np.int64), held)[0]

    def _beyond_title(
        self, asked: QuestionProfile, docs: np.ndarray, held: TermsHeld | None
    ) -> tuple[np.ndarray, _Candidates | None]:
        """:meth:`beyond_title`, and what it looked up of *docs* when read from the index."""
        titled = title_holds(asked, self._title_index, self.doc_article[docs])
        if self._indexed_coverage is None:
            credits = self.credits(asked, docs, near=False, held=held)
            return beyond_title_coverage(asked.weights, credits, titled), None
        holds = self._indexed_coverage.probe_holds(asked, docs, held)
        coverage = self._indexed_coverage.beyond_title(asked, docs, titled, holds=holds)
        return coverage, _Candidates(docs, titled, holds)

    @cached_property
    def _title_terms(self) -> list[frozenset[str]]:
        return [frozenset(self.primary.terms(a.title)) for a in self.articles]

    def _primary_terms(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.primary.terms(t) for t in texts]

    def __len__(self) -> int:
        return len(self.sentences)

    def expand(self, question: str, found: list[tuple[tuple[str, ...], list[str]]] | None = None) -> str:
        """The question with other spellings of the names the corpus does not know as asked.

        A name the corpus already has in the question's spelling is not expanded for ranking:
        adding the other spelling would only favour sentences that give both (such as
        "(بالإنجليزية: Edison)"). Coverage still counts every spelling (see confidence.py).
        *found* is ``aliases.alternatives(question)`` when the caller has it already.
        """
        vocabulary = self.fields[0].vocabulary
        if found is None:
            found = self.aliases.alternatives(question)
        extra = [
            spelling
            for phrase, spellings in found
            if any(term not in vocabulary for term in self.primary.terms(" ".join(phrase)))
            for spelling in spellings
        ]
        return question if not extra else question + " " + " ".join(extra)

    def idf(self, term: str) -> float:
        term_id = self.fields[0].vocabulary.get(term)
        df = 0 if term_id is None else float(self._primary_doc_freq[term_id])
        return _smooth_idf(df, max(len(self.sentences), 1))

    def search(self, question: str, k: int = 10) -> SearchResult:
        """The *k* best sentences for *question*, best first."""
        found = self.aliases.alternatives(question)  # for the ranking and the confidence
        expanded = self.expand(question, found)
        primary_terms = frozenset(self.primary.terms(expanded))
        known = sum(1 for t in primary_terms if t in self.fields[0].vocabulary)
        if not self.sentences or not primary_terms:
            return SearchResult([], primary_terms, known)
        postings: list = []
        rerank: list = []
        reach: list[float] = []
        for analyzer, index, cfg in zip(self.analyzers, self.fields, self.config.fields, strict=True):
            if cfg.weight:
                group = rerank if isinstance(index, ComposedIndex) else postings
                group.append((index, analyzer.terms(expanded), cfg.weight))
                if group is postings:
                    reach.append(cfg.reach)
        cfg = self.config
        lead = cfg.lead_weight if cfg.lead_weight and self._is_definition(question) else 0.0
        asked = profile(question, self.idf, self.aliases, found)
        fields = [index for index, _terms, _weight in postings]
        looked_up: list[_Candidates] = []

        def beyond_title(candidates: Ranked) -> np.ndarray:
            coverage, seen = self._beyond_title(asked, candidates.docs, candidates.terms_held(fields))
            if seen is not None:
                looked_up.append(seen)
            return coverage

        # The sentence's own match (Hit.match, which compares quotes across articles) leaves the
        # beyond-title coverage out: it depends on the article's title, which is context.
        beyond = CandidateScore(beyond_title, cfg.beyond_title_weight, cfg.ngram_depth)
        best = self._ranker.rank(
            postings, rerank, self._article_extra(expanded, primary_terms), lead, k, cfg.rerank_depth,
            candidate=beyond if cfg.beyond_title_weight else None, reach=reach,
        )
        if not len(best.docs):
            return SearchResult([], primary_terms, known)
        match = dict(zip(best.docs.tolist(), best.match.tolist(), strict=True))
        ranked = list(zip(best.docs.tolist(), best.scores.tolist(), strict=True))
        known_coverage: dict[int, float] = {}
        held = best.terms_held(fields)  # which stems and roots each hit holds, as ranked

        def covered(doc: int) -> float:
            # Every hit at once, from the index and the terms the postings pass saw them hold:
            # most answers read past their first eight hits, and a second call for the rest
            # cost more than the rows it adds to the first (0.1 ms an answer at a million).
            if doc not in known_coverage:
                if self._indexed_coverage is not None:
                    seen = looked_up[0] if looked_up else None
                    coverages = self._coverages(asked, best.docs, held, seen, best.candidate_rows)
                    known_coverage.update(zip(best.docs.tolist(), coverages, strict=True))
                else:
                    known_coverage[doc] = self._coverages(asked, [doc])[0]
            return known_coverage[doc]

        hits = [Hit(doc, score, match[doc], covered) for doc, score in ranked]
        return SearchResult(hits, primary_terms, known)

    def _article_extra(self, expanded: str, terms: frozenset[str]) -> np.ndarray | None:
        """Context per article: its own BM25 score (normalised) and the share of the question's
        terms its title has, weighted; None when neither applies."""
        cfg = self.config
        index = self._article_index
        titled = bool(cfg.title_weight and terms)
        if index is None and not titled:
            return None
        if index is not None:
            article_terms, counts = index.query(self.primary.terms(expanded))
        else:
            article_terms, counts = np.zeros(0, dtype=np.int64), np.zeros(0)
        title_rows = [row for t in terms if (row := self._title_index.vocabulary.get(t)) is not None] if titled else []
        out = np.empty(len(self.articles))
        # One pass over the articles (tens of thousands at a million sentences) instead of a
        # numpy operation for each step.
        any_context = article_context(
            index, article_terms, counts, cfg.article_weight, self._title_index,
            np.asarray(title_rows, dtype=np.int64), cfg.title_weight if titled else 0.0, len(terms), out,
        )
        return out if any_context else None

    def _context(self, docs: np.ndarray, expanded: str, terms: frozenset[str], question: str) -> np.ndarray:
        """What context adds to the score of each of *docs* (article, title, opening sentence)."""
        articles = self.doc_article[docs]
        extra = self._article_extra(expanded, terms)
        out = extra[articles] if extra is not None else np.zeros(len(docs))
        if self.config.lead_weight and self._is_definition(question):
            out = out + self.config.lead_weight * (docs == self._article_first[articles])
        return out

    @staticmethod
    def _is_definition(question: str) -> bool:
        words = [t.norm for t in tokenize(question)]
        return len(words) <= 5 and any(w in _DEFINITION_WORDS for w in words[:3])

    def confidence(self, doc: int, question: str) -> float:
        """Share of the question's idf mass that sentence *doc* covers (0..1; see confidence.py),
        with its article's title when ``SearchConfig.title_in_confidence``."""
        return self._coverages(profile(question, self.idf, self.aliases), [doc])[0]

    def highlights(self, doc: int, terms: frozenset[str]) -> list[tuple[int, int]]:
        """Spans (relative to the sentence) of the words that match the question's terms."""
        return self.primary.spans_of(self.sentences[doc].text, terms)

    def closest_titles(self, question: str, n: int = 3) -> list[str]:
        """Titles of the articles nearest to *question*, for an honest "no answer"."""
        if not self.articles:
            return []
        terms = self.primary.terms(self.expand(question))
        if self._article_index is not None:
            ranked = self._article_index.top_k(terms, n)
            return [self.articles[i].title for i, _ in ranked]
        result = self.search(question, 50)
        seen: list[str] = []
        for hit in result.hits:
            title = self.articles[self.sentences[hit.doc].article].title
            if title not in seen:
                seen.append(title)
            if len(seen) == n:
                break
        return seen

