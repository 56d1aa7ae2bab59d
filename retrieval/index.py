"""BM25 over postings, with the exact scores of rank-bm25, and the kernels that rank a question.

The weights of every (term, document) pair are computed once at build time into a sparse
matrix with one row per term (CSR). A query reads only the rows of its terms, so its cost
follows the postings it touches, not the size of the corpus. For the same token lists and
parameters, scores equal those of ``rank_bm25``'s BM25Okapi, BM25L or BM25Plus.

Character n-grams are different: a sentence has about ten times more n-grams than words, so
their postings would dominate memory and query time at a million sentences. A
:class:`ComposedIndex` stores only each document's words and each word's terms, and scores the
few documents it is given (the best candidates of the other fields) with the same BM25 weights a
postings index would give them.

The hot loops are compiled with numba when it is installed (it is a dependency); without it the
same functions run as plain Python, which is correct but only fit for small corpora.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .compiled import fetch_add, numba, prange, prefetch
from .compiled import kernel as _kernel
from .compiled import parallel_kernel as _parallel_kernel
from .parallel import Workers, cuts, parts
from .words import WordTable

log = logging.getLogger(__name__)


VARIANTS = ("okapi", "l", "plus")
_VARIANT_CODE = {"okapi": 0, "l": 1, "plus": 2}


@dataclass(frozen=True, slots=True)
class BM25Params:
    """BM25 variant and parameters; defaults are rank-bm25's own."""

    variant: str = "okapi"
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25  # okapi: floor for negative idf, as a share of the mean idf
    delta: float | None = None  # l: 0.5, plus: 1.0 when not given

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"BM25 variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")

    @property
    def effective_delta(self) -> float:
        if self.delta is not None:
            return self.delta
        return 0.5 if self.variant == "l" else 1.0


def _idf(variant: str, doc_freq: np.ndarray, n_docs: int, epsilon: float) -> np.ndarray:
    if variant == "okapi":
        idf = np.log(n_docs - doc_freq + 0.5) - np.log(doc_freq + 0.5)
        if len(idf):
            # rank-bm25 sums in dictionary order; math.fsum keeps the mean exact either way.
            floor = epsilon * (math.fsum(idf.tolist()) / len(idf))
            idf = np.where(idf < 0, floor, idf)
        return idf
    if variant == "l":
        return math.log(n_docs + 1) - np.log(doc_freq + 0.5)
    return np.log((n_docs + 1) / doc_freq)


def _weights(params: BM25Params, idf: np.ndarray, tf: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """BM25 weight of each (term, document) entry, rank-bm25's formulas term by term."""
    k1 = params.k1
    if params.variant == "okapi":
        return idf * (tf * (k1 + 1) / (tf + k1 * norm))
    if params.variant == "l":
        delta = params.effective_delta
        ctd = tf / norm
        return idf * tf * (k1 + 1) * (ctd + delta) / (k1 + ctd + delta)
    # BM25+ gives every document idf*delta for each known query term; only the part above
    # that floor is stored, the floor is added per query (see floor()).
    return idf * ((tf * (k1 + 1)) / (k1 * norm + tf))


def _norms(params: BM25Params, lengths: np.ndarray) -> np.ndarray:
    avgdl = float(lengths.sum() / len(lengths)) if len(lengths) else 0.0
    if avgdl > 0:
        return 1 - params.b + params.b * lengths / avgdl
    return np.ones(len(lengths))


class BM25Index:
    """An immutable BM25 index over documents given as token lists."""

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        weights: sparse.csr_matrix,
        idf: np.ndarray,
        n_docs: int,
        params: BM25Params,
    ) -> None:
        self.vocabulary = vocabulary
        self.weights = weights
        self.idf = idf
        self.n_docs = n_docs
        self.params = params
        # Row access without scipy's per-call overhead on the hot path.
        self._indptr = weights.indptr
        self._indices = weights.indices
        self._data = weights.data
        self._local = threading.local()  # per-thread work arrays for score() and top_k()
        # A weight has the sign of its term's idf (negative only for okapi on tiny corpora).
        self.nonnegative = not len(idf) or float(np.min(idf)) >= 0

    @classmethod
    def build(
        cls, documents: Sequence[Sequence[str]], params: BM25Params | None = None, *, dtype: type = np.float64
    ) -> BM25Index:
        """Index *documents* (one token list each, in document-id order)."""
        vocabulary: dict[str, int] = {}
        add = vocabulary.setdefault
        ids: list[int] = []
        indptr = np.zeros(len(documents) + 1, dtype=np.int64)
        for doc_id, tokens in enumerate(documents):
            ids.extend(add(t, len(vocabulary)) for t in tokens)
            indptr[doc_id + 1] = len(ids)
        every = np.arange(len(documents) + 1, dtype=np.int64)
        return cls.from_streams(vocabulary, every, indptr, np.asarray(ids, dtype=np.int32), params, dtype=dtype)

    @classmethod
    def from_streams(
        cls,
        vocabulary: Mapping[str, int],
        group_starts: np.ndarray,
        doc_indptr: np.ndarray,
        stream: np.ndarray,
        params: BM25Params | None = None,
        *,
        extra_indptr: np.ndarray | None = None,
        extra_stream: np.ndarray | None = None,
        dtype: type = np.float64,
    ) -> BM25Index:
        """Index from term-id streams without sorting: document *g* of the index is the streams
        of stream-documents ``group_starts[g]:group_starts[g + 1]`` (in order), then its part of
        *extra_stream* if given (an article: its sentences, then its title).

        Postings are counted and filled in document order in two passes over the tokens, so
        they come out sorted; this is the build path for large corpora.
        """
        params = params or BM25Params()
        n_terms = len(vocabulary)
        if extra_indptr is None:
            extra_indptr = np.zeros(len(group_starts), dtype=np.int64)
            extra_stream = np.zeros(0, dtype=np.int32)
        doc_freq = _group_doc_freq(group_starts, doc_indptr, stream, extra_indptr, extra_stream, n_terms)
        indptr = np.concatenate(([0], np.cumsum(doc_freq)))
        token_ends = doc_indptr[group_starts]
        lengths = (token_ends[1:] - token_ends[:-1]) + np.diff(extra_indptr)
        n_docs = len(group_starts) - 1
        idf = _idf(params.variant, doc_freq.astype(np.float64), n_docs, params.epsilon)
        norm = _norms(params, lengths.astype(np.float64))
        indices, tf = _group_fill(group_starts, doc_indptr, stream, extra_indptr, extra_stream, indptr)
        # The weights overwrite the counts when both have the same size (float32): one array of
        # the postings' size less at the peak of a build.
        weight = tf.view(dtype) if np.dtype(dtype).itemsize == tf.itemsize else np.empty(len(tf), dtype=dtype)
        _fill_weights(
            indptr, indices, tf, idf, norm, _VARIANT_CODE[params.variant], params.k1, params.effective_delta, weight
        )
        del tf
        index_type = np.int32 if len(indices) < 2**31 else np.int64
        matrix = sparse.csr_matrix((n_terms, n_docs), dtype=dtype)
        # Assembled directly: the arrays are already a valid, sorted CSR layout.
        matrix.data, matrix.indices, matrix.indptr = weight, indices, indptr.astype(index_type)
        matrix.has_sorted_indices = True
        return cls(vocabulary, matrix, idf, n_docs, params)

    def __len__(self) -> int:
        return self.n_docs

    def term_ids(self, tokens: Sequence[str]) -> Counter[int]:
        """Known terms of a query with how often each occurs (unknown terms score nothing)."""
        # Counted in C, unknown terms under None and then dropped (first occurrences keep their
        # order): a question's n-grams are a hundred, and a generator filtering them cost 20 us.
        counts = Counter(map(self.vocabulary.get, tokens))
        counts.pop(None, None)
        return counts

    def holds(self, term_ids: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Whether each of *docs* has each term (an id of -1 is had by none), as bool[docs, terms].

        A binary search in each term's postings (they are sorted by document).
        """
        return _postings_hold(
            self._indptr, self._indices, np.asarray(term_ids, dtype=np.int64), np.asarray(docs, dtype=np.int64)
        )

    def floor(self, query_ids: Counter[int]) -> float:
        """Score every document gets from the query regardless of its words (BM25+ only)."""
        if self.params.variant != "plus":
            return 0.0
        delta = self.params.effective_delta
        return float(sum(self.idf[t] * delta * c for t, c in query_ids.items()))

    def query(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The query's known term ids and how often each occurs, as arrays for the kernels."""
        ids = self.term_ids(tokens)
        return (
            np.fromiter(ids.keys(), dtype=np.int64, count=len(ids)),
            np.fromiter(ids.values(), dtype=np.float64, count=len(ids)),
        )

    def score(self, tokens: Sequence[str], *, with_floor: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Documents that contain a query term and their scores, ordered by document id.

        A repeated query token counts once per occurrence, as in rank-bm25. Documents not
        returned score :meth:`floor` (zero except for BM25+); *with_floor* False leaves the
        floor out of the returned scores too (same ranking, scores relative to "no match").
        """
        terms, counts = self.query(tokens)
        if not len(terms):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        acc, mark, found = self._scratch()
        n = _accumulate(self._indptr, self._indices, self._data, terms, counts, acc, mark, found)
        try:
            docs = np.sort(found[:n]).astype(np.int64)
            scores = acc[docs]
        finally:
            acc[found[:n]] = 0.0
        floor = self.floor(self.term_ids(tokens)) if with_floor else 0.0
        if floor:
            scores = scores + floor
        return docs, scores

    def dense_weights(self, tokens: Sequence[str]) -> np.ndarray:
        """Every document's score without the BM25+ floor, as one array (for small indexes such
        as the articles'; answering computes the article context in one pass, see
        :func:`article_context`, which is checked against this)."""
        terms, counts = self.query(tokens)
        out = np.zeros(self.n_docs)
        if len(terms):
            _accumulate_dense(self._indptr, self._indices, self._data, terms, counts, out)
        return out

    def _scratch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Allocated once per thread and left zeroed: a query costs its postings, not n_docs.
        arrays = getattr(self._local, "arrays", None)
        if arrays is None:
            arrays = self._local.arrays = (
                np.zeros(self.n_docs), np.zeros(self.n_docs, dtype=np.uint8), np.zeros(self.n_docs, dtype=np.int32)
            )
        return arrays

    def dense_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """Scores of every document (for checks against rank-bm25, not for serving)."""
        docs, scores = self.score(tokens)
        out = np.full(self.n_docs, self.floor(self.term_ids(tokens)), dtype=np.float64)
        out[docs] = scores
        return out

    def top_k(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The *k* best documents, ties broken by the lower document id."""
        ids = self.term_ids(tokens)
        if not ids or k <= 0:
            return []
        terms = np.fromiter(ids.keys(), dtype=np.int64, count=len(ids))
        counts = np.fromiter(ids.values(), dtype=np.float64, count=len(ids))
        # Summed a block of documents at a time, as the ranker does: at a million documents a
        # corpus-sized array of sums costs a cache miss per posting (several times slower, and
        # at the mercy of whatever else the machine's caches hold).
        rows = int((self._indptr[terms + 1] - self._indptr[terms]).sum())
        scratch = getattr(self._local, "blocks", None)
        if scratch is None:
            scratch = self._local.blocks = _Scratch(1)
        scratch.room(min(rows, self.n_docs))
        one_field = np.zeros(len(terms), dtype=np.int64)
        n = _collect(
            (self._indptr,), (self._indices,), (self._data,), one_field, terms, counts,
            np.ones(len(terms), dtype=np.uint64),  # which term a document holds is not asked here
            np.zeros(len(terms), dtype=np.uint64),  # every term reaches documents
            0, self.n_docs, scratch.block_sums, scratch.block_held, scratch.block_docs,
            scratch.docs, scratch.held, scratch.sums, np.full(1, -np.inf),
        )
        docs, values = _top_rows(scratch.docs, scratch.sums, n, self.floor(ids), k)
        return list(zip(docs.tolist(), values.tolist(), strict=True))


class ComposedIndex:
    """BM25 over character n-grams of words (:func:`~retrieval.arabic.char_ngrams`, sizes 3
    and 4, in that function's order), without postings.

    A document's terms are the terms of its words, in order, so the index keeps each
    document's words and each word's terms. Document frequencies, lengths and idf are computed
    at build time exactly as for a postings index over the same term lists, so
    :meth:`score_docs` gives the documents it is asked about the scores a :class:`BM25Index`
    would, at a cost that follows those documents' words rather than the postings.

    Layout: ``word_records`` holds each word as ``[number of terms, term ids...]`` and a
    document's entries in ``doc_words`` are the offsets of its words' records, so scoring a
    word reads one place in memory (a million sentences' words do not fit in a cache).
    """

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        word_records: np.ndarray,
        doc_indptr: np.ndarray,
        doc_words: np.ndarray,
        idf: np.ndarray,
        doc_len: np.ndarray,
        params: BM25Params,
    ) -> None:
        self.vocabulary = vocabulary
        self.word_records = word_records
        self.doc_indptr = doc_indptr
        self.doc_words = doc_words
        self.idf = idf
        self.doc_len = doc_len
        self.n_docs = len(doc_indptr) - 1
        self.params = params
        self.avgdl = float(doc_len.sum() / self.n_docs) if self.n_docs else 0.0
        # Per thread: which query term each term id is (1-based; 0: not in the question).
        self._local = threading.local()

    @classmethod
    def build(
        cls,
        vocabulary: Mapping[str, int],
        word_indptr: np.ndarray,
        word_terms: np.ndarray,
        doc_indptr: np.ndarray,
        doc_words: np.ndarray,
        params: BM25Params | None = None,
    ) -> ComposedIndex:
        """Index documents given as word ids (*doc_words*), word *w* standing for the terms
        ``word_terms[word_indptr[w]:word_indptr[w + 1]]``."""
        params = params or BM25Params()
        n_docs = len(doc_indptr) - 1
        lengths = np.diff(word_indptr)
        # Records of frequent words first: the words of any sentence are mostly common ones, and
        # packed together their records stay in cache. (Zipf: a few thousand words are most tokens.)
        order = np.argsort(-np.bincount(doc_words, minlength=len(lengths)), kind="stable")
        starts = np.concatenate(([0], np.cumsum(lengths[order] + 1)))[:-1]
        # int32 like the stored doc_words: indexing with doc_words then makes no int64 copy
        # of every token.
        offsets = np.empty(len(lengths), dtype=np.int32)
        offsets[order] = starts
        records = np.empty(len(word_terms) + len(lengths), dtype=np.int32)
        records[offsets] = lengths
        within = np.arange(len(word_terms), dtype=np.int64) - np.repeat(word_indptr[:-1], lengths)
        records[np.repeat(offsets, lengths) + 1 + within] = word_terms
        del within
        doc_offsets = offsets[doc_words]
        doc_freq, doc_len = _composed_doc_stats(doc_indptr, doc_offsets, records, len(vocabulary))
        idf = _idf(params.variant, doc_freq.astype(np.float64), n_docs, params.epsilon)
        return cls(vocabulary, records, doc_indptr, doc_offsets, idf, doc_len, params)

    # Candidates per thread at least: starting a parallel loop costs 5-25 microseconds, about
    # what scoring 20 candidates takes at a million sentences.
    SMALLEST_PART = 50

    def __len__(self) -> int:
        return self.n_docs

    term_ids = BM25Index.term_ids
    floor = BM25Index.floor

    def score_docs(
        self,
        tokens: Sequence[str],
        docs: np.ndarray,
        threads: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores (without the BM25+ floor) of *docs*, and whether each holds a query term.

        With several *threads*, they take runs of the candidates from a shared counter.
        """
        query = self.term_ids(tokens)
        docs = np.asarray(docs, dtype=np.int64)
        if not query or not len(docs):
            return np.zeros(len(docs)), np.zeros(len(docs), dtype=np.bool_)
        terms = np.fromiter(query.keys(), dtype=np.int64, count=len(query))
        counts = np.fromiter(query.values(), dtype=np.float64, count=len(query))
        p = self.params
        # A byte per term keeps the table in cache for any question of up to 255 terms.
        wide = len(terms) > 255
        name = "wide" if wide else "narrow"
        lookup = getattr(self._local, name, None)
        if lookup is None:
            lookup = np.zeros(len(self.idf), dtype=np.int32 if wide else np.uint8)
            setattr(self._local, name, lookup)
        lookup[terms] = np.arange(1, len(terms) + 1)
        # In document order the candidates' words are read front to back.
        order = np.argsort(docs, kind="stable")
        ordered = docs[order]
        scores = np.empty(len(ordered))
        holds = np.empty(len(ordered), dtype=np.bool_)
        arguments = (
            self.word_records, self.doc_indptr, self.doc_words, self.doc_len, self.avgdl,
            lookup, counts, self.idf[terms], _VARIANT_CODE[p.variant], p.k1, p.b, p.effective_delta,
            ordered, scores, holds, np.zeros(1, dtype=np.int64), _RUN,
        )
        copies = parts(threads, len(ordered), self.SMALLEST_PART)
        try:
            if copies > 1:
                _composed_scores_shared(copies, *arguments)
            else:
                _composed_scores(*arguments)
        finally:
            lookup[terms] = 0
        in_order = np.empty_like(scores), np.empty_like(holds)
        in_order[0][order], in_order[1][order] = scores, holds
        return in_order

    def score(self, tokens: Sequence[str], *, with_floor: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`BM25Index.score`, by scoring every document (for tools and checks)."""
        every = np.arange(self.n_docs, dtype=np.int64)
        scores, holds = self.score_docs(tokens, every)
        floor = self.floor(self.term_ids(tokens)) if with_floor else 0.0
        return every[holds], scores[holds] + floor

    dense_scores = BM25Index.dense_scores

    def top_k(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The *k* best documents, ties broken by the lower document id."""
        return top_k(*self.score(tokens), k)

    def holds(self, term_ids: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Whether each of *docs* has each term (an id of -1 is had by none), as bool[docs, terms]."""
        return _records_hold(
            self.word_records, self.doc_indptr, self.doc_words,
            np.asarray(term_ids, dtype=np.int64), np.asarray(docs, dtype=np.int64),
        )

    def trigram_overlap(self, probes: Sequence[tuple[Sequence[int], int]], docs: np.ndarray) -> np.ndarray:
        """For each of *docs* and each probe word, the best Jaccard overlap of the probe's trigrams
        with those of one word of the document, as float[docs, probes].

        A probe is (the ids of its trigrams that the index knows, how many distinct trigrams it
        has in all). This reads the layout of :func:`~retrieval.arabic.char_ngrams` with sizes
        (3, 4): a word of *n* letters has *n* trigrams, written first, then *n* - 1 four-grams.
        """
        docs = np.asarray(docs, dtype=np.int64)
        out = np.zeros((len(docs), len(probes)))
        for start in range(0, len(probes), _PROBES_PER_PASS):
            some = probes[start : start + _PROBES_PER_PASS]
            indptr = np.zeros(len(some) + 1, dtype=np.int64)
            indptr[1:] = np.cumsum([len(ids) for ids, _ in some])
            terms = np.fromiter((t for ids, _ in some for t in ids), dtype=np.int64, count=int(indptr[-1]))
            sizes = np.fromiter((size for _, size in some), dtype=np.int64, count=len(some))
            out[:, start : start + len(some)] = _trigram_overlap(
                self.word_records, self.doc_indptr, self.doc_words, indptr, terms, sizes, docs
            )
        return out


class TermSetIndex:
    """Which documents hold each term, without weights (the words of article titles)."""

    def __init__(self, vocabulary: Mapping[str, int], indptr: np.ndarray, indices: np.ndarray, n_docs: int) -> None:
        self.vocabulary = vocabulary
        self.indptr = indptr
        self.indices = indices
        self.n_docs = n_docs

    @classmethod
    def build(cls, term_sets: Iterable[Iterable[str]]) -> TermSetIndex:
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        n_docs = 0
        for doc, terms in enumerate(term_sets):
            n_docs = doc + 1
            for term in set(terms):
                rows.append(vocabulary.setdefault(term, len(vocabulary)))
                cols.append(doc)
        matrix = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.int8), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
            shape=(len(vocabulary), n_docs),
        )
        matrix.sort_indices()
        return cls(vocabulary, matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32), n_docs)

    def overlap(self, terms: Iterable[str]) -> np.ndarray:
        """For every document, how many of the distinct *terms* it holds."""
        out = np.zeros(self.n_docs)
        for term in set(terms):
            row = self.vocabulary.get(term)
            if row is not None:
                out[self.indices[self.indptr[row] : self.indptr[row + 1]]] += 1
        return out


