"""The index built for scale ranks exactly like the plain construction it replaces.

The fast build (raw words analysed once each, fields assembled with numpy, optionally in worker
processes) must give every field the terms ``Analyzer.terms`` gives; the n-gram field without
postings must score like a postings index; the ranking kernels must rank like a dense sum.
"""

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25L, BM25Okapi, BM25Plus

import retrieval.index as index_module
from retrieval.arabic import Analyzer
from retrieval.documents import load_paths
from retrieval.index import (
    BM25Index,
    BM25Params,
    ComposedIndex,
    CorpusAnalyser,
    Ranker,
    _Scratch,
    best_positions,
    best_set,
    build_parts,
    top_k,
)
from retrieval.search import ArticleRecord, FieldConfig, SearchConfig, SearchIndex, SentenceRecord
from retrieval.sentences import split_sentences

from .conftest import SEEDS

REFERENCE = {"okapi": BM25Okapi, "l": BM25L, "plus": BM25Plus}

# Text that exercises the analysis: diacritics and tatweel inside words, Arabic-Indic digits with
# separators, Latin glued to digits, a presentation-form ligature, invisible characters, a word
# made of marks only, stop words and repeated words.
TRICKY = [
    "كَتَبَ الطّالِبُ الــدرسَ في عام ٢٠٢٣م وباعت Great Wall ١٫١١ مليون سيارة.",
    "قال ﷺ إن x5 و2023م و1.002.000 أرقام\u200c مختلفة\u200f تماما ًً.",
    "ما هو الذكاء الاصطناعي؟ الذكاء الاصطناعي هو الذكاء الذي تبديه الآلات.",
    "ﻻ شيء هنا سوى الكلمات الكلمات الكلمات!",
]


def seed_texts() -> list[str]:
    texts = []
    for doc in load_paths([SEEDS]).documents:
        texts.extend(doc.text[s.start : s.end] for s in split_sentences(doc.text))
    return texts + TRICKY


def records(texts: list[str], per_article: int = 5):
    articles, sentences = [], []
    for a, start in enumerate(range(0, len(texts), per_article)):
        chunk = texts[start : start + per_article]
        first = len(sentences)
        for pos, text in enumerate(chunk, 1):
            sentences.append(SentenceRecord(len(sentences), a, pos, 0, len(text), text))
        articles.append(ArticleRecord(a, " ".join(chunk[0].split()[:4]), f"s{a}", None, first, len(chunk)))
    return articles, sentences


CONFIG = SearchConfig(
    fields=(
        FieldConfig("light", 1.0, BM25Params("plus", 0.2, 0.0)),
        FieldConfig("ngram", 2.0, BM25Params("plus", 0.2, 0.0)),
        FieldConfig("root", 0.3, BM25Params("plus", 0.2, 0.0)),
    ),
    article_weight=1.0,
    title_weight=4.0,
    lead_weight=0.6,
    article_params=BM25Params("plus", 0.2, 0.0),
)


def build(texts, config=CONFIG, workers=1):
    articles, sentences = records(texts)
    with CorpusAnalyser([f.analyzer for f in config.fields], workers=workers) as analyser:
        analyser.add(texts)
        return analyser.build(
            config,
            np.array([s.article for s in sentences], dtype=np.int32),
            np.array([a.first_doc for a in articles], dtype=np.int32),
            [a.title for a in articles],
            dtype=np.float64,
        )


QUERIES = ["متى تخطط شاومي لإنتاج أول سيارة؟", "كم سيارة باعت Great Wall؟", "الذكاء الاصطناعي الكلمات", "٢٠٢٣ x5 ﷺ"]


def test_fast_build_gives_every_field_the_analyzers_terms():
    texts = seed_texts()
    parts = build(texts)
    for position, spec in enumerate(CONFIG.fields):
        analyzer = Analyzer(spec.analyzer)
        expected = BM25Index.build([analyzer.terms(t) for t in texts], spec.params)
        field = parts.fields[position]
        assert set(field.vocabulary) == set(expected.vocabulary)
        for question in QUERIES + texts[:5]:
            query = analyzer.terms(question)
            np.testing.assert_allclose(field.dense_scores(query), expected.dense_scores(query), rtol=1e-12, atol=1e-12)


