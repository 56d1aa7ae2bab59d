"""Sentence search: several analysed BM25 fields, article context and an honest confidence.

Each field (light stems, character n-grams, roots...) is a :class:`~retrieval.index.BM25Index`
over the same sentences. A question's scores are normalised per field and summed with the
field weights; the sentence's article (its own BM25 score and a title match) is added as
context. The confidence of a hit is the share of the question's idf mass that the sentence
matches: a sentence that shares only a common word with the question is not an answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .aliases import AliasTable
from .arabic import Analyzer, tokenize
from .confidence import coverage, profile
from .index import BM25Index, BM25Params, top_k

# Words that make a question ask for a definition ("ما هو X"): the opening sentence of the
# article about X usually is that definition.
_DEFINITION_WORDS = frozenset({"هو", "هي", "تعريف", "يعرف", "تعرف", "المقصود", "معني", "معنى"})


@dataclass(frozen=True, slots=True)
class FieldConfig:
    """One analysed field of the sentence index and its weight in the final score."""

    analyzer: str
    weight: float = 1.0
    params: BM25Params = field(default_factory=BM25Params)


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """How sentences are scored; the defaults are the tuned configuration (see ``sanad eval``)."""

    fields: tuple[FieldConfig, ...] = (FieldConfig("light", 1.0, BM25Params("okapi", 1.2, 0.75)),)
    article_weight: float = 0.0
    title_weight: float = 0.0
    lead_weight: float = 0.0
    article_params: BM25Params = field(default_factory=BM25Params)


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
        """Share of the question's idf mass the sentence itself covers (computed on demand)."""
        if self._confidence is None:
            self._confidence = self._coverage(self.doc)
        return self._confidence


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
    ) -> None:
        self.articles = list(articles)
        self.sentences = list(sentences)
        self.config = config
        self.aliases = AliasTable.for_corpus(aliases, [s.text for s in self.sentences])
        self.analyzers = [Analyzer(f.analyzer) for f in config.fields]
        self.primary = self.analyzers[0]
        texts = [s.text for s in self.sentences]
        self.fields = [
            BM25Index.build([a.terms(t) for t in texts], f.params)
            for a, f in zip(self.analyzers, config.fields, strict=True)
        ]
        self.doc_article = np.fromiter((s.article for s in self.sentences), dtype=np.int64, count=len(self.sentences))
        primary = self.fields[0]
        self._primary_doc_freq = np.diff(primary.weights.indptr)
        self._article_index: BM25Index | None = None
        if config.article_weight and self.articles:
            per_article: list[list[str]] = [[] for _ in self.articles]
            for s, terms in zip(self.sentences, self._primary_terms(texts), strict=True):
                per_article[s.article].extend(terms)
            for i, article in enumerate(self.articles):
                per_article[i].extend(self.primary.terms(article.title))
            self._article_index = BM25Index.build(per_article, config.article_params)
        self._title_terms = [frozenset(self.primary.terms(a.title)) for a in self.articles]

    def _primary_terms(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.primary.terms(t) for t in texts]

    def __len__(self) -> int:
        return len(self.sentences)

    def expand(self, question: str) -> str:
        """The question with other spellings of the names the corpus does not know as asked.

        A name the corpus already has in the question's spelling is not expanded for ranking:
        adding the other spelling would only favour sentences that give both (such as
        "(بالإنجليزية: Edison)"). Coverage still counts every spelling (see confidence.py).
        """
        vocabulary = self.fields[0].vocabulary
        extra = [
            spelling
            for phrase, spellings in self.aliases.alternatives(question)
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
        expanded = self.expand(question)
        primary_terms = frozenset(self.primary.terms(expanded))
        known = sum(1 for t in primary_terms if t in self.fields[0].vocabulary)
        if not self.sentences or not primary_terms:
            return SearchResult([], primary_terms, known)
        doc_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        for analyzer, index, cfg in zip(self.analyzers, self.fields, self.config.fields, strict=True):
            docs, scores = index.score(analyzer.terms(expanded), with_floor=False)
            if len(docs) == 0 or cfg.weight == 0:
                continue
            top = scores.max()
            if top <= 0:
                continue
            doc_parts.append(docs)
            score_parts.append(scores * (cfg.weight / top))
        if not doc_parts:
            return SearchResult([], primary_terms, known)
        if len(doc_parts) == 1:
            docs, scores = doc_parts[0], score_parts[0]
        else:
            docs, inverse = np.unique(np.concatenate(doc_parts), return_inverse=True)
            scores = np.bincount(inverse, weights=np.concatenate(score_parts), minlength=len(docs))
        match = dict(zip(docs.tolist(), scores.tolist(), strict=True))
        scores = scores + self._context(docs, expanded, primary_terms, question)
        ranked = top_k(docs, scores, k)
        asked = profile(question, self.idf, self.aliases)

        def covered(doc: int) -> float:
            return coverage(asked, self.sentences[doc].text)

        hits = [Hit(doc, score, match[doc], covered) for doc, score in ranked]
        return SearchResult(hits, primary_terms, known)

    def _context(self, docs: np.ndarray, expanded: str, terms: frozenset[str], question: str) -> np.ndarray:
        cfg = self.config
        extra = np.zeros(len(docs))
        articles = self.doc_article[docs]
        if self._article_index is not None:
            a_docs, a_scores = self._article_index.score(self.primary.terms(expanded), with_floor=False)
            if len(a_docs) and a_scores.max() > 0:
                by_article = np.zeros(len(self.articles))
                by_article[a_docs] = a_scores / a_scores.max()
                extra += cfg.article_weight * by_article[articles]
        if cfg.title_weight and terms:
            share = np.array([len(terms & self._title_terms[a]) / len(terms) for a in range(len(self.articles))])
            extra += cfg.title_weight * share[articles]
        if cfg.lead_weight and self._is_definition(question):
            first = np.array([self.articles[a].first_doc for a in articles])
            extra += cfg.lead_weight * (docs == first)
        return extra

    @staticmethod
    def _is_definition(question: str) -> bool:
        words = [t.norm for t in tokenize(question)]
        return len(words) <= 5 and any(w in _DEFINITION_WORDS for w in words[:3])

    def confidence(self, doc: int, question: str) -> float:
        """Share of the question's idf mass that sentence *doc* covers (0..1); see confidence.py."""
        return coverage(profile(question, self.idf, self.aliases), self.sentences[doc].text)

    def highlights(self, doc: int, terms: frozenset[str]) -> list[tuple[int, int]]:
        """Spans (relative to the sentence) of the words that match the question's terms."""
        text = self.sentences[doc].text
        spans: list[tuple[int, int]] = []
        for term in self.primary.terms_with_spans(text):
            if term.term in terms and (not spans or spans[-1] != (term.start, term.end)):
                spans.append((term.start, term.end))
        return spans

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

