"""The BM25 index scores exactly like rank-bm25 while reading only the postings it needs."""

import random

import numpy as np
import pytest
from rank_bm25 import BM25L, BM25Okapi, BM25Plus

from retrieval.arabic import Analyzer
from retrieval.documents import load_paths
from retrieval.index import BM25Index, BM25Params, top_k
from retrieval.sentences import split_sentences

REFERENCE = {"okapi": BM25Okapi, "l": BM25L, "plus": BM25Plus}


def seed_sentences(seeds_dir):
    texts = []
    for doc in load_paths([seeds_dir]).documents:
        texts.extend(doc.text[s.start : s.end] for s in split_sentences(doc.text))
    return texts


def generated_corpus(n_docs=10_000, seed=7):
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(3000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipfian
    return [rng.choices(vocabulary, weights, k=rng.randint(3, 30)) for _ in range(n_docs)]


def reference(variant, docs, k1, b):
    cls = REFERENCE[variant]
    return cls(docs, k1=k1, b=b)


@pytest.mark.parametrize("variant", ["okapi", "l", "plus"])
@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.2, 0.0)])
def test_scores_equal_rank_bm25_on_the_seeds(seeds_dir, variant, k1, b):
    analyzer = Analyzer("light")
    docs = [analyzer.terms(t) for t in seed_sentences(seeds_dir)]
    ours = BM25Index.build(docs, BM25Params(variant, k1, b))
    theirs = reference(variant, docs, k1, b)
    for question in ["متى تخطط شاومي لإنتاج أول سيارة؟", "كم سيارة باعت Great Wall في العام الماضي؟", "سيارات سيارات Xiaomi"]:
        query = analyzer.terms(question)
        np.testing.assert_allclose(ours.dense_scores(query), theirs.get_scores(query), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("variant", ["okapi", "l", "plus"])
def test_scores_equal_rank_bm25_on_10k_generated_sentences(variant):
    docs = generated_corpus()
    ours = BM25Index.build(docs, BM25Params(variant, 1.2, 0.75))
    theirs = reference(variant, docs, 1.2, 0.75)
    rng = random.Random(1)
    for _ in range(25):
        query = [*rng.sample(docs, 1)[0][:5], f"w{rng.randint(0, 3500)}"]
        np.testing.assert_allclose(ours.dense_scores(query), theirs.get_scores(query), rtol=1e-9, atol=1e-12)


def test_query_touches_only_matching_documents():
    docs = [["a", "b"], ["c"], ["a"], ["d", "d"]] * 1000
    index = BM25Index.build(docs)
    matched, _scores = index.score(["a", "zzz"])
    assert len(matched) == 2000  # only the documents that contain "a"
    assert set(matched % 4) == {0, 2}
    assert index.score(["unknown"])[0].size == 0


def test_top_k_breaks_ties_by_position():
    docs = np.array([9, 3, 5, 1, 7])
    scores = np.array([1.0, 2.0, 2.0, 2.0, 0.5])
    assert top_k(docs, scores, 2) == [(1, 2.0), (3, 2.0)]
    assert top_k(docs, scores, 10)[-1] == (7, 0.5)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        BM25Params("bm99")
    with pytest.raises(ValueError):
        BM25Params("okapi", b=2.0)