def test_ngram_field_is_kept_without_postings_and_scores_like_rank_bm25():
    texts = seed_texts()
    grams = Analyzer("ngram")
    docs = [grams.terms(t) for t in texts]
    for variant in ("okapi", "l", "plus"):
        config = SearchConfig(fields=(FieldConfig("light"), FieldConfig("ngram", 1.0, BM25Params(variant, 1.2, 0.75))))
        field = build(texts, config).fields[1]
        assert isinstance(field, ComposedIndex)
        theirs = REFERENCE[variant](docs, k1=1.2, b=0.75)
        for question in QUERIES:
            query = grams.terms(question)
            np.testing.assert_allclose(field.dense_scores(query), theirs.get_scores(query), rtol=1e-9, atol=1e-12)
        query = grams.terms(QUERIES[0])
        some = np.array([3, 0, 7])
        scores, holds = field.score_docs(query, some)
        held, all_scores = field.score(query, with_floor=False)
        dense = np.zeros(len(texts))
        dense[held] = all_scores
        np.testing.assert_allclose(scores, dense[some])
        assert holds.tolist() == np.isin(some, held).tolist()


_LETTERS = "ابتسمنلو"


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.text(_LETTERS, min_size=1, max_size=7) | st.text("اب", min_size=60, max_size=70), max_size=8),
        min_size=1,
        max_size=12,
    ),
    asked=st.lists(st.text(_LETTERS, min_size=1, max_size=7) | st.text("اب", min_size=60, max_size=70), min_size=1, max_size=4),
)
@example(texts=[["ب" * 66 + "ت", "سبت"]], asked=["بت"])  # the only shared trigrams past the 64th
def test_ngram_scores_equal_rank_bm25_for_any_words(texts, asked):
    # The n-gram kernel skips a four-gram unless both trigrams inside it are the question's:
    # words of one and two letters (one n-gram, or a four-gram that is the whole marked word),
    # repeated n-grams, and words longer than the 64 trigrams it keeps track of.
    grams = Analyzer("ngram")
    sentences = [" ".join([*words, "قلم"]) for words in texts]
    config = SearchConfig(fields=(FieldConfig("light"), FieldConfig("ngram", 1.0, BM25Params("okapi", 1.2, 0.75))))
    field = build(sentences, config).fields[1]
    assert isinstance(field, ComposedIndex)
    theirs = BM25Okapi([grams.terms(t) for t in sentences], k1=1.2, b=0.75)
    query = grams.terms(" ".join(asked))
    np.testing.assert_allclose(field.dense_scores(query), theirs.get_scores(query), rtol=1e-9, atol=1e-12)


def test_article_index_equals_articles_as_documents():
    texts = seed_texts()
    articles, sentences = records(texts)
    parts = build(texts)
    light = Analyzer("light")
    per_article = [[] for _ in articles]
    for s in sentences:
        per_article[s.article].extend(light.terms(s.text))
    for i, a in enumerate(articles):
        per_article[i].extend(light.terms(a.title))
    expected = BM25Index.build(per_article, CONFIG.article_params)
    for question in QUERIES:
        query = light.terms(question)
        np.testing.assert_allclose(
            parts.article_index.dense_scores(query), expected.dense_scores(query), rtol=1e-12, atol=1e-12
        )
    overlap = parts.title_index.overlap({"شاومي", "سيار", "غير موجود"})
    titles = [frozenset(light.terms(a.title)) for a in articles]
    assert overlap.tolist() == [len({"شاومي", "سيار", "غير موجود"} & t) for t in titles]


def dense_reference(index: SearchIndex, question: str, k: int) -> list[tuple[int, float]]:
    """The ranking as the index computed it before the kernels: every field scores every
    sentence, each normalised by its best, summed with the context (n-grams over all).

    A stem-field term found in more of the sentences than its field's ``reach`` share only adds
    to the sentences the other terms reach (after them), unless no term reaches any."""
    expanded = index.expand(question)
    terms = frozenset(index.primary.terms(expanded))
    n = len(index)
    fields = list(zip(index.analyzers, index.fields, index.config.fields, strict=True))
    stems = [(field, cfg, *field.query(a.terms(expanded))) for a, field, cfg in fields if not isinstance(field, ComposedIndex)]
    stems = [(field, cfg, ids, counts) for field, cfg, ids, counts in stems if cfg.weight]

    def postings(field, term):
        span = slice(field._indptr[term], field._indptr[term + 1])
        return field._indices[span], field._data[span].astype(np.float64)

    reaching = [[len(postings(f, t)[0]) <= cfg.reach * n for t in ids] for f, cfg, ids, _ in stems]
    if not any(any(r) for r in reaching):
        reaching = [[True] * len(r) for r in reaching]
    reached = np.zeros(n, dtype=bool)
    for (field, _cfg, ids, _counts), reach in zip(stems, reaching, strict=True):
        for term, reaches in zip(ids, reach, strict=True):
            if reaches:
                reached[postings(field, term)[0]] = True
    total = np.zeros(n)
    counted = np.zeros(n, dtype=bool)
    for (field, cfg, ids, counts), reach in zip(stems, reaching, strict=True):
        sums = np.zeros(n)
        holds = np.zeros(n, dtype=bool)
        for first in (True, False):  # the terms that reach, then the others, each in question order
            for term, count, reaches in zip(ids, counts, reach, strict=True):
                if reaches == first:
                    docs, weights = postings(field, term)
                    keep = reached[docs]
                    sums[docs[keep]] += count * weights[keep]
                    holds[docs[keep]] = True
        best = sums[reached].max() if reached.any() else 0.0
        if best > 0:
            total += sums * (cfg.weight / best)
            counted |= holds
    for analyzer, field, cfg in fields:
        if not isinstance(field, ComposedIndex) or not cfg.weight:
            continue
        # The n-grams re-rank the candidates, normalised by their best among them.
        docs, scores = field.score(analyzer.terms(expanded), with_floor=False)
        keep = counted[docs]
        docs, scores = docs[keep], scores[keep]
        if len(docs) and scores.max() > 0:
            total[docs] += scores * (cfg.weight / scores.max())
    docs = np.flatnonzero(counted)
    scores = total[docs] + index._context(docs, expanded, terms, question)
    order = np.lexsort((docs, -scores))[:k]
    return [(int(docs[i]), float(scores[i])) for i in order]