def article_context(
    index: BM25Index | None,
    terms: np.ndarray,
    counts: np.ndarray,
    weight: float,
    titles: TermSetIndex,
    title_rows: np.ndarray,
    title_weight: float,
    n_terms: int,
    out: np.ndarray,
) -> bool:
    """Writes into *out* each article's context: its score in *index* for *terms* (with
    *counts*), divided by the best and times *weight*, plus *title_weight* times the share of
    the question's *n_terms* terms its title holds (*title_rows*: the rows in *titles* of the
    ones it knows). Returns whether any context applies (a best score above zero or a title
    weight); the numbers are those of the numpy steps they replace, to the last bit."""
    if index is None:
        indptr, indices, data = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0)
    else:
        indptr, indices, data = index._indptr, index._indices, index._data
    return _article_context(
        indptr, indices, data, terms, counts, weight, titles.indptr, titles.indices, title_rows,
        title_weight, n_terms, out,
    )


@_kernel
def _article_context(
    indptr, indices, data, terms, counts, weight, t_indptr, t_indices, t_rows, title_weight, n_terms, out
):  # pragma: no cover - compiled
    n = len(out)
    out[:] = 0.0
    for j in range(len(terms)):
        t = terms[j]
        c = counts[j]
        for i in range(indptr[t], indptr[t + 1]):
            out[indices[i]] += c * data[i]
    top = 0.0
    for a in range(n):
        top = max(top, out[a])
    scored = top > 0
    titled = title_weight != 0.0 and n_terms > 0
    if titled:
        held = np.zeros(n, dtype=np.int32)
        for row in t_rows:
            for i in range(t_indptr[row], t_indptr[row + 1]):
                held[t_indices[i]] += 1
    # One pass over the articles for both parts (tens of thousands of them at a million
    # sentences), each written as the two steps it replaces would have left it.
    if scored and titled:
        for a in range(n):
            out[a] = out[a] / top * weight + title_weight * (held[a] / n_terms)
    elif scored:
        for a in range(n):
            out[a] = out[a] / top * weight
    elif titled:
        for a in range(n):
            out[a] = 0.0 + title_weight * (held[a] / n_terms)
    else:
        out[:] = 0.0
    return scored or titled


