"""BM25 over postings, with the exact scores of rank-bm25.

The weights of every (term, document) pair are computed once at build time into a sparse
matrix with one row per term (CSR). A query reads only the rows of its terms, so its cost
follows the postings it touches, not the size of the corpus. For the same token lists and
parameters, scores equal those of ``rank_bm25``'s BM25Okapi, BM25L or BM25Plus.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

VARIANTS = ("okapi", "l", "plus")


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


class BM25Index:
    """An immutable BM25 index over documents given as token lists."""

    def __init__(
        self,
        vocabulary: dict[str, int],
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

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], params: BM25Params | None = None) -> BM25Index:
        """Index *documents* (one token list each, in document-id order)."""
        params = params or BM25Params()
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[int] = []
        lengths = np.zeros(len(documents), dtype=np.float64)
        for doc_id, tokens in enumerate(documents):
            lengths[doc_id] = len(tokens)
            for term, tf in Counter(tokens).items():
                term_id = vocabulary.setdefault(term, len(vocabulary))
                rows.append(term_id)
                cols.append(doc_id)
                tfs.append(tf)
        n_docs = len(documents)
        row = np.asarray(rows, dtype=np.int64)
        col = np.asarray(cols, dtype=np.int64)
        tf = np.asarray(tfs, dtype=np.float64)
        doc_freq = np.bincount(row, minlength=len(vocabulary)).astype(np.float64)
        idf = _idf(params.variant, doc_freq, n_docs, params.epsilon)
        avgdl = float(lengths.sum() / n_docs) if n_docs else 0.0
        if avgdl > 0:
            norm = 1 - params.b + params.b * lengths[col] / avgdl
        else:
            norm = np.ones_like(tf)
        k1 = params.k1
        if params.variant == "okapi":
            weight = idf[row] * (tf * (k1 + 1) / (tf + k1 * norm))
        elif params.variant == "l":
            delta = params.effective_delta
            ctd = tf / norm
            weight = idf[row] * tf * (k1 + 1) * (ctd + delta) / (k1 + ctd + delta)
        else:
            # BM25+ gives every document idf*delta for each known query term; only the part
            # above that floor is stored, the floor is added per query (see score()).
            weight = idf[row] * ((tf * (k1 + 1)) / (k1 * norm + tf))
        matrix = sparse.csr_matrix(
            (weight, (row, col)), shape=(len(vocabulary), n_docs), dtype=np.float64
        )
        matrix.sort_indices()
        return cls(vocabulary, matrix, idf, n_docs, params)

    def __len__(self) -> int:
        return self.n_docs

    def term_ids(self, tokens: Sequence[str]) -> Counter[int]:
        """Known terms of a query with how often each occurs (unknown terms score nothing)."""
        ids: Counter[int] = Counter()
        for token in tokens:
            term_id = self.vocabulary.get(token)
            if term_id is not None:
                ids[term_id] += 1
        return ids

    def floor(self, query_ids: Counter[int]) -> float:
        """Score every document gets from the query regardless of its words (BM25+ only)."""
        if self.params.variant != "plus":
            return 0.0
        delta = self.params.effective_delta
        return float(sum(self.idf[t] * delta * c for t, c in query_ids.items()))

    def score(self, tokens: Sequence[str], *, with_floor: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Documents that contain a query term and their scores, ordered by document id.

        A repeated query token counts once per occurrence, as in rank-bm25. Documents not
        returned score :meth:`floor` (zero except for BM25+); *with_floor* False leaves the
        floor out of the returned scores too (same ranking, scores relative to "no match").
        """
        query_ids = self.term_ids(tokens)
        if not query_ids:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        parts_docs = []
        parts_weights = []
        for term_id, count in query_ids.items():
            lo, hi = self._indptr[term_id], self._indptr[term_id + 1]
            parts_docs.append(self._indices[lo:hi])
            weights = self._data[lo:hi]
            parts_weights.append(weights * count if count != 1 else weights)
        if len(parts_docs) == 1:
            docs, scores = parts_docs[0].astype(np.int64), parts_weights[0].copy()
        else:
            all_docs = np.concatenate(parts_docs)
            docs, inverse = np.unique(all_docs, return_inverse=True)
            scores = np.bincount(inverse, weights=np.concatenate(parts_weights), minlength=len(docs))
        floor = self.floor(query_ids) if with_floor else 0.0
        if floor:
            scores = scores + floor
        return docs.astype(np.int64), scores

    def dense_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """Scores of every document (for checks against rank-bm25, not for serving)."""
        docs, scores = self.score(tokens)
        out = np.full(self.n_docs, self.floor(self.term_ids(tokens)), dtype=np.float64)
        out[docs] = scores
        return out

    def top_k(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The *k* best documents, ties broken by the lower document id."""
        docs, scores = self.score(tokens)
        return top_k(docs, scores, k)


def top_k(docs: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best *k* (doc, score) pairs; equal scores keep document order (stable, deterministic)."""
    if k <= 0 or len(docs) == 0:
        return []
    if len(docs) > k:
        # Partition on the negated scores, then include every document tied with the k-th
        # so that the final stable sort, not the partition, decides among equals.
        kth = -np.partition(-scores, k - 1)[k - 1]
        keep = np.flatnonzero(scores >= kth)
        docs, scores = docs[keep], scores[keep]
    order = np.lexsort((docs, -scores))[:k]
    return [(int(docs[i]), float(scores[i])) for i in order]