def assert_ranks_like_dense_reference(index: SearchIndex, questions: list[str], k: int) -> None:
    """The index's *k* best for each question are the dense reference's, in order, same scores."""
    for question in questions:
        ours = [(h.doc, h.score) for h in index.search(question, k).hits]
        reference = dense_reference(index, question, k)
        assert [d for d, _ in ours] == [d for d, _ in reference], question
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in reference], rtol=1e-9)


def random_questions(
    texts: list[str], seed: int, prefix: str, n_prefixed: int, sizes: tuple[int, int], n_mixed: int
) -> list[str]:
    """QUERIES, then *n_prefixed* questions of *prefix* and one corpus word, then *n_mixed* of a
    few corpus words each (*sizes*: fewest and most), drawn with *seed*."""
    rng = random.Random(seed)
    words = " ".join(texts).split()
    questions = QUERIES + [prefix + rng.choice(words) for _ in range(n_prefixed)]
    return questions + [" ".join(rng.sample(words, rng.randint(*sizes))) for _ in range(n_mixed)]


@pytest.mark.parametrize("roots_reach", [True, False], ids=["roots-reach", "roots-add"])
@pytest.mark.parametrize("block", [8192, 7, 64], ids=lambda b: f"block-{b}")
def test_kernels_rank_like_a_dense_sum_when_the_rerank_depth_covers_everything(block, roots_reach, monkeypatch):
    # Small blocks of documents: postings cross many block edges and some blocks are empty.
    monkeypatch.setattr(_Scratch, "BLOCK", block)
    # Repeated sentences: many exact ties, broken by position; over 256 sentences, so that
    # articles are read from more than one group of the compact form.
    texts = seed_texts() * 9
    articles, sentences = records(texts)
    # Roots found in more than a fifth of the sentences only add to what other terms reach.
    config = dataclasses.replace(
        CONFIG, fields=tuple(dataclasses.replace(f, reach=0.2) if f.analyzer == "root" else f for f in CONFIG.fields)
    ) if not roots_reach else CONFIG
    index = SearchIndex(articles, sentences, config)
    questions = random_questions(texts, 4, "ما هو ", 10, (2, 6), 40)
    # Past the 56 question terms with a bit of their own: the others share one per field.
    questions += random_questions(texts, 5, "", 0, (60, 80), 3)[len(QUERIES) :]
    assert_ranks_like_dense_reference(index, questions, 10)


@pytest.mark.parametrize("before", [0, 57], ids=["short", "past-the-own-bits"])
def test_only_a_field_with_a_positive_best_makes_a_document_a_candidate(before):
    # Okapi gives a word in every document a negative weight: the second field's best is not
    # positive, so the documents only it reaches are not candidates; with *before* other terms
    # of the first field asked first, its term has no bit of its own but its field's.
    okapi = BM25Params("okapi", 1.2, 0.75)
    filler = [f"w{i}" for i in range(before)]
    first = BM25Index.build([["a", *filler], ["b"], ["c"]], okapi)
    second = BM25Index.build([["x"], ["x"], ["x"]], okapi)
    assert first.score(["a"])[1][0] > 0 and second.score(["x"])[1].max() < 0
    ranker = Ranker(3, np.arange(3, dtype=np.int32), np.arange(3, dtype=np.int32), 2)
    ranked = ranker.rank([(first, [*filler, "a"], 1.0), (second, ["x"], 1.0)], [], None, 0.0, 10, 10)
    assert ranked.docs.tolist() == [0]
    assert ranked.reached == 3