class ExtendedVocabulary(Mapping[str, int]):
    """A vocabulary that shares another's terms and ids and adds its own after them.

    The article index knows every sentence term plus the words only titles have; sharing the
    sentence vocabulary instead of copying it saves a dictionary of the corpus's size.
    """

    def __init__(self, base: Mapping[str, int], extra: Mapping[str, int]) -> None:
        self.base = base
        self.extra = extra

    def __getitem__(self, term: str) -> int:
        found = self.base.get(term)
        return self.extra[term] if found is None else found

    def get(self, term: str, default: int | None = None) -> int | None:  # type: ignore[override]
        found = self.base.get(term)
        return self.extra.get(term, default) if found is None else found

    def __contains__(self, term: object) -> bool:
        return term in self.base or term in self.extra

    def __iter__(self) -> Iterator[str]:
        yield from self.base
        yield from self.extra

    def __len__(self) -> int:
        return len(self.base) + len(self.extra)


def top_k(docs: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best *k* (doc, score) pairs; equal scores keep document order (stable, deterministic)."""
    if k <= 0 or len(docs) == 0:
        return []
    if len(docs) > k:
        # Partition on the negated scores (argpartition(scores, -k) is an order of magnitude
        # slower when most scores are equal), then include every document tied with the k-th
        # so that the final stable sort, not the partition, decides among equals.
        kth = -np.partition(-scores, k - 1)[k - 1]
        keep = np.flatnonzero(scores >= kth)
        docs, scores = docs[keep], scores[keep]
    order = np.lexsort((docs, -scores))[:k]
    return [(int(docs[i]), float(scores[i])) for i in order]


# --- ranking a question over several fields ---------------------------------------------------


class _Scratch:
    """Per-thread work arrays of the ranker, reused from question to question.

    Postings are summed one block of documents at a time: the block's sums stay in cache
    while every question term adds its postings for those documents, instead of each posting
    landing at a random place of a corpus-sized array (a cache miss per posting at a million
    sentences). The kernels leave the block arrays as they found them (zeros).
    """

    BLOCK = 8192  # documents per block: their sums (8 bytes a field) stay in the L2 cache
    # The arrays of each part, in the order the kernels that split a question take them.
    COLLECTED = ("block_sums", "block_held", "block_docs", "docs", "held", "sums")
    PRESELECTED = ("docs", "held", "sums", "values", "at")

    def __init__(self, n_fields: int) -> None:
        n_fields = max(n_fields, 1)
        self.block_sums = np.zeros((self.BLOCK, n_fields))
        self.block_held = np.zeros(self.BLOCK, dtype=np.uint64)  # which question terms a document holds
        # The block's documents reached, and one slot more: the postings pass stores before it
        # counts (branch-free), so once every document of a block is listed it writes one past.
        self.block_docs = np.zeros(self.BLOCK + 1, dtype=np.int32)
        # One row per document reached, in block order: grown to the longest postings seen.
        self.docs = np.zeros(0, dtype=np.int32)
        self.held = np.zeros(0, dtype=np.uint64)
        self.sums = np.zeros((0, n_fields))
        # The preselection's scores of those rows and which row each is.
        self.values = np.zeros(0)
        self.at = np.zeros(0, dtype=np.int32)

    def room(self, rows: int) -> None:
        if len(self.docs) < rows:
            rows = max(rows, 2 * len(self.docs))
            self.docs = np.zeros(rows, dtype=np.int32)
            self.held = np.zeros(rows, dtype=np.uint64)
            self.sums = np.zeros((rows, self.sums.shape[1]))
            self.values = np.zeros(rows)
            self.at = np.zeros(rows, dtype=np.int32)


@dataclass(frozen=True, slots=True)
class Ranked:
    """The best documents of a question, best first (unless asked for in no order)."""

    docs: np.ndarray
    scores: np.ndarray  # the ranking score: fields plus context
    match: np.ndarray  # the fields alone (the sentence's own match with the question)
    reached: int  # how many documents held a question term in a postings field
    # Bit j of a document's mask: it holds the j-th question term of the postings fields,
    # ``held_terms[j]`` = (position of the field among the postings fields, term id). Terms
    # from the 57th on share a bit per field (see ``_HELD_BITS``).
    held: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    held_terms: tuple[tuple[int, int], ...] = ()
    # The caller's candidate score of each document, as it computed it (see :class:`CandidateScore`),
    # and where each document was among the candidates it was given.
    candidate: np.ndarray | None = None
    candidate_rows: np.ndarray | None = None

    def terms_held(self, fields: Sequence[object]) -> TermsHeld:
        """What the masks tell, for the postings *fields* in the order the ranker was given them."""
        return TermsHeld(
            self.held,
            {(id(fields[f]), term): j for j, (f, term) in enumerate(self.held_terms[:_HELD_BITS])},
        )


@dataclass(frozen=True, slots=True)
class TermsHeld:
    """Which question terms each of some documents holds, as the postings pass recorded it."""

    masks: np.ndarray  # uint64 per document
    bits: dict[tuple[int, int], int]  # (id of the field's index, term id) -> bit

    def term_masks(self, index: object, term_ids: Sequence[int]) -> tuple[np.ndarray, list[int]]:
        """Each term's bit as a uint64 mask (0 for an id of -1: held by none), and the
        positions of the terms that have no bit (the caller searches the postings for those)."""
        field = id(index)
        found = [self.bits.get((field, term), -1) for term in term_ids]
        # Python ints: a numpy scalar shift per term cost more than the rest of the call.
        masks = np.array([1 << j if j >= 0 else 0 for j in found], dtype=np.uint64)
        unknown = [column for column, (j, term) in enumerate(zip(found, term_ids, strict=True)) if j < 0 and term >= 0]
        return masks, unknown

    def holds(self, index: object, term_ids: Sequence[int], docs: np.ndarray) -> np.ndarray:
        """Whether each document holds each term of *index*, as bool[docs, terms] (the postings
        are searched only for terms without a bit)."""
        masks, unknown = self.term_masks(index, term_ids)
        if isinstance(index, BM25Index):
            # One compiled call for the masks and the searches (a few numpy steps per field
            # cost as much as the work at a thousand candidates).
            search = np.zeros(len(term_ids), dtype=np.bool_)
            search[unknown] = True
            return _held_or_found(
                self.masks, masks, search, np.asarray(term_ids, dtype=np.int64), index._indptr, index._indices,
                np.asarray(docs, dtype=np.int64),
            )
        out = (self.masks[:, None] & masks[None, :]) != 0
        if unknown:
            out[:, unknown] = index.holds([term_ids[c] for c in unknown], docs)
        return out


# Question terms with a bit of their own in the masks of the postings pass (uint64); the bits
# above are one per field, shared by that field's further terms, so that whether a field
# reached a document is always known.
_HELD_BITS = 64 - 8


def _term_bit(j: int, field: int) -> int:
    """The mask bit of the *j*-th question term, of postings field *field* (see ``_HELD_BITS``)."""
    return 1 << (j if j < _HELD_BITS else _HELD_BITS + field)


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """A score the caller gives the candidates of the re-rank (:meth:`Ranker.rank`).

    *compute* gets the candidates (their preselection scores, matches and masks) and returns a
    number for each. Normalised by its best and weighted by *weight*, it is added to their
    ranking scores (not to their match); the re-rank fields then score only the *keep* best.
    It must be cheaper than the re-rank fields, which it spares: at a million sentences the
    beyond-title coverage of a thousand candidates costs about what the n-grams of two
    hundred do.
    """

    compute: Callable[[Ranked], np.ndarray]
    weight: float
    keep: int


class Ranker:
    """Ranks documents by normalised, weighted field scores plus per-article context.

    Postings fields (:class:`BM25Index`) find every document holding a question term; each
    field's scores are divided by its best score and weighted. Context comes per article (its
    own score, the title match) and, for definition questions, a bonus for the article's first
    sentence. Re-rank fields (:class:`ComposedIndex`) then score only the *depth* best of those
    documents, normalised by their best, and the *k* best are returned.

    With *workers* of several threads, a big question is split: each thread sums the postings
    of one range of documents and keeps its range's best, and the re-rank scores runs of the
    candidates (see :mod:`retrieval.parallel`); the result is the one a single thread gives.
    """

    MAX_POSTINGS_FIELDS = 64 - _HELD_BITS  # one shared bit each in the per-document masks
    # Postings read per thread at least before a question's documents are split between
    # threads (below this, starting the parallel loops costs more than it saves).
    SMALLEST_PART = 6_000

    def __init__(
        self,
        n_docs: int,
        doc_article: np.ndarray,
        article_first: np.ndarray,
        n_fields: int = 1,
        workers: Workers | None = None,
    ) -> None:
        if n_fields > self.MAX_POSTINGS_FIELDS:
            raise ValueError(f"at most {self.MAX_POSTINGS_FIELDS} postings fields")
        self.n_docs = n_docs
        self.n_fields = n_fields
        self.doc_article = np.ascontiguousarray(doc_article, dtype=np.int32)
        self.article_base, self.article_step, self.article_shift = _compact_articles(self.doc_article)
        self.article_first = np.ascontiguousarray(article_first, dtype=np.int32)
        self.workers = workers or Workers(1)
        self._local = threading.local()

    def _scratches(self, parts: int) -> list[_Scratch]:
        """This thread's work arrays, one set per part of its question (the parts' threads
        write into them while this thread waits, so no other question shares them)."""
        scratches = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = []
        while len(scratches) < parts:
            scratches.append(_Scratch(self.n_fields))
        return scratches[:parts]

    def _bounds(self, n_parts: int) -> np.ndarray:
        """The documents cut into *n_parts* ranges on block boundaries: range p is
        ``bounds[p]:bounds[p + 1]``."""
        blocks = -(-self.n_docs // _Scratch.BLOCK)
        starts = [a * _Scratch.BLOCK for a, _b in cuts(blocks, n_parts)]
        return np.array([*starts, self.n_docs], dtype=np.int64)

    def rank(
        self,
        postings: Sequence[tuple[BM25Index, Sequence[str], float]],
        rerank: Sequence[tuple[ComposedIndex, Sequence[str], float]],
        article_extra: np.ndarray | None,
        lead: float,
        k: int,
        depth: int,
        *,
        ordered: bool = True,
        candidate: CandidateScore | None = None,
        reach: Sequence[float] | None = None,
    ) -> Ranked:
        """The *k* best documents for the given fields (index, question terms, weight).

        *postings* come in field order (their scores add up in that order). Without *ordered*
        the *k* best come in no particular order. With a *candidate* score, the *depth*
        candidates get it before the re-rank fields score the best ``candidate.keep`` of them.

        *reach* (per postings field, default 1.0) is the largest share of the documents a term
        of the field may be found in and still reach documents on its own: a more common term
        only adds to the documents the other terms reach, and its field is normalised by its
        best among them. Should no term reach anything, every term does.
        """
        with self.workers.turn() as threads:
            return self._rank(postings, rerank, article_extra, lead, k, depth, ordered, candidate, reach, threads)

    def _rank(self, postings, rerank, article_extra, lead, k, depth, ordered, candidate, reach, threads) -> Ranked:
        """:meth:`rank` with its work split between up to *threads* threads."""
        empty = np.empty(0, dtype=np.int64)
        if k <= 0 or not self.n_docs:
            return Ranked(empty, np.empty(0), np.empty(0), 0)
        if len(postings) > self.n_fields:
            raise ValueError("more postings fields than the ranker was made for")
        shares = list(reach) if reach is not None else [1.0] * len(postings)
        if len(shares) != len(postings):
            raise ValueError("one reach share per postings field")
        # (field, term, count) of each question term, those that reach documents apart from those
        # that only add. Plain Python: a question has a dozen terms, and numpy steps on arrays of
        # a dozen cost more than the loop.
        reach_terms, adding_terms = [], []
        rows = 0
        for f, (index, tokens, weight) in enumerate(postings):
            if not weight:
                continue
            indptr = index._indptr
            limit = shares[f] * self.n_docs
            for term, count in index.term_ids(tokens).items():
                found_in = int(indptr[term + 1]) - int(indptr[term])
                rows += found_in
                (reach_terms if found_in <= limit else adding_terms).append((f, term, count))
        if not rows:
            return Ranked(empty, np.empty(0), np.empty(0), 0)
        if not reach_terms:
            reach_terms, adding_terms = adding_terms, []
        # The terms that reach documents come first (in field order, then question order): within
        # a block of documents, a term that only adds must find the documents already marked.
        held_terms = [(f, term) for f, term, _count in reach_terms + adding_terms]
        q_field = np.array([f for f, _term in held_terms], dtype=np.int64)
        q_term = np.array([term for _f, term in held_terms], dtype=np.int64)
        q_count = np.array([count for _f, _term, count in reach_terms + adding_terms], dtype=np.float64)
        term_bits = [_term_bit(j, f) for j, (f, _term) in enumerate(held_terms)]
        reached_by = 0  # the bits of the terms that reach documents
        for bit in term_bits[: len(reach_terms)]:
            reached_by |= bit
        bits = np.array(term_bits, dtype=np.uint64)
        gates = np.array([0] * len(reach_terms) + [reached_by] * len(adding_terms), dtype=np.uint64)
        # Each part sums the postings of its own range of documents (the same sums as one pass),
        # then keeps its best; the best of those are the best of all.
        bounds = self._bounds(parts(threads, rows, self.SMALLEST_PART))
        scratches = self._scratches(len(bounds) - 1)
        for s, lo, hi in zip(scratches, bounds[:-1], bounds[1:], strict=True):
            s.room(min(rows, hi - lo))
        # numba wants one type for every member of a tuple: a field without weight lends
        # its arrays but no terms.
        fields = [index for index, _tokens, _weight in postings] + [postings[0][0]] * (self.n_fields - len(postings))
        shared = (
            tuple(index._indptr for index in fields), tuple(index._indices for index in fields),
            tuple(index._data for index in fields),
            q_field, q_term, q_count, bits, gates,
        )
        tops = np.full((len(scratches), self.n_fields), -np.inf)
        counts = np.zeros(len(scratches), dtype=np.int64)
        if len(scratches) == 1:
            s = scratches[0]
            counts[0] = _collect(
                *shared, bounds[0], bounds[1], s.block_sums, s.block_held, s.block_docs, s.docs, s.held, s.sums,
                tops[0],
            )
        else:
            _collect_parts(
                *shared, bounds, *(tuple(getattr(s, name) for s in scratches) for name in _Scratch.COLLECTED),
                tops, counts,
            )
        reached = int(counts.sum())
        top = tops.max(axis=0)
        scales = np.zeros(self.n_fields)
        valid = 0  # the bits of the terms of fields with a positive best
        for f, (_index, _tokens, weight) in enumerate(postings):
            if weight and top[f] > 0:
                scales[f] = weight / top[f]
                for bit, (field_of, _term) in zip(term_bits, held_terms, strict=True):
                    if field_of == f:
                        valid |= bit
        valid = np.uint64(valid)
        extra = article_extra if article_extra is not None else np.zeros(0)
        keep = max(k, depth) if rerank else k
        context = (self.article_base, self.article_step, self.article_shift, extra, self.article_first, lead, keep)
        if len(scratches) == 1:
            s = scratches[0]
            docs, pre, match, held = _preselect(
                s.docs, s.held, s.sums, counts[0], scales, valid, *context, s.values, s.at,
            )
        else:
            size = min(keep, int(counts.max()))
            kept = (
                np.empty((len(scratches), size), dtype=np.int64), np.empty((len(scratches), size)),
                np.empty((len(scratches), size)), np.empty((len(scratches), size), dtype=np.uint64),
            )
            sizes = np.zeros(len(scratches), dtype=np.int64)
            _preselect_parts(
                *(tuple(getattr(s, name) for s in scratches) for name in _Scratch.PRESELECTED),
                counts, scales, valid, *context, *kept, sizes,
            )
            docs, pre, match, held = _kept_of_parts(*kept, sizes, keep)
        if not len(docs):
            return Ranked(empty, np.empty(0), np.empty(0), reached)
        given = rows = None
        if candidate is not None:
            given = np.asarray(
                candidate.compute(Ranked(docs.astype(np.int64), pre, match, reached, held, tuple(held_terms))),
                dtype=np.float64,
            )
            top = given.max()
            if top > 0:
                pre = pre + given * (candidate.weight / top)
            rows = np.arange(len(docs))
            if rerank and len(docs) > candidate.keep:
                rows = best_set(pre, docs, candidate.keep)
                docs, pre, match, held, given = docs[rows], pre[rows], match[rows], held[rows], given[rows]
        for index, tokens, weight in rerank:
            if not weight:
                continue
            scores, _holds = index.score_docs(tokens, docs, threads)
            top = scores.max() if len(scores) else 0.0
            if top > 0:
                scaled = scores * (weight / top)
                pre = pre + scaled
                match = match + scaled
        best = best_positions(pre, docs, k) if ordered else best_set(pre, docs, k)
        return Ranked(
            docs[best].astype(np.int64), pre[best], match[best], reached, held[best], tuple(held_terms),
            given[best] if given is not None else None, rows[best] if rows is not None else None,
        )


@_kernel
def _accumulate(indptr, indices, data, terms, counts, acc, mark, found):  # pragma: no cover - compiled
    """Adds the postings of *terms* into *acc*; lists each document reached once in *found*."""
    n = 0
    for j in range(len(terms)):
        t = terms[j]
        c = counts[j]
        for i in range(indptr[t], indptr[t + 1]):
            d = indices[i]
            if mark[d] == 0:
                mark[d] = 1
                found[n] = d
                n += 1
            acc[d] += c * data[i]
    for i in range(n):
        mark[found[i]] = 0
    return n


@_kernel
def _accumulate_dense(indptr, indices, data, terms, counts, out):  # pragma: no cover - compiled
    for j in range(len(terms)):
        t = terms[j]
        c = counts[j]
        for i in range(indptr[t], indptr[t + 1]):
            out[indices[i]] += c * data[i]


@_kernel
def _collect(
    indptrs, indices, data, q_field, q_term, q_count, q_bit, q_gate, lo, hi, block_sums, block_held, block_docs,
    docs, held, sums, top,
):  # pragma: no cover - compiled
    """Sums the postings of every (field, term) of a question, one block of documents at a time,
    for the documents from *lo* (the start of a block) up to *hi*.

    Writes a row per document reached (its id, the *q_bit* of every question term it holds and
    each field's sum) into *docs*, *held* and *sums*, in block order; keeps each field's best sum
    in *top*. A term with a nonzero *q_gate* only adds to documents that already hold a term of
    one of those bits (terms before it in *q_term*): alone, it reaches nothing.
    Returns the number of rows. Within a document a field's postings add up in the order of
    *q_term*, as a term-at-a-time pass in that order would add them, so the sums are the same to
    the last bit (:meth:`Ranker.rank` lists the terms that reach first, each kind in question order).
    """
    n_fields = sums.shape[1]
    block = len(block_held)
    n_query = len(q_term)
    # The best sums are kept here and written to *top* once: the parts of a split question have
    # their *top* side by side, in one cache line that two cores would pass back and forth.
    best = np.full(n_fields, -np.inf)
    at = np.empty(n_query, dtype=np.int64)
    end = np.empty(n_query, dtype=np.int64)
    for j in range(n_query):
        pointers = indptrs[q_field[j]]
        ids = indices[q_field[j]]
        at[j] = _lower_bound(ids, pointers[q_term[j]], pointers[q_term[j] + 1], lo)
        end[j] = _lower_bound(ids, at[j], pointers[q_term[j] + 1], hi)
    n = 0
    while True:
        # Jump to the block of the lowest next posting: rare terms leave most blocks empty.
        first = hi
        for j in range(n_query):
            if at[j] < end[j]:
                d = indices[q_field[j]][at[j]]
                if d < first:
                    first = d
        if first >= hi:
            break
        start = (first // block) * block
        stop = start + block
        m = 0
        for j in range(n_query):
            p = at[j]
            e = end[j]
            if p >= e:
                continue
            f = q_field[j]
            ids = indices[f]
            weights = data[f]
            c = q_count[j]
            bit = q_bit[j]
            gate = q_gate[j]
            # One loop per kind of term rather than a test per posting: this is the hot loop,
            # and a term that only adds never lists a document.
            if gate:
                while p < e:
                    d = ids[p]
                    if d >= stop:
                        break
                    o = d - start
                    mark = block_held[o]
                    # Branch-free too: adding zero leaves a sum as it was, to the last bit.
                    hit = (mark & gate) != 0
                    block_held[o] = mark | (bit * hit)
                    block_sums[o, f] += (c * weights[p]) * hit
                    p += 1
            else:
                while p < e:
                    d = ids[p]
                    if d >= stop:
                        break
                    o = d - start
                    mark = block_held[o]
                    # Branch-free: whether a document is new in the block is a coin toss where
                    # two fields' postings meet, and a mispredicted branch costs more than a store.
                    block_docs[m] = o
                    m += mark == 0
                    block_held[o] = mark | bit
                    block_sums[o, f] += c * weights[p]
                    p += 1
            at[j] = p
        # A field that did not reach a document has 0 here, which leaves a positive best as it
        # was (and a field with no positive best is left out either way).
        if n_fields == 2:
            # The tuned configuration's two fields, spelt out: the best sums stay in registers
            # instead of a read and a write of memory for each row (8% of this kernel).
            best0 = best[0]
            best1 = best[1]
            for i in range(m):
                o = block_docs[i]
                docs[n] = start + o
                held[n] = block_held[o]
                block_held[o] = 0
                v0 = block_sums[o, 0]
                v1 = block_sums[o, 1]
                block_sums[o, 0] = 0.0
                block_sums[o, 1] = 0.0
                sums[n, 0] = v0
                sums[n, 1] = v1
                best0 = max(best0, v0)
                best1 = max(best1, v1)
                n += 1
            best[0] = best0
            best[1] = best1
        else:
            for i in range(m):
                o = block_docs[i]
                docs[n] = start + o
                held[n] = block_held[o]
                block_held[o] = 0
                for f in range(n_fields):
                    v = block_sums[o, f]
                    block_sums[o, f] = 0.0
                    sums[n, f] = v
                    best[f] = max(best[f], v)
                n += 1
    for f in range(n_fields):
        top[f] = max(top[f], best[f])
    return n


@_parallel_kernel
def _collect_parts(
    indptrs, indices, data, q_field, q_term, q_count, q_bit, q_gate, bounds, block_sums, block_held, block_docs,
    docs, held, sums, tops, counts,
):  # pragma: no cover - compiled
    """:func:`_collect` of each range ``bounds[p]:bounds[p + 1]`` into the p-th of each tuple of
    work arrays, the row of *tops* and the entry of *counts*, the ranges on threads of their own."""
    for p in prange(len(bounds) - 1):
        counts[p] = _collect(
            indptrs, indices, data, q_field, q_term, q_count, q_bit, q_gate, bounds[p], bounds[p + 1],
            block_sums[p], block_held[p], block_docs[p], docs[p], held[p], sums[p], tops[p],
        )


@_kernel
def _lower_bound(ids, first, last, value):  # pragma: no cover - compiled
    """The first position in ``ids[first:last]`` (sorted) holding *value* or more."""
    while first < last:
        mid = (first + last) >> 1
        if ids[mid] < value:
            first = mid + 1
        else:
            last = mid
    return first


@_kernel
def _worse(value_a, doc_a, value_b, doc_b):  # pragma: no cover - compiled
    return value_a < value_b or (value_a == value_b and doc_a > doc_b)


@_kernel
def _swap(values, docs, extra, i, j):  # pragma: no cover - compiled
    values[i], values[j] = values[j], values[i]
    docs[i], docs[j] = docs[j], docs[i]
    extra[i], extra[j] = extra[j], extra[i]


@_kernel
def _push(values, docs, extra, filled, value, doc, extra_value):  # pragma: no cover - compiled
    """Append to a heap of *filled* items (worst on top) and restore it from the bottom up."""
    j = filled
    values[j] = value
    docs[j] = doc
    extra[j] = extra_value
    while j > 0:
        parent = (j - 1) // 2
        if not _worse(values[j], docs[j], values[parent], docs[parent]):
            break
        _swap(values, docs, extra, j, parent)
        j = parent


@_kernel
def _sift_down(values, docs, extra, size, i):  # pragma: no cover - compiled
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _worse(values[right], docs[right], values[left], docs[left]):
            child = right
        if not _worse(values[child], docs[child], values[i], docs[i]):
            return
        _swap(values, docs, extra, i, child)
        i = child


@_kernel
def _offer(values, docs, extra, filled, size, value, doc, extra_value):  # pragma: no cover - compiled
    """Keep (value, doc) in a heap of the *size* best if it belongs there; returns the new fill."""
    if filled < size:
        _push(values, docs, extra, filled, value, doc, extra_value)
        return filled + 1
    if _worse(values[0], docs[0], value, doc):
        values[0] = value
        docs[0] = doc
        extra[0] = extra_value
        _sift_down(values, docs, extra, size, 0)
    return filled


@_kernel
def _preselect(
    rows, held, sums, n, scales, valid, article_base, article_step, shift, article_extra, article_first,
    lead, keep, values, at,
):  # pragma: no cover - compiled
    """The *keep* best of the *n* rows of :func:`_collect` by fields plus context.

    A document counts when a field with a positive best score reached it. Returns the
    documents, their scores, their field-only match and their *held* masks, in no particular order; equal scores
    prefer the lower document id, as the final ranking does.

    A heap over every row cost more than the scoring itself: a histogram of the scores finds
    the bucket that holds the *keep*-th best, everything above it is kept, and only that
    bucket's rows go through a heap. *values* and *at* (which row each value is) are work
    arrays of at least *n* rows (fresh megabytes for every question would cost page faults).
    A document's article is ``article_base[d >> shift] + article_step[d]`` (see
    :func:`_compact_articles`).
    """
    n_fields = sums.shape[1]
    two = n_fields == 2
    scale0 = scales[0]
    scale1 = scales[1] if two else 0.0
    count = 0
    low = np.inf
    high = -np.inf
    has_extra = len(article_extra) > 0
    # Without a lead, each row's article context is gathered first, in a loop of its own (into
    # *values*, which the next loop overwrites only behind where it reads): the article ids and
    # a thousand scattered reads of the context then overlap instead of waiting on each other
    # between the sums (a third of this pass at a million sentences).
    gathered = lead == 0.0 and has_extra
    if gathered:
        for i in range(n):
            d = rows[i]
            values[i] = article_extra[article_base[d >> shift] + article_step[d]]
    for i in range(n):
        if held[i] & valid == 0:
            continue
        d = rows[i]
        # A field that did not reach the document summed to zero: adding it changes nothing,
        # and costs less than the mispredicted test of its bit.
        # Two fields (the tuned configuration) spelt out: a loop of two cost 8% of this kernel.
        if two:
            m = 0.0 + sums[i, 0] * scale0
            m += sums[i, 1] * scale1
        else:
            m = 0.0
            for f in range(n_fields):
                m += sums[i, f] * scales[f]
        v = m
        if gathered:
            v += values[i]
        else:
            a = article_base[d >> shift] + article_step[d]
            if has_extra:
                v += article_extra[a]
            if lead != 0.0 and article_first[a] == d:
                v += lead
        values[count] = v
        at[count] = i
        count += 1
        low = min(low, v)
        high = max(high, v)
    size = min(count, keep)
    out_docs = np.empty(size, dtype=np.int64)
    out_values = np.empty(size)
    out_match = np.empty(size)
    if count <= keep:
        for c in range(count):
            out_docs[c] = rows[at[c]]
            out_values[c] = values[c]
    else:
        n_buckets = 4096
        scale = (n_buckets - 1) / (high - low) if high > low else 0.0
        per_bucket = np.zeros(n_buckets, dtype=np.int64)
        for c in range(count):
            per_bucket[int((values[c] - low) * scale)] += 1
        edge = n_buckets - 1
        above = 0
        while above + per_bucket[edge] < keep:
            above += per_bucket[edge]
            edge -= 1
        heap_size = keep - above  # how many of the edge bucket's rows are kept
        heap_values = np.empty(heap_size)
        heap_docs = np.empty(heap_size, dtype=np.int64)
        heap_rows = np.empty(heap_size)
        filled = 0
        kept = 0
        for c in range(count):
            b = int((values[c] - low) * scale)
            if b > edge:
                out_docs[kept] = rows[at[c]]
                out_values[kept] = values[c]
                out_match[kept] = at[c]
                kept += 1
            elif b == edge:
                filled = _offer(heap_values, heap_docs, heap_rows, filled, heap_size, values[c], rows[at[c]], at[c])
        out_docs[kept:] = heap_docs
        out_values[kept:] = heap_values
        out_match[kept:] = heap_rows
        for c in range(size):
            at[c] = int(out_match[c])
    # The field-only match of the kept rows, summed as above.
    out_held = np.empty(size, dtype=np.uint64)
    for c in range(size):
        i = at[c]
        m = 0.0
        for f in range(n_fields):
            m += sums[i, f] * scales[f]
        out_match[c] = m
        out_held[c] = held[i]
    return out_docs, out_values, out_match, out_held


@_parallel_kernel
def _preselect_parts(
    rows, held, sums, values, at, counts, scales, valid, article_base, article_step, shift, article_extra,
    article_first, lead, keep, out_docs, out_values, out_match, out_held, sizes,
):  # pragma: no cover - compiled
    """:func:`_preselect` of the rows of each part (the p-th of each tuple of arrays), on threads
    of their own: part p's kept rows go to the first ``sizes[p]`` places of row p of the outputs."""
    for p in prange(len(counts)):
        docs_p, values_p, match_p, held_p = _preselect(
            rows[p], held[p], sums[p], counts[p], scales, valid, article_base, article_step, shift, article_extra,
            article_first, lead, keep, values[p], at[p],
        )
        size = len(docs_p)
        sizes[p] = size
        out_docs[p, :size] = docs_p
        out_values[p, :size] = values_p
        out_match[p, :size] = match_p
        out_held[p, :size] = held_p