def test_a_common_term_of_a_field_that_reaches_little_only_adds_to_what_other_terms_reach():
    # Documents 0-1 hold the stem, 1-3 the root "r" (in 3 of 4 documents), 3 the root "x": with
    # roots reaching no document alone, "r" adds to 1 (normalised by its best among 0-1, so
    # document 1 gets the root's full weight) and brings in neither 2 nor 3.
    plus = BM25Params("plus", 0.2, 0.0)
    stems = BM25Index.build([["a"], ["a"], ["b"], ["c"]], plus)
    roots = BM25Index.build([["r"], ["r", "r", "r"], ["r", "r", "r", "r"], ["x"]], plus)
    ranker = Ranker(4, np.arange(4, dtype=np.int32), np.arange(4, dtype=np.int32), 2)
    fields = [(stems, ["a"], 1.0), (roots, ["r"], 0.5)]
    ranked = ranker.rank(fields, [], None, 0.0, 10, 10, reach=[1.0, 0.0])
    assert ranked.docs.tolist() == [1, 0]
    root = dict(zip(*(part.tolist() for part in roots.score(["r"], with_floor=False)), strict=True))
    assert ranked.scores.tolist() == pytest.approx([1.5, 1.0 + 0.5 * root[0] / root[1]])
    assert ranked.reached == 2
    # Reaching, the root brings in document 2 and is normalised by its best there.
    assert ranker.rank(fields, [], None, 0.0, 10, 10).docs.tolist() == [1, 0, 2]
    # Up to half the documents: the rare "x" reaches document 3, the common "r" still only adds.
    both = ranker.rank([(stems, ["a"], 1.0), (roots, ["r", "x"], 0.5)], [], None, 0.0, 10, 10, reach=[1.0, 0.5])
    assert sorted(both.docs.tolist()) == [0, 1, 3]
    # With no stem of the question in the corpus, the root reaches documents after all.
    alone = ranker.rank([(stems, ["z"], 1.0), (roots, ["r"], 0.5)], [], None, 0.0, 10, 10, reach=[1.0, 0.0])
    assert alone.docs.tolist() == [2, 1, 0]
    # The field that reaches may come second: it is still the one that decides.
    swapped = ranker.rank([(roots, ["r"], 0.5), (stems, ["a"], 1.0)], [], None, 0.0, 10, 10, reach=[0.0, 1.0])
    assert swapped.docs.tolist() == [1, 0]
    with pytest.raises(ValueError):
        ranker.rank(fields, [], None, 0.0, 10, 10, reach=[1.0])


@pytest.mark.parametrize("ordered", [True, False])
def test_a_candidate_score_ranks_the_candidates_before_the_ngrams_score_the_best_few(ordered):
    # The caller's numbers are computed for every candidate, added (normalised, weighted) before
    # the n-grams, which then score only the best few; the numbers follow the documents returned.
    from retrieval.index import CandidateScore

    index = SearchIndex(*records(seed_texts()), CONFIG)
    fields = [(f, a.terms(QUERIES[1]), 1.0) for f, a in zip(index.fields, index.analyzers, strict=True)]
    postings = [field for field in fields if isinstance(field[0], BM25Index)]
    rerank = [field for field in fields if isinstance(field[0], ComposedIndex)]
    assert postings and rerank
    seen, scored = [], []
    pre, given = {}, {}

    def compute(candidates):
        seen.append(len(candidates.docs))
        # The worst by the fields get the most: a heavy weight puts them first.
        values = candidates.scores.max() - candidates.scores
        pre.update(zip(candidates.docs.tolist(), candidates.scores.tolist(), strict=True))
        given.update(zip(candidates.docs.tolist(), values.tolist(), strict=True))
        return values

    original = ComposedIndex.score_docs

    def counting(self, tokens, docs, workers=None):
        scored.append(len(docs))
        return original(self, tokens, docs, workers)

    ComposedIndex.score_docs = counting
    try:
        ranked = index._ranker.rank(
            postings, rerank, None, 0.0, 3, 50, ordered=ordered, candidate=CandidateScore(compute, 100.0, 4)
        )
    finally:
        ComposedIndex.score_docs = original
    assert seen and seen[0] > 4 and scored == [4] and len(ranked.docs) == 3
    worst = sorted(pre, key=lambda d: (pre[d], d))[:4]
    assert set(ranked.docs.tolist()) <= set(worst)
    assert ranked.candidate.tolist() == [given[d] for d in ranked.docs.tolist()]


@pytest.mark.parametrize("k", [1, 3, 10])
def test_the_best_few_are_chosen_exactly_among_many_ties(k):
    # Without a re-rank field only k documents are kept from the first stage, so the selection
    # of the best among thousands (repeated sentences: exact ties, broken by position) decides.
    from dataclasses import replace

    config = replace(CONFIG, fields=tuple(f for f in CONFIG.fields if f.analyzer != "ngram"))
    texts = seed_texts() * 5
    articles, sentences = records(texts)
    index = SearchIndex(articles, sentences, config)
    questions = random_questions(texts, 9, "في ", 10, (1, 4), 30)
    assert_ranks_like_dense_reference(index, questions, k)


@pytest.mark.parametrize("threads", [2, 3])
def test_a_question_split_between_threads_ranks_as_on_one(threads, monkeypatch):
    # Every question split however small: ranges of 7-document blocks, candidates taken by the
    # threads two at a time, with the beyond-title coverage before the n-grams or not at all.
    from dataclasses import replace

    import retrieval.index

    monkeypatch.setattr(_Scratch, "BLOCK", 7)
    monkeypatch.setattr(Ranker, "SMALLEST_PART", 1)
    monkeypatch.setattr(ComposedIndex, "SMALLEST_PART", 1)
    monkeypatch.setattr(retrieval.index, "_RUN", 2)
    texts = seed_texts() * 3  # exact ties across the parts, broken by position
    articles, sentences = records(texts)
    questions = random_questions(texts, 11, "", 0, (1, 6), 40)
    # Every candidate re-ranked, or the best five of the parts' best.
    for depth, beyond, ngrams in ((1000, 0.0, 200), (5, 0.0, 200), (1000, 2.5, 1000), (1000, 2.5, 5)):
        config = replace(CONFIG, rerank_depth=depth, beyond_title_weight=beyond, ngram_depth=ngrams)
        alone = SearchIndex(articles, sentences, config)
        split = SearchIndex(articles, sentences, replace(config, threads=threads), parts=alone.parts)
        assert split.workers.threads == threads
        for question in questions:
            one = [(h.doc, h.score, h.match) for h in alone.search(question, 10).hits]
            assert [(h.doc, h.score, h.match) for h in split.search(question, 10).hits] == one, question
        if depth > len(sentences) and not beyond:
            assert_ranks_like_dense_reference(split, questions, 10)


def test_a_question_asked_while_another_is_answered_is_not_split():
    # Two questions split in two on two cores would each wait for the other's slowest part.
    from retrieval.compiled import may_split
    from retrieval.parallel import Workers

    split = 2 if may_split() else 1
    workers = Workers(2)
    with workers.turn() as first:
        with workers.turn() as second:
            assert (first, second) == (split, 1)
    with workers.turn() as alone:
        assert alone == split
    with pytest.raises(RuntimeError), workers.turn():
        raise RuntimeError("a failed question")
    with workers.turn() as after_a_failure:
        assert after_a_failure == split


def test_questions_asked_at_once_from_several_threads_rank_as_one_at_a_time(monkeypatch):
    # Each asking thread has its own work arrays, split questions or not: eight threads asking
    # at once get what one thread gets asking alone.
    import threading

    import retrieval.index

    monkeypatch.setattr(_Scratch, "BLOCK", 7)
    monkeypatch.setattr(Ranker, "SMALLEST_PART", 1)
    monkeypatch.setattr(ComposedIndex, "SMALLEST_PART", 1)
    monkeypatch.setattr(retrieval.index, "_RUN", 2)
    from dataclasses import replace

    texts = seed_texts() * 2
    articles, sentences = records(texts)
    index = SearchIndex(articles, sentences, replace(CONFIG, beyond_title_weight=2.5, threads=2))
    questions = random_questions(texts, 13, "", 0, (1, 6), 30)
    expected = {q: [(h.doc, h.score) for h in index.search(q, 10).hits] for q in questions}
    assert sum(1 for hits in expected.values() if hits) > 20
    wrong: list[str] = []
    start = threading.Barrier(8)

    def ask(offset: int) -> None:
        start.wait()
        for _ in range(3):
            for question in questions[offset:] + questions[:offset]:
                if [(h.doc, h.score) for h in index.search(question, 10).hits] != expected[question]:
                    wrong.append(question)

    askers = [threading.Thread(target=ask, args=(4 * i,)) for i in range(8)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=120)
    assert not any(asker.is_alive() for asker in askers)
    assert wrong == []