@_kernel
def _kept_of_parts(docs, values, match, held, sizes, keep):  # pragma: no cover - compiled
    """The rows :func:`_preselect_parts` kept, part after part, and of them the *keep* best (as
    :func:`best_set` picks them) when there are more: one call instead of a dozen numpy steps."""
    total = 0
    for p in range(len(sizes)):
        total += sizes[p]
    all_docs = np.empty(total, dtype=np.int64)
    all_values = np.empty(total)
    all_match = np.empty(total)
    all_held = np.empty(total, dtype=np.uint64)
    n = 0
    for p in range(len(sizes)):
        for i in range(sizes[p]):
            all_docs[n] = docs[p, i]
            all_values[n] = values[p, i]
            all_match[n] = match[p, i]
            all_held[n] = held[p, i]
            n += 1
    if total <= keep:
        return all_docs, all_values, all_match, all_held
    chosen = _best_set(all_values, all_docs, keep)
    return all_docs[chosen], all_values[chosen], all_match[chosen], all_held[chosen]


_ARTICLE_GROUP_SHIFT = 8  # documents share a base article id in groups of 256


def _compact_articles(doc_article: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Each document's article as a base per group of 256 documents plus a byte per document.

    The preselection looks up the article of every document a question reaches, all over the
    corpus: four bytes a document made that a cache miss per row (4 MB at a million sentences);
    one byte a document is a quarter of the misses. Articles hold consecutive documents, so the
    256 documents of a group span at most 256 articles. Should they not (documents out of
    article order), the plain array is used: base per document, steps of zero.
    """
    group = 1 << _ARTICLE_GROUP_SHIFT
    base = doc_article[::group].copy()
    step = doc_article.astype(np.int64) - np.repeat(base, group)[: len(doc_article)]
    if len(step) and (step.min() < 0 or step.max() > 255):
        return doc_article, np.zeros(len(doc_article), dtype=np.uint8), 0
    return base, step.astype(np.uint8), _ARTICLE_GROUP_SHIFT


@_kernel
def _top_rows(rows, sums, n, floor, k):  # pragma: no cover - compiled
    """The *k* best of the first *n* rows of :func:`_collect` (one field) by sum + floor, as
    (docs, values), best first (equal values: the lower document first)."""
    size = min(k, n)
    values = np.empty(size)
    docs = np.empty(size, dtype=np.int64)
    spare = np.empty(size)
    filled = 0
    for i in range(n):
        value = sums[i, 0] + floor
        doc = np.int64(rows[i])
        # Most rows are no better than the worst kept: decided here, without a call.
        if filled == size and _worse(value, doc, values[0], docs[0]):
            continue
        filled = _offer(values, docs, spare, filled, size, value, doc, 0.0)
    # Take the worst off the top until the heap is empty: the best end up first.
    for last in range(filled - 1, 0, -1):
        _swap(values, docs, spare, 0, last)
        _sift_down(values, docs, spare, last, 0)
    return docs, values


def best_positions(scores: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    """Positions of the *k* best, best first, equal scores by the lower document id."""
    k = max(0, min(k, len(scores)))
    # One compiled pass with a heap of k: numpy's partition, filter and sort cost an answer
    # about 0.05 ms in calls for twenty of a thousand.
    return _best_positions(
        np.ascontiguousarray(scores, dtype=np.float64), np.ascontiguousarray(docs, dtype=np.int64), k
    )


@_kernel
def _best_positions(scores, docs, k):  # pragma: no cover - compiled
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    values = np.empty(k)
    heap_docs = np.empty(k, dtype=np.int64)
    positions = np.empty(k, dtype=np.int64)
    filled = 0
    for i in range(len(scores)):
        value = scores[i]
        # Most candidates are no better than the worst kept: decided here, without a call.
        if filled == k and (value < values[0] or (value == values[0] and docs[i] > heap_docs[0])):
            continue
        filled = _offer(values, heap_docs, positions, filled, k, value, docs[i], i)
    # Take the worst off the top until the heap is empty: the best end up first.
    for last in range(filled - 1, 0, -1):
        _swap(values, heap_docs, positions, 0, last)
        _sift_down(values, heap_docs, positions, last, 0)
    return positions[:filled]


def best_set(scores: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    """Positions of the *k* best in no particular order (equal scores: the lower document)."""
    n = len(scores)
    if n <= k:
        return np.arange(n)
    # Compiled: as numpy's partition, filters and sort, five calls cost a thousand of two
    # thousand candidates 0.05 ms, five times the work itself.
    return _best_set(np.ascontiguousarray(scores, dtype=np.float64), np.ascontiguousarray(docs, dtype=np.int64), k)


@_kernel
def _best_set(scores, docs, k):  # pragma: no cover - compiled
    n = len(scores)
    kth = np.partition(scores, n - k)[n - k]
    out = np.empty(k, dtype=np.int64)
    m = 0
    tied = 0
    for i in range(n):
        if scores[i] > kth:
            out[m] = i
            m += 1
        elif scores[i] == kth:
            tied += 1
    at = np.empty(tied, dtype=np.int64)
    tied = 0
    for i in range(n):
        if scores[i] == kth:
            at[tied] = i
            tied += 1
    # The tied positions by document (stable: equal documents keep their order).
    by_doc = np.argsort(docs[at], kind="mergesort")
    for j in range(k - m):
        out[m + j] = at[by_doc[j]]
    return out


@_kernel
def _bm25_weight(variant, idf, tf, k1, norm, delta):  # pragma: no cover - compiled
    if variant == 0:
        return idf * (tf * (k1 + 1) / (tf + k1 * norm))
    if variant == 1:
        ctd = tf / norm
        return idf * tf * (k1 + 1) * (ctd + delta) / (k1 + ctd + delta)
    return idf * ((tf * (k1 + 1)) / (k1 * norm + tf))


# How many candidates ahead the n-gram kernel asks for each kind of data, in the order it needs
# them: a candidate's word offsets, then the words, then the words' records. Each step reads
# what the previous one fetched, and a few candidates of slack hide one fetch each. Measured at
# a million sentences: a fifth less time than without prefetching.
_AHEAD_DOC, _AHEAD_WORDS, _AHEAD_RECORDS = 16, 8, 3
# Candidates a thread of the n-gram kernel takes at a time: small enough that two threads finish
# together (a run costs about 30 microseconds at a million sentences), large enough for the
# prefetching.
_RUN = 16


@_kernel
def _composed_scores(
    records, doc_indptr, doc_words, doc_len, avgdl, lookup, counts, idf, variant, k1, b, delta, docs,
    scores, holds, taken, run,
):  # pragma: no cover - compiled
    """Scores each of *docs* into *scores*, and whether it holds a query term into *holds*.

    Works through runs of *run* candidates, taking the start of each from the counter
    ``taken[0]``: any number of threads may run this at once on the same arrays, and each
    scores the runs the others have not taken.
    """
    n = len(docs)
    n_query = len(counts)
    tf = np.zeros(n_query)
    while True:
        start = fetch_add(taken, 0, run)
        if start >= n:
            return
        stop = min(start + run, n)
        for i in range(start - _AHEAD_DOC, stop):
            if start <= i + _AHEAD_DOC < n:
                a = docs[i + _AHEAD_DOC]
                prefetch(doc_indptr, a)
                prefetch(doc_len, a)
            if start <= i + _AHEAD_WORDS < n:
                a = docs[i + _AHEAD_WORDS]
                prefetch(doc_words, doc_indptr[a])
                prefetch(doc_words, doc_indptr[a + 1] - 1)
            if start <= i + _AHEAD_RECORDS < n:
                a = docs[i + _AHEAD_RECORDS]
                for p in range(doc_indptr[a], doc_indptr[a + 1]):
                    prefetch(records, doc_words[p])
            if i < start:
                continue
            d = docs[i]
            for j in range(n_query):
                tf[j] = 0.0
            for p in range(doc_indptr[d], doc_indptr[d + 1]):
                at = doc_words[p]
                length = records[at]
                n_trigrams = (length + 1) >> 1
                first = at + 1
                # A four-gram of the question holds two of its trigrams, the ones at its own
                # position and the next (see the layout in trigram_overlap): a four-gram of this
                # word whose two trigrams are not both the question's is not looked up. Most
                # words share no trigram with the question, and skip half their n-grams.
                matched = np.uint64(0)
                for a in range(n_trigrams):
                    j = lookup[records[first + a]]
                    if j > 0:
                        tf[j - 1] += 1.0
                        if a < 64:
                            matched |= np.uint64(1) << np.uint64(a)
                if matched == 0 and n_trigrams <= 64:
                    continue
                for a in range(length - n_trigrams):
                    if a < 63 and (matched >> np.uint64(a)) & np.uint64(3) != np.uint64(3):
                        continue
                    j = lookup[records[first + n_trigrams + a]]
                    if j > 0:
                        tf[j - 1] += 1.0
            norm = 1.0 - b + b * doc_len[d] / avgdl if avgdl > 0 else 1.0
            total = 0.0
            held = False
            for j in range(n_query):
                if tf[j] > 0:
                    held = True
                    total += counts[j] * _bm25_weight(variant, idf[j], tf[j], k1, norm, delta)
            scores[i] = total
            holds[i] = held


@_parallel_kernel
def _composed_scores_shared(
    copies, records, doc_indptr, doc_words, doc_len, avgdl, lookup, counts, idf, variant, k1, b, delta, docs,
    scores, holds, taken, run,
):  # pragma: no cover - compiled
    """:func:`_composed_scores` on *copies* threads at once, sharing out the runs of *docs*."""
    for _copy in prange(copies):
        _composed_scores(
            records, doc_indptr, doc_words, doc_len, avgdl, lookup, counts, idf, variant, k1, b, delta, docs,
            scores, holds, taken, run,
        )


@_kernel
def _postings_hold(indptr, indices, terms, docs):  # pragma: no cover - compiled
    # The documents in order, each searched for from where the previous one was found, by
    # doubling steps: a thousand candidates in a list of half a million postings take a few
    # steps each instead of twenty, and the list is read front to back.
    out = np.zeros((len(docs), len(terms)), dtype=np.bool_)
    order = np.argsort(docs)
    for j in range(len(terms)):
        if terms[j] >= 0:
            _search_postings(indptr, indices, terms[j], docs, order, out, j)
    return out


@_kernel
def _search_postings(indptr, indices, t, docs, order, out, j):  # pragma: no cover - compiled
    """Column *j* of :func:`_postings_hold`: which of *docs* (visited in *order*, ascending)
    term *t* has."""
    lo = indptr[t]
    last = indptr[t + 1]
    for i in order:
        if lo >= last:
            break
        d = docs[i]
        step = 1
        hi = lo
        while hi < last and indices[hi] < d:
            lo = hi + 1
            hi += step
            step <<= 1
        lo = _lower_bound(indices, lo, min(hi, last), d)
        out[i, j] = lo < last and indices[lo] == d


@_kernel
def _held_or_found(held, masks, search, terms, indptr, indices, docs):  # pragma: no cover - compiled
    """:meth:`TermsHeld.holds`: each column from the documents' masks (*held*) where the term
    has a bit (*masks*), else from its postings where *search* says so, else False."""
    out = np.zeros((len(docs), len(terms)), dtype=np.bool_)
    order = np.empty(0, dtype=np.int64)
    for j in range(len(terms)):
        if masks[j] != 0:
            for i in range(len(docs)):
                out[i, j] = (held[i] & masks[j]) != 0
        elif search[j] and terms[j] >= 0:
            if len(order) != len(docs):
                order = np.argsort(docs)
            _search_postings(indptr, indices, terms[j], docs, order, out, j)
    return out


@_kernel
def _records_hold(records, doc_indptr, doc_words, terms, docs):  # pragma: no cover - compiled
    out = np.zeros((len(docs), len(terms)), dtype=np.bool_)
    for i in range(len(docs)):
        d = docs[i]
        for p in range(doc_indptr[d], doc_indptr[d + 1]):
            at = doc_words[p]
            for q in range(at + 1, at + 1 + records[at]):
                t = records[q]
                for j in range(len(terms)):
                    if terms[j] == t:
                        out[i, j] = True
    return out


@_kernel
def credits_from_holds(
    same_stem, same_root, overlap, n_words, alt_indptr, alt_probes, root_credit, typo_min
):  # pragma: no cover - compiled
    """Each question word's credit per document, as float[docs, words], from whether each
    probe word (the question's words, then their alternative spellings) has the same stem or
    root: 1 for the stem, *root_credit* for the root, else 0; with *overlap* (float[docs,
    probes]; no columns for none) a near spelling earns its overlap from *typo_min* on, when
    that is more. A word with alternatives gets the best of its own credit and the smallest of
    theirs (see confidence.py)."""
    n_docs = same_stem.shape[0]
    near = overlap.shape[1] > 0
    out = np.zeros((n_docs, n_words))
    for d in range(n_docs):
        for i in range(n_words):
            c = _probe_credit(same_stem, same_root, overlap, near, d, i, root_credit, typo_min)
            if alt_indptr[i + 1] > alt_indptr[i]:
                low = np.inf
                for q in range(alt_indptr[i], alt_indptr[i + 1]):
                    a = _probe_credit(same_stem, same_root, overlap, near, d, alt_probes[q], root_credit, typo_min)
                    low = min(low, a)
                c = max(c, low)
            out[d, i] = c
    return out


@_kernel
def _probe_credit(same_stem, same_root, overlap, near, d, p, root_credit, typo_min):  # pragma: no cover - compiled
    if same_stem[d, p]:
        return 1.0
    c = root_credit if same_root[d, p] else 0.0
    if near and overlap[d, p] >= typo_min:
        c = max(c, overlap[d, p])
    return c


@_kernel
def coverage_of_credits(credits, titled, weights):  # pragma: no cover - compiled
    """Per document, the weighted share of the question that *credits* (float[docs, words])
    cover, a word its article's title holds (*titled*, bool[docs, words]; no columns for
    none) counting as covered (see ``confidence.coverage_from_credits``)."""
    n_docs, n_words = credits.shape
    with_titles = titled.shape[1] > 0
    total = 0.0
    for i in range(n_words):
        total += weights[i]
    out = np.zeros(n_docs)
    if total == 0.0:
        return out
    for d in range(n_docs):
        covered = 0.0
        for i in range(n_words):
            c = credits[d, i]
            if with_titles and titled[d, i]:
                c = 1.0
            covered += weights[i] * c
        out[d] = covered / total
    return out


@_kernel
def coverage_beyond(credits, titled, weights):  # pragma: no cover - compiled
    """Per document, the weighted share of the question words its title does not hold (*titled*,
    bool[docs, words]) that *credits* (float[docs, words]) cover; 0 when the title holds them
    all. One pass instead of numpy steps over the arrays of a thousand candidates."""
    n_docs, n_words = credits.shape
    out = np.zeros(n_docs)
    for d in range(n_docs):
        total = 0.0
        covered = 0.0
        for i in range(n_words):
            if not titled[d, i]:
                total += weights[i]
                covered += credits[d, i] * weights[i]
        if total > 0:
            out[d] = covered / total
    return out


@_kernel
def rows_hold(indptr, indices, n_docs, word_indptr, word_rows, docs):  # pragma: no cover - compiled
    """For a TermSetIndex (*indptr*, *indices*, *n_docs*) and question words given as lists of
    its rows (*word_indptr*, *word_rows*), whether each of *docs* holds one of each word's rows,
    as bool[docs, words]. Each word marks its rows' documents once, then each of *docs* is
    looked up: a title word can hold thousands of articles, a binary search per candidate
    would read them a thousand times."""
    n_words = len(word_indptr) - 1
    out = np.zeros((len(docs), n_words), dtype=np.bool_)
    having = np.zeros(n_docs, dtype=np.bool_)
    for w in range(n_words):
        if word_indptr[w + 1] == word_indptr[w]:
            continue
        for r in range(word_indptr[w], word_indptr[w + 1]):
            row = word_rows[r]
            for i in range(indptr[row], indptr[row + 1]):
                having[indices[i]] = True
        for i in range(len(docs)):
            out[i, w] = having[docs[i]]
        for r in range(word_indptr[w], word_indptr[w + 1]):
            row = word_rows[r]
            for i in range(indptr[row], indptr[row + 1]):
                having[indices[i]] = False
    return out


_PROBES_PER_PASS = 64  # probe words whose trigrams one pass looks up together (a uint64 bit each)


@_kernel
def _trigram_overlap(records, doc_indptr, doc_words, probe_indptr, probe_terms, probe_sizes, docs):  # pragma: no cover
    n_probes = len(probe_sizes)
    out = np.zeros((len(docs), n_probes))
    # Which probes have each trigram, in a small open-addressing table that stays in L1: a
    # word's trigrams are looked up once each instead of compared with every probe's.
    size = 64
    while size < 4 * len(probe_terms):
        size <<= 1
    keys = np.full(size, -1, dtype=np.int64)
    holders = np.zeros(size, dtype=np.uint64)
    for j in range(n_probes):
        for q in range(probe_indptr[j], probe_indptr[j + 1]):
            t = probe_terms[q]
            h = (t * 2654435761) & (size - 1)
            while keys[h] != -1 and keys[h] != t:
                h = (h + 1) & (size - 1)
            keys[h] = t
            holders[h] |= np.uint64(1) << np.uint64(j)
    shared = np.zeros(n_probes, dtype=np.int64)
    n = len(docs)
    for i in range(-_AHEAD_DOC, n):
        # The hits' words are scattered over the word table: fetched a few documents ahead,
        # as in _composed_scores (half this kernel's time was waiting for them).
        if 0 <= i + _AHEAD_DOC < n:
            prefetch(doc_indptr, docs[i + _AHEAD_DOC])
        if 0 <= i + _AHEAD_WORDS < n:
            a = docs[i + _AHEAD_WORDS]
            prefetch(doc_words, doc_indptr[a])
            prefetch(doc_words, doc_indptr[a + 1] - 1)
        if 0 <= i + _AHEAD_RECORDS < n:
            a = docs[i + _AHEAD_RECORDS]
            for p in range(doc_indptr[a], doc_indptr[a + 1]):
                prefetch(records, doc_words[p])
        if i < 0:
            continue
        d = docs[i]
        for p in range(doc_indptr[d], doc_indptr[d + 1]):
            at = doc_words[p]
            n_trigrams = (records[at] + 1) // 2
            first = at + 1
            # Most words share no trigram with any probe: found out without the duplicate test.
            touched = np.uint64(0)
            for a in range(n_trigrams):
                t = records[first + a]
                h = (t * 2654435761) & (size - 1)
                while keys[h] != -1 and keys[h] != t:
                    h = (h + 1) & (size - 1)
                if keys[h] == t:
                    touched |= holders[h]
            if touched == 0:
                continue
            distinct = 0
            for a in range(n_trigrams):
                t = records[first + a]
                seen_before = False
                for b in range(a):
                    if records[first + b] == t:
                        seen_before = True
                        break
                if seen_before:
                    continue
                distinct += 1
                h = (t * 2654435761) & (size - 1)
                while keys[h] != -1 and keys[h] != t:
                    h = (h + 1) & (size - 1)
                if keys[h] == t:
                    m = holders[h]
                    for j in range(n_probes):
                        if (m >> np.uint64(j)) & np.uint64(1):
                            shared[j] += 1
            for j in range(n_probes):
                if shared[j]:
                    overlap = shared[j] / (probe_sizes[j] + distinct - shared[j])
                    if overlap > out[i, j]:
                        out[i, j] = overlap
                    shared[j] = 0
    return out


@_kernel
def _group_doc_freq(group_starts, doc_indptr, stream, extra_indptr, extra_stream, n_terms):  # pragma: no cover
    """In how many groups each term occurs (a group: stream-documents, then its extra part)."""
    doc_freq = np.zeros(n_terms, dtype=np.int64)
    last = np.full(n_terms, -1, dtype=np.int64)
    for g in range(len(group_starts) - 1):
        for p in range(doc_indptr[group_starts[g]], doc_indptr[group_starts[g + 1]]):
            t = stream[p]
            if last[t] != g:
                last[t] = g
                doc_freq[t] += 1
        for p in range(extra_indptr[g], extra_indptr[g + 1]):
            t = extra_stream[p]
            if last[t] != g:
                last[t] = g
                doc_freq[t] += 1
    return doc_freq


@_kernel
def _group_fill(group_starts, doc_indptr, stream, extra_indptr, extra_stream, indptr):  # pragma: no cover
    """Postings (groups in order within each term) and their term frequencies."""
    n_terms = len(indptr) - 1
    nnz = indptr[n_terms]
    indices = np.empty(nnz, dtype=np.int32)
    tf = np.zeros(nnz, dtype=np.int32)
    fill = indptr[:-1].copy()
    last = np.full(n_terms, -1, dtype=np.int64)
    slot = np.zeros(n_terms, dtype=np.int64)  # where the current group's entry of each term is
    for g in range(len(group_starts) - 1):
        for p in range(doc_indptr[group_starts[g]], doc_indptr[group_starts[g + 1]]):
            t = stream[p]
            if last[t] != g:
                last[t] = g
                slot[t] = fill[t]
                indices[fill[t]] = g
                fill[t] += 1
            tf[slot[t]] += 1
        for p in range(extra_indptr[g], extra_indptr[g + 1]):
            t = extra_stream[p]
            if last[t] != g:
                last[t] = g
                slot[t] = fill[t]
                indices[fill[t]] = g
                fill[t] += 1
            tf[slot[t]] += 1
    return indices, tf


@_kernel
def _fill_weights(indptr, indices, tf, idf, norm, variant, k1, delta, weight):  # pragma: no cover - compiled
    """The BM25 weight of each posting (*weight* may be *tf*'s memory: each count is read
    before its place is written)."""
    for t in range(len(indptr) - 1):
        for p in range(indptr[t], indptr[t + 1]):
            weight[p] = _bm25_weight(variant, idf[t], float(tf[p]), k1, norm[indices[p]], delta)


@_kernel
def _composed_doc_stats(doc_indptr, doc_words, records, n_terms):  # pragma: no cover
    """Each term's document frequency and each document's length in terms (in one pass: a
    per-token array of lengths would cost more memory than the index)."""
    doc_freq = np.zeros(n_terms, dtype=np.int64)
    doc_len = np.zeros(len(doc_indptr) - 1, dtype=np.float64)
    last = np.full(n_terms, -1, dtype=np.int64)
    for d in range(len(doc_indptr) - 1):
        length = 0
        for p in range(doc_indptr[d], doc_indptr[d + 1]):
            at = doc_words[p]
            length += records[at]
            for q in range(at + 1, at + 1 + records[at]):
                t = records[q]
                if last[t] != d:
                    last[t] = d
                    doc_freq[t] += 1
        doc_len[d] = length
    return doc_freq, doc_len


# --- building the fields of a corpus --------------------------------------------------------
#
# Analysing a million sentences word by word in Python would take minutes. Sentences are split
# into raw words by a compiled scanner that numbers them as it goes (retrieval/words.py), every
# distinct raw word is analysed once per field (in worker processes, while the sentences are
# still being read), and each field's term lists are then assembled with numpy. The result
# equals ``Analyzer.terms(sentence)`` for every sentence (the tests check it), because an
# analyzer's terms of a text are the terms of its words, in order.

_ANALYSES = itertools.count()
BATCH_SENTENCES = 20_000
_WORD_CHUNK = 25_000


@dataclass
class IndexParts:
    """Everything a search index computes from its corpus (what a snapshot saves)."""

    fields: list[BM25Index | ComposedIndex]
    article_index: BM25Index | None
    title_index: TermSetIndex
    doc_article: np.ndarray
    article_first: np.ndarray
    # The alias table for this corpus (the admins' groups and the names mined from the
    # sentences); set by the search index, which owns alias mining.
    aliases: object = None


def is_composed(position: int, kind: str) -> bool:
    """Whether field *position* of analyzer *kind* is kept as a :class:`ComposedIndex`.

    Character n-gram fields re-rank the candidates of the first field and the other stem
    fields: their postings would be ten times those of a stem field. The first field always
    has postings (it finds the candidates and gives the idf of the confidence).
    """
    return position > 0 and kind == "ngram"


class _Done:
    """A result computed on the spot, with the interface of a pool's AsyncResult."""

    def __init__(self, value: object) -> None:
        self._value = value

    def get(self) -> object:
        return self._value


class _Deferred:
    """A task for the analysis pool that is queued behind the word analysis (see
    :meth:`CorpusAnalyser.submit`), or when its result is asked for, whichever comes first."""

    def __init__(self, pool, func, args: tuple) -> None:
        self._pool, self._func, self._args = pool, func, args
        self._result = None

    def start(self) -> None:
        if self._result is None:
            self._result = self._pool.apply_async(self._func, self._args)

    def get(self) -> object:
        self.start()
        return self._result.get()


_worker_analyzers: list = []
# The worker's vocabularies for the analysis it is part of (see _analyse_words_in_worker).
_worker_vocabularies: dict[str, list[dict[str, int]]] = {}


def analysis_pool(kinds: Sequence[str], workers: int):
    """Worker processes ready to analyse text for analyzers of *kinds* (see CorpusAnalyser).

    Spawned, not forked: the serving process has threads (and their locks).
    """
    import multiprocessing

    return multiprocessing.get_context("spawn").Pool(workers, _init_worker, (list(kinds),))


def _init_worker(kinds: Sequence[str]) -> None:
    from .arabic import Analyzer

    _worker_analyzers[:] = [Analyzer(kind) for kind in kinds]


def _analyse_words_in_worker(words: Sequence[str], analysis: str) -> tuple[int, list]:
    """:func:`_analyse_words` in a pool worker, numbering terms in the vocabularies this worker
    keeps for *analysis* (one CorpusAnalyser's); returns the worker's pid with the result."""
    vocabularies = _worker_vocabularies.get(analysis)
    if vocabularies is None:
        # Earlier analyses' vocabularies go, the oldest first; a few are kept in case analyses
        # ever share a pool at the same time (dropping one in use would misnumber its terms).
        while len(_worker_vocabularies) >= 4:
            del _worker_vocabularies[next(iter(_worker_vocabularies))]
        vocabularies = _worker_vocabularies[analysis] = [{} for _ in _worker_analyzers]
    return os.getpid(), _analyse_words(words, _worker_analyzers, vocabularies)


def _analyse_words(
    words: Sequence[str], analyzers: Sequence, vocabularies: Sequence[dict[str, int]]
) -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    """Each analyzer's terms for each raw word, as (terms new to its vocabulary, indptr, term
    ids), the ids numbered in *vocabularies* (one per analyzer, kept between calls).

    Kept between calls, a worker's vocabulary sends each term once: sent per chunk of words,
    the main process merged 2.2 million terms into 660 thousand at a million sentences, about
    3 s on the reindex's critical path.
    """
    from .arabic import normalize

    out = []
    norms = [normalize(w) for w in words]
    for analyzer, vocabulary in zip(analyzers, vocabularies, strict=True):
        stop = getattr(analyzer, "_stop_words", None)
        known_before = len(vocabulary)
        add = vocabulary.setdefault
        done: dict[str, list[int]] = {}  # spelling variants share a normalised form
        ids: list[int] = []
        indptr = np.zeros(len(words) + 1, dtype=np.int64)
        for i, (raw, norm) in enumerate(zip(words, norms, strict=True)):
            known = done.get(norm)
            if known is None:
                if stop is not None:
                    terms = analyzer.word_terms(norm) if norm and norm not in stop else ()
                else:  # an analyzer without a stop list attribute: ask it (slower, same result)
                    terms = [t for tok in analyzer.words(raw) for t in analyzer.word_terms(tok.norm)]
                known = done[norm] = [add(t, len(vocabulary)) for t in terms]
            ids.extend(known)
            indptr[i + 1] = len(ids)
        new = list(itertools.islice(vocabulary, known_before, None))  # dicts keep insertion order
        out.append((new, indptr, np.asarray(ids, dtype=np.int32)))
    return out


def _merge_vocabulary(target: dict[str, int], local: Sequence[str]) -> np.ndarray:
    add = target.setdefault
    return np.fromiter((add(t, len(target)) for t in local), dtype=np.int32, count=len(local))


def _expand(doc_indptr, doc_words, word_indptr, word_terms) -> tuple[np.ndarray, np.ndarray]:
    """Each document's term stream: the terms of its words, in order."""
    lengths = np.diff(word_indptr)
    if len(lengths) and lengths.max() <= 1:  # stems: one term or none per word
        term_of = np.full(len(lengths), -1, dtype=np.int32)
        has = lengths == 1
        term_of[has] = word_terms[word_indptr[:-1][has]]
        return _map_stream(doc_indptr, doc_words, term_of)
    per_token = lengths[doc_words]
    cumulative = np.concatenate(([0], np.cumsum(per_token, dtype=np.int64)))
    offsets = np.arange(cumulative[-1], dtype=np.int64) - np.repeat(cumulative[:-1], per_token)
    positions = np.repeat(word_indptr[:-1][doc_words], per_token) + offsets
    return word_terms[positions].astype(np.int32), cumulative[doc_indptr]


@_kernel
def _map_stream(doc_indptr, doc_words, term_of):  # pragma: no cover - compiled
    """Each document's words mapped to their one term (words without one dropped)."""
    indptr = np.zeros(len(doc_indptr), dtype=np.int64)
    kept = 0
    for d in range(len(doc_indptr) - 1):
        for p in range(doc_indptr[d], doc_indptr[d + 1]):
            if term_of[doc_words[p]] >= 0:
                kept += 1
        indptr[d + 1] = kept
    stream = np.empty(kept, dtype=np.int32)
    at = 0
    for p in range(len(doc_words)):
        t = term_of[doc_words[p]]
        if t >= 0:
            stream[at] = t
            at += 1
    return stream, indptr


class CorpusAnalyser:
    """Analyses sentences batch by batch (bounded memory), then builds the index parts.

    Each batch's raw words are found and numbered here (see :mod:`retrieval.words`); with
    *workers* > 1 the words seen for the first time are analysed in that many worker processes
    while the caller goes on reading the next batch.
    """

    def __init__(self, kinds: Sequence[str], *, workers: int = 1, pool=None) -> None:
        from .arabic import Analyzer

        self.kinds = list(kinds)
        self.analyzers = [Analyzer(kind) for kind in self.kinds]
        self._words = WordTable()
        self._counts: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        # Distinct words not yet sent for analysis, and the analyses sent, in word order.
        self._unsent: list[str] = []
        self._analysing: list = []
        self._deferred: list[_Deferred] = []  # see submit()
        # What names this analysis's vocabularies in the workers (see _analyse_words_in_worker).
        self._analysis = f"{os.getpid()}:{next(_ANALYSES)}"
        # A pool handed in (from analysis_pool, for the same kinds) stays its owner's to close.
        self._own_pool = pool is None and workers > 1
        self._pool = analysis_pool(self.kinds, workers) if self._own_pool else pool
        # How many tasks given to submit() run at once.
        self.workers = max(1, workers) if self._pool is not None else 1

    def add(self, texts: Sequence[str]) -> None:
        """Analyse the next sentences (in document order)."""
        parts = [t.encode("utf-8", "surrogatepass") for t in texts]
        self.add_utf8(b"".join(parts), np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)))

    def add_utf8(self, data: bytes, lengths: np.ndarray) -> None:
        """Analyse the next sentences, given as one UTF-8 buffer and each one's length in bytes.

        With workers, the words seen for the first time are analysed while the caller reads on.
        """
        counts, ids = self._words.add(data, lengths)
        self._counts.append(counts)
        self._ids.append(ids)
        if self._pool is not None:
            self._unsent.extend(self._words.new_words())
            if len(self._unsent) >= _WORD_CHUNK:
                self._send_words()

    def _send_words(self) -> None:
        for i in range(0, len(self._unsent), _WORD_CHUNK):
            chunk = self._unsent[i : i + _WORD_CHUNK]
            self._analysing.append(self._pool.apply_async(_analyse_words_in_worker, (chunk, self._analysis)))
        self._unsent = []

    def submit(self, func, *args):
        """Run ``func(*args)`` in a worker beside the analysis (in place without workers);
        returns an object whose ``get()`` gives the result.

        The task is queued behind the analysis of the vocabulary in :meth:`build`: ahead of it,
        it held one of the two workers while the other analysed every word alone, and behind
        it, it runs while this process assembles the fields.
        """
        if self._pool is None:
            return _Done(func(*args))
        task = _Deferred(self._pool, func, args)
        self._deferred.append(task)
        return task

    def close(self) -> None:
        """Stop the worker processes it started (also on errors)."""
        if self._pool is not None and self._own_pool:
            self._pool.terminate()
            self._pool.join()
        self._pool = None

    def __enter__(self) -> CorpusAnalyser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _analyse_vocabulary(self) -> list[tuple[dict[str, int], np.ndarray, np.ndarray]]:
        if self._pool is not None:
            self._unsent.extend(self._words.new_words())
            self._send_words()
            results = (task.get() for task in self._analysing)
            for task in self._deferred:
                task.start()
            self._deferred = []
        else:
            words = self._words.words()
            chunks = [words[i : i + _WORD_CHUNK] for i in range(0, len(words), _WORD_CHUNK)]
            local: list[dict[str, int]] = [{} for _ in self.kinds]
            results = ((0, _analyse_words(chunk, self.analyzers, local)) for chunk in chunks)
        merged: list[tuple[dict[str, int], list[np.ndarray], list[np.ndarray]]] = [
            ({}, [np.zeros(1, dtype=np.int64)], []) for _ in self.kinds
        ]
        # Per worker and field: the id in the merged vocabulary of each term the worker numbered.
        # A worker's results come in the order it numbered them (it takes tasks in order).
        merged_ids: dict[int, list[np.ndarray]] = {}
        for worker, result in results:
            mapping = merged_ids.setdefault(worker, [np.empty(0, dtype=np.int32) for _ in self.kinds])
            for field_no, ((vocabulary, indptrs, ids), (new, indptr, local_ids)) in enumerate(
                zip(merged, result, strict=True)
            ):
                start = indptrs[-1][-1] if len(indptrs) > 1 else 0
                indptrs.append(indptr[1:] + start)
                if new:
                    mapping[field_no] = np.concatenate((mapping[field_no], _merge_vocabulary(vocabulary, new)))
                ids.append(mapping[field_no][local_ids])
        return [
            (vocabulary, np.concatenate(indptrs), np.concatenate(ids) if ids else np.empty(0, dtype=np.int32))
            for vocabulary, indptrs, ids in merged
        ]

    def build(
        self,
        config,
        doc_article: np.ndarray,
        article_first: np.ndarray,
        titles: Sequence[str],
        *,
        dtype: type = np.float32,
    ) -> IndexParts:
        """The index parts for *config* (a ``SearchConfig``) over every sentence added."""
        counts = np.concatenate(self._counts) if self._counts else np.empty(0, dtype=np.int64)
        doc_indptr = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        doc_words = np.concatenate(self._ids) if self._ids else np.empty(0, dtype=np.int32)
        self._counts, self._ids = [], []
        analysed = self._analyse_vocabulary()
        self._words = WordTable()
        self._analysing = []
        fields: list[BM25Index | ComposedIndex] = []
        primary_stream = primary_indptr = None
        last = len(analysed) - 1
        for position, (spec, (vocabulary, word_indptr, word_terms)) in enumerate(
            zip(config.fields, analysed, strict=True)
        ):
            if is_composed(position, spec.analyzer):
                # Words without terms dropped in one pass: a mask and a cumulative count over
                # every token would cost more memory than the index being built.
                kept = np.where(np.diff(word_indptr) > 0, np.arange(len(word_indptr) - 1, dtype=np.int32), -1)
                kept_words, kept_indptr = _map_stream(doc_indptr, doc_words, kept)
                if position == last:
                    doc_words = None  # not held through the last field's build
                fields.append(
                    ComposedIndex.build(
                        vocabulary, word_indptr, np.asarray(word_terms, dtype=np.int32),
                        kept_indptr, kept_words, spec.params,
                    )
                )
                del kept_words, kept_indptr
                continue
            stream, indptr = _expand(doc_indptr, doc_words, word_indptr, word_terms)
            if position == last:
                doc_words = None  # not held through the last field's build
            every = np.arange(len(indptr), dtype=np.int64)
            fields.append(BM25Index.from_streams(vocabulary, every, indptr, stream, spec.params, dtype=dtype))
            if position == 0:
                primary_stream, primary_indptr = stream, indptr
            del stream
        del doc_words
        primary = self.analyzers[0]
        title_terms = [primary.terms(title) for title in titles]
        article_index = None
        if config.article_weight and len(titles) and fields and not isinstance(fields[0], ComposedIndex):
            article_index = _article_index(
                fields[0].vocabulary, primary_stream, primary_indptr, np.asarray(doc_article), title_terms,
                config.article_params, dtype,
            )
        return IndexParts(
            fields=fields,
            article_index=article_index,
            title_index=TermSetIndex.build(title_terms),
            doc_article=np.ascontiguousarray(doc_article, dtype=np.int32),
            article_first=np.ascontiguousarray(article_first, dtype=np.int32),
        )