@pytest.mark.parametrize("threads", [1, 2])
def test_beyond_title_reads_the_terms_the_postings_pass_found_as_the_postings_hold_them(threads, monkeypatch):
    # The beyond-title coverage of a thousand candidates, and the hits' confidence, take their
    # stems and roots from the masks the postings pass records; searching the postings for them
    # must rank the same, split between threads over 7-document blocks, and past the 64
    # question terms with a bit.
    from dataclasses import replace

    from retrieval.index import TermsHeld

    monkeypatch.setattr(_Scratch, "BLOCK", 7)
    monkeypatch.setattr(Ranker, "SMALLEST_PART", 1)
    monkeypatch.setattr(ComposedIndex, "SMALLEST_PART", 1)
    texts = seed_texts() * 2
    articles, sentences = records(texts)
    index = SearchIndex(articles, sentences, replace(CONFIG, beyond_title_weight=2.5, threads=threads))
    rng = random.Random(5)
    words = " ".join(texts).split()
    questions = random_questions(texts, 7, "", 0, (1, 8), 40) + [" ".join(rng.sample(words, 90)) for _ in range(3)]
    # The hits' confidence reads the same masks.
    recorded = [[(h.doc, h.score, h.confidence) for h in index.search(q, 10).hits] for q in questions]

    def nothing_recorded(self, index, term_ids):
        return np.zeros(len(term_ids), dtype=np.uint64), [c for c, t in enumerate(term_ids) if t >= 0]

    monkeypatch.setattr(TermsHeld, "term_masks", nothing_recorded)
    assert [[(h.doc, h.score, h.confidence) for h in index.search(q, 10).hits] for q in questions] == recorded


def test_article_context_is_the_normalised_article_score_plus_the_title_share():
    # Computed in one pass over the articles; these are the numpy steps it replaced.
    texts = seed_texts()
    articles, sentences = records(texts)
    from dataclasses import replace

    config = replace(CONFIG, article_weight=1.7, title_weight=3.3)
    index = SearchIndex(articles, sentences, config)
    applied = 0
    for question in [*random_questions(texts, 6, "ما ", 5, (1, 6), 30), "؟", "zzz"]:
        expanded = index.expand(question)
        terms = frozenset(index.primary.terms(expanded))
        scores = index._article_index.dense_weights(index.primary.terms(expanded))
        expected = np.zeros(len(articles))
        if scores.max() > 0:
            expected += scores / scores.max() * config.article_weight
        if terms:
            expected += config.title_weight * (index._title_index.overlap(terms) / len(terms))
        got = index._article_extra(expanded, terms)
        if got is None:
            assert not terms and not expected.any(), question
        else:
            np.testing.assert_array_equal(got, expected)
            applied += bool(expected.any())
    assert applied > 20


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "out-of-order"])
def test_a_documents_article_is_read_back_from_the_compact_form(shuffled):
    from retrieval.index import _compact_articles

    rng = np.random.default_rng(3)
    # Articles of 1 to 600 sentences: groups of 256 documents spanning 1 to 256 articles.
    sizes = np.concatenate([rng.integers(1, 3, 300), rng.integers(1, 600, 40), np.ones(256, dtype=np.int64)])
    doc_article = np.repeat(np.arange(len(sizes)), sizes).astype(np.int32)
    if shuffled:
        doc_article = rng.permutation(doc_article).astype(np.int32)
    base, step, shift = _compact_articles(doc_article)
    docs = np.arange(len(doc_article))
    assert np.array_equal(base[docs >> shift] + step[docs], doc_article)
    assert step.dtype == np.uint8
    assert (shift == 0) == shuffled  # out of order: the plain array


def test_the_rerank_depth_limits_the_ngram_work_not_the_candidates():
    texts = seed_texts()
    articles, sentences = records(texts)
    shallow = SearchIndex(articles, sentences, _with_depth(1))
    hits = shallow.search("كم سيارة باعت Great Wall؟", 5).hits
    assert len(hits) == 5  # every candidate is still ranked by the stem fields and context
    assert hits == sorted(hits, key=lambda h: (-h.score, h.doc))


def _with_depth(depth: int) -> SearchConfig:
    from dataclasses import replace

    return replace(CONFIG, rerank_depth=depth)


@pytest.mark.parametrize("chunk", [None, 7])
def test_analysis_in_worker_processes_builds_the_same_index(chunk, monkeypatch):
    # With small chunks each worker numbers many in turn, each with the terms it has seen.
    if chunk is not None:
        monkeypatch.setattr(index_module, "_WORD_CHUNK", chunk)
    texts = seed_texts()
    alone, pooled = build(texts), build(texts, workers=2)
    for one, two in zip(alone.fields, pooled.fields, strict=True):
        assert dict(one.vocabulary) == dict(two.vocabulary)
        np.testing.assert_array_equal(one.idf, two.idf)
    np.testing.assert_array_equal(alone.fields[0].weights.toarray(), pooled.fields[0].weights.toarray())
    np.testing.assert_array_equal(alone.fields[1].word_records, pooled.fields[1].word_records)


@pytest.mark.parametrize("workers", [1, 2])
def test_work_submitted_beside_the_analysis_gives_its_result_with_or_without_a_build(workers):
    # With worker processes a submitted task waits behind the word analysis of build(), or
    # starts when its result is asked for first.
    texts = seed_texts()
    articles, sentences = records(texts)
    with CorpusAnalyser([f.analyzer for f in CONFIG.fields], workers=workers) as analyser:
        analyser.add(texts)
        before = analyser.submit(sorted, [3, 1, 2])
        parts = analyser.build(
            CONFIG,
            np.array([s.article for s in sentences], dtype=np.int32),
            np.array([a.first_doc for a in articles], dtype=np.int32),
            [a.title for a in articles],
        )
        after = analyser.submit(len, texts)
        assert before.get() == [1, 2, 3]
        assert after.get() == len(texts)
    assert len(parts.fields) == len(CONFIG.fields)


def test_an_empty_corpus_builds_and_answers_nothing():
    parts = build_parts(CONFIG, [], np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), [])
    index = SearchIndex([], [], CONFIG, parts=parts)
    assert index.search("أي سؤال", 5).hits == []


@pytest.mark.parametrize("variant", ["okapi", "plus"])
def test_float32_fields_rank_like_float64(variant):
    texts = seed_texts()
    analyzer = Analyzer("light")
    docs = [analyzer.terms(t) for t in texts]
    exact = BM25Index.build(docs, BM25Params(variant, 0.2, 0.0))
    small = BM25Index.build(docs, BM25Params(variant, 0.2, 0.0), dtype=np.float32)
    for question in QUERIES:
        query = analyzer.terms(question)
        np.testing.assert_allclose(small.dense_scores(query), exact.dense_scores(query), rtol=1e-6)


@pytest.mark.parametrize("variant", ["okapi", "plus"])
@pytest.mark.parametrize("block", [_Scratch.BLOCK, 7])
def test_top_k_selects_like_sorting_every_score(variant, block, monkeypatch):
    # top_k sums a block of documents at a time, score() over all at once: the same scores to
    # the last bit, the same order, whether one block holds every document or hundreds do.
    monkeypatch.setattr(_Scratch, "BLOCK", block)
    rng = random.Random(2)
    vocabulary = [f"w{i}" for i in range(40)]
    docs = [rng.choices(vocabulary, k=rng.randint(1, 6)) for _ in range(3000)]  # many exact ties
    index = BM25Index.build(docs, BM25Params(variant, 1.2, 0.75))
    for _ in range(30):
        query = rng.choices(vocabulary, k=rng.randint(1, 5))  # a repeated word counts twice
        for k in (1, 10, 5000):
            assert index.top_k(query, k) == top_k(*index.score(query), k)


@settings(deadline=None)  # the first example compiles the kernel
@given(
    documents=st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=6), min_size=1, max_size=60),
    asked=st.lists(st.integers(min_value=0, max_value=10**6), max_size=40),
    words=st.lists(st.sampled_from("abcdefghz"), min_size=1, max_size=5),
)
def test_holds_finds_each_documents_terms_in_any_order_of_documents(documents, asked, words):
    # Candidates come unsorted and repeated; a term the corpus lacks (-1) is held by none.
    index = BM25Index.build(documents)
    docs = np.array([a % len(documents) for a in asked], dtype=np.int64)
    terms = [index.vocabulary.get(w, -1) for w in words]
    expected = [[w in documents[d] for w in words] for d in docs.tolist()]
    assert index.holds(np.array(terms, dtype=np.int64), docs).tolist() == expected


@settings(deadline=None)  # best_positions is a kernel now: the first example may compile it
@given(
    scores=st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 7.25]), max_size=300),
    k=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_the_best_few_are_picked_like_a_full_sort_among_ties(scores, k, seed):
    # A handful of values over hundreds of documents: most of them tie at the k-th value.
    values = np.array(scores, dtype=np.float64)
    docs = np.random.default_rng(seed).permutation(len(values)).astype(np.int64)
    expected = np.lexsort((docs, -values))[:k]
    assert best_positions(values, docs, k).tolist() == expected.tolist()
    assert sorted(best_set(values, docs, k).tolist()) == sorted(expected.tolist())