def _article_index(
    vocabulary: Mapping[str, int],
    stream: np.ndarray,
    doc_indptr: np.ndarray,
    doc_article: np.ndarray,
    title_terms: Sequence[Sequence[str]],
    params: BM25Params,
    dtype: type,
) -> BM25Index:
    """BM25 over articles: each article is its sentences' terms followed by its title's."""
    n_articles = len(title_terms)
    extra: dict[str, int] = {}
    title_ids: list[int] = []
    title_indptr = np.zeros(n_articles + 1, dtype=np.int64)
    for article, terms in enumerate(title_terms):
        for term in terms:
            term_id = vocabulary.get(term)
            if term_id is None:
                term_id = len(vocabulary) + extra.setdefault(term, len(extra))
            title_ids.append(term_id)
        title_indptr[article + 1] = len(title_ids)
    merged = ExtendedVocabulary(vocabulary, extra)
    titles = np.asarray(title_ids, dtype=np.int32)
    if len(doc_article) and np.any(np.diff(doc_article) < 0):
        # Sentences not grouped by article: put each article's sentences together first.
        order = np.argsort(doc_article, kind="stable")
        lengths = np.diff(doc_indptr)[order]
        starts = np.repeat(doc_indptr[:-1][order], lengths)
        offsets = np.arange(lengths.sum(), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        stream = stream[starts + offsets]
        doc_indptr = np.concatenate(([0], np.cumsum(lengths)))
        doc_article = doc_article[order]
    group_starts = np.searchsorted(doc_article, np.arange(n_articles + 1), side="left").astype(np.int64)
    return BM25Index.from_streams(
        merged, group_starts, doc_indptr, stream, params, extra_indptr=title_indptr, extra_stream=titles, dtype=dtype
    )


def build_parts(
    config,
    texts: Iterable[str],
    doc_article: np.ndarray,
    article_first: np.ndarray,
    titles: Sequence[str],
    *,
    workers: int = 1,
    dtype: type = np.float32,
) -> IndexParts:
    """Analyse *texts* (the sentences, in document order) and build the parts for *config*."""
    with CorpusAnalyser([f.analyzer for f in config.fields], workers=workers) as analyser:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == BATCH_SENTENCES:
                analyser.add(batch)
                batch = []
        if batch:
            analyser.add(batch)
        return analyser.build(config, doc_article, article_first, titles, dtype=dtype)


if numba is None:  # pragma: no cover
    log.warning("numba is not installed: indexing and search work, but slowly on large corpora")