def test_the_kernels_stay_within_their_arrays(tmp_path):
    # numba does not check indices unless asked: run a search with checks on, where every
    # sentence of each 7-sentence block is reached by both postings fields (a full block), and
    # split between threads.
    script = """
from retrieval.index import ComposedIndex, Ranker, _Scratch
from retrieval.search import ArticleRecord, SearchIndex, SentenceRecord
from bot.service import search_config
from bot.settings import Settings
_Scratch.BLOCK = 7
Ranker.SMALLEST_PART = ComposedIndex.SMALLEST_PART = 1
texts = [f"الميناء الكبير في المدينة رقم {i}" for i in range(40)]
articles = [ArticleRecord(0, "الميناء", "s", None, 0, len(texts))]
sentences = [SentenceRecord(i, 0, i, 0, len(t), t) for i, t in enumerate(texts)]
index = SearchIndex(articles, sentences, search_config(Settings(search_threads=2)))
for question in ("الميناء الكبير", "ما هو الميناء", "المدينه رقم 7"):
    assert index.search(question, 5).hits, question
"""
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


_ONE_LAYER_SCRIPT = """
import json, sys, threading
import numba
import retrieval.compiled
from retrieval.index import ComposedIndex, Ranker, _Scratch
from retrieval.search import SearchIndex
from bot.service import search_config
from bot.settings import Settings
from tests.test_scale_index import random_questions, records, seed_texts
_Scratch.BLOCK = 7
Ranker.SMALLEST_PART = ComposedIndex.SMALLEST_PART = 1
texts = seed_texts()
articles, sentences = records(texts)
index = SearchIndex(articles, sentences, search_config(Settings(search_threads=2)))
questions = random_questions(texts, 3, "", 0, (1, 6), 20)
answers = {}

def ask(questions):
    for question in questions:
        answers[question] = [(h.doc, h.score) for h in index.search(question, 5).hits]

# Four threads at once: numba's work queue would abort the process if these loops ran on it.
askers = [threading.Thread(target=ask, args=(questions[i::4],)) for i in range(4)]
for asker in askers:
    asker.start()
for asker in askers:
    asker.join()
try:
    layer = numba.threading_layer()  # the layer parallel loops were started on
except ValueError:  # none was started
    layer = None
print(json.dumps({"parallel": retrieval.compiled.PARALLEL, "layer": layer, "answers": answers}))
"""


def test_without_a_thread_safe_layer_questions_are_answered_on_one_thread_the_same():
    # Where neither OpenMP nor TBB loads (asked for here by naming numba's own work queue), the
    # parallel loops are compiled as plain loops, not read from the cache where the parallel
    # builds are: none starts on the work queue, and the answers are the same.
    root = Path(__file__).resolve().parents[1]

    def run(layer: str | None) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
        if layer:
            env["NUMBA_THREADING_LAYER"] = layer
        done = subprocess.run(
            [sys.executable, "-c", _ONE_LAYER_SCRIPT], env=env, cwd=root, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    alone, default = run("workqueue"), run(None)
    assert (alone["parallel"], alone["layer"]) == (False, None)
    assert default["parallel"] is True and default["layer"] in ("omp", "tbb")  # CI installs libgomp1
    assert alone["answers"] == default["answers"]
    assert sum(1 for hits in alone["answers"].values() if hits) > 15


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_process_forked_after_split_questions_answers_them_the_same(monkeypatch):
    # GNU OpenMP ends a forked child that starts a parallel loop: a prefork server, or Linux's
    # default multiprocessing, forked after the bot had answered would lose every worker.
    monkeypatch.setattr(_Scratch, "BLOCK", 7)
    monkeypatch.setattr(Ranker, "SMALLEST_PART", 1)
    monkeypatch.setattr(ComposedIndex, "SMALLEST_PART", 1)
    texts = seed_texts()
    articles, sentences = records(texts)
    index = SearchIndex(articles, sentences, dataclasses.replace(CONFIG, threads=2))
    questions = random_questions(texts, 9, "", 0, (1, 6), 12)
    here = {q: [(h.doc, h.score) for h in index.search(q, 5).hits] for q in questions}
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which never returns to pytest
        code = 1
        try:
            there = {q: [(h.doc, h.score) for h in index.search(q, 5).hits] for q in questions}
            os.write(write, json.dumps(there).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        received = pipe.read()
    _, status = os.waitpid(child, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the child ended with status {status}"
    assert {q: [tuple(hit) for hit in hits] for q, hits in json.loads(received).items()} == here
    assert sum(1 for hits in here.values() if hits) > 8
