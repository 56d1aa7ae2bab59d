"""Tune and cross-validate the retrieval configuration on a SQuAD-format file.

For every question the per-field BM25 scores (normalised per question), the article score, the
title match and the definition prior are computed once; a grid of weights is then scored with
numpy. Folds are over articles, so a tuned weight is always judged on articles it never saw.

A sentence is judged as the service quotes it: longer than ``--quote-max-chars`` (default the
``QUOTE_MAX_CHARS`` default, 220; 0 for whole sentences), it is the excerpt the service would
show, right only when that excerpt shows the answer, and the median quote is the excerpts'.

    python bench/tune_retrieval.py ../shared/eval/arcd-train.json [--folds 5] [--quote-max-chars 220]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import excerpt
from bot.evaluation import gold_sentences, load_questions, quote_is_right
from bot.settings import Settings
from retrieval.documents import load_paths
from retrieval.index import BM25Params
from retrieval.search import ArticleRecord, FieldConfig, SearchConfig, SearchIndex, SentenceRecord
from retrieval.sentences import split_sentences

FIELDS = ("light", "ngram", "root", "snowball")


def records(path: Path, **split_kw):
    docs = load_paths([path]).documents
    articles, sentences = [], []
    for a, doc in enumerate(docs):
        first = len(sentences)
        for pos, span in enumerate(split_sentences(doc.text, **split_kw), 1):
            text = doc.text[span.start : span.end]
            sentences.append(SentenceRecord(len(sentences), a, pos, span.start, span.end, text))
        articles.append(ArticleRecord(a, doc.title, doc.source, None, first, len(sentences) - first))
    return articles, sentences


def features(path: Path, k1: float, b: float, variant: str, split_kw: dict, quote_max_chars: int = 0):
    articles, sentences = records(path, **split_kw)
    config = SearchConfig(
        fields=tuple(FieldConfig(f, 1.0, BM25Params(variant, k1, b)) for f in FIELDS),
        article_weight=1.0, title_weight=1.0, lead_weight=1.0,
    )
    index = SearchIndex(articles, sentences, config)
    questions = load_questions(path)
    n = len(sentences)
    feats = np.zeros((len(questions), len(FIELDS) + 3, n))
    gold = np.zeros((len(questions), n), dtype=bool)
    doc_article = index.doc_article
    title_terms = index._title_terms
    firsts = np.array([a.first_doc for a in articles])
    golds = []
    for qi, q in enumerate(questions):
        text = index.expand(q.question)
        for fi, (analyzer, field) in enumerate(zip(index.analyzers, index.fields, strict=True)):
            docs, scores = field.score(analyzer.terms(text), with_floor=False)
            if len(docs) and scores.max() > 0:
                feats[qi, fi, docs] = scores / scores.max()
        terms = index.primary.terms(text)
        a_docs, a_scores = index._article_index.score(terms, with_floor=False)
        if len(a_docs) and a_scores.max() > 0:
            per_article = np.zeros(len(articles))
            per_article[a_docs] = a_scores / a_scores.max()
            feats[qi, len(FIELDS)] = per_article[doc_article]
        tset = frozenset(terms)
        if tset:
            share = np.array([len(tset & t) / len(tset) for t in title_terms])
            feats[qi, len(FIELDS) + 1] = share[doc_article]
        if index._is_definition(q.question):
            feats[qi, len(FIELDS) + 2, firsts] = 1.0
        gold_texts = gold_sentences(index, q)
        golds.append(gold_texts)
        for d, s in enumerate(sentences):
            gold[qi, d] = quote_is_right(q, articles[s.article].source, s.start, s.end, s.text, gold_texts)
    lengths = np.array([len(s.text) for s in sentences])
    # The service quotes a sentence repeated word for word once (the best-ranked copy).
    same_words: dict[str, int] = {}
    text_ids = np.array([same_words.setdefault(" ".join(s.text.split()), len(same_words)) for s in sentences])
    q_articles = np.array([q.article for q in questions])
    # Only the best candidates can reach the top 10; keep 80 per question (by an unweighted
    # sum, position order kept so that ties still break by position).
    keep = np.sort(np.argsort(-feats.sum(axis=1), axis=1, kind="stable")[:, :80], axis=1)
    feats = np.take_along_axis(feats, keep[:, None, :], axis=2).astype(np.float32)
    gold = np.take_along_axis(gold, keep, axis=1)
    lengths = lengths[keep]
    if quote_max_chars:
        # Long candidates as the service quotes them (the excerpt depends on the question and
        # the sentence only, not on the weights being tuned).
        for qi, q in enumerate(questions):
            asked = excerpt.asked(q.question, index.idf, index.aliases)
            for k, d in enumerate(keep[qi].tolist()):
                s = sentences[d]
                if len(s.text) <= quote_max_chars:
                    continue
                first, last = excerpt.choose(s.text, asked, articles[s.article].title, quote_max_chars)
                lengths[qi, k] = last - first
                if gold[qi, k]:
                    gold[qi, k] = quote_is_right(
                        q, articles[s.article].source, s.start + first, s.start + last, s.text[first:last],
                        golds[qi], sentence=(s.start, s.text),
                    )
    return feats, gold, lengths, q_articles, text_ids[keep]


_EARLIER = np.tril(np.ones((30, 30), dtype=bool), -1)  # [j, i]: position i comes before j


def measure(feats, gold, lengths, weights, mask, text_ids):
    """P@1, R@3, MRR@10 and the median length of the first quote of the questions in *mask*
    ranked with *weights*, then those first quotes' lengths (as quoted: excerpts when long)."""
    scores = np.einsum("f,qfd->qd", weights, feats[mask])
    any_match = feats[mask, : len(FIELDS)].max(axis=1) > 0
    scores = np.where(any_match, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :30]
    ids = np.take_along_axis(text_ids[mask], order, axis=1)
    n = ids.shape[1]
    repeat = ((ids[:, :, None] == ids[:, None, :]) & _EARLIER[:n, :n]).any(axis=2)
    rank = np.cumsum(~repeat, axis=1)  # position among the distinct sentences
    g = np.take_along_axis(gold[mask], order, axis=1)
    g &= np.take_along_axis(any_match, order, axis=1) & ~repeat & (rank <= 10)
    at = g.argmax(axis=1)
    first = np.where(g.any(axis=1), rank[np.arange(len(at)), at], 0)
    p1 = float(np.mean(first == 1))
    r3 = float(np.mean((first >= 1) & (first <= 3)))
    mrr = float(np.mean(np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)))
    first_lengths = np.take_along_axis(lengths[mask], order[:, :1], axis=1)[:, 0]
    return p1, r3, mrr, float(statistics.median(first_lengths)), first_lengths


GRID = {
    "light": [1.0],
    "ngram": [1.0, 1.5, 2.0],
    "root": [0.0, 0.15, 0.3],
    "snowball": [0.0, 0.25],
    "article": [0.5, 1.0, 1.5, 2.0],
    "title": [2.0, 3.0, 4.0, 5.0, 7.0],
    "lead": [0.0, 0.2, 0.4, 0.6],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--k1", type=float, nargs="+", default=[0.2])
    parser.add_argument("--b", type=float, nargs="+", default=[0.0])
    parser.add_argument("--variant", default="plus")
    parser.add_argument("--max-chars", type=int, nargs="+", default=[0], help="long-sentence split (0: off)")
    parser.add_argument(
        "--quote-max-chars", type=int, default=Settings().quote_max_chars,
        help="judge sentences longer than this as the excerpt the service quotes (0: whole sentences)",
    )
    args = parser.parse_args()
    grid = [np.array(w) for w in itertools.product(*GRID.values())]
    print(f"{len(grid)} weight combinations; folds over articles: {args.folds}")
    for k1, b, max_chars in itertools.product(args.k1, args.b, args.max_chars):
        started = time.perf_counter()
        split_kw = {"max_chars": max_chars} if max_chars else {}
        feats, gold, lengths, q_articles, text_ids = features(
            args.file, k1, b, args.variant, split_kw, args.quote_max_chars
        )
        articles = sorted(set(q_articles.tolist()))
        random.Random(13).shuffle(articles)
        fold_of = {a: i % args.folds for i, a in enumerate(articles)}
        folds = np.array([fold_of[a] for a in q_articles])
        held = []
        chosen = []
        for f in range(args.folds):
            train, test = folds != f, folds == f
            best = max(grid, key=lambda w: measure(feats, gold, lengths, w, train, text_ids)[:3])
            chosen.append(best)
            held.append((measure(feats, gold, lengths, best, test, text_ids), test.sum()))
        total = sum(n for _, n in held)
        cv = [sum(m[i] * n for m, n in held) / total for i in range(3)]
        # The median quote of the held-out folds' first quotes, each with its fold's weights.
        cv.append(statistics.median(x for m, _ in held for x in m[4]))
        every = np.ones(len(folds), bool)
        full_best = max(grid, key=lambda w: measure(feats, gold, lengths, w, every, text_ids)[:3])
        full = measure(feats, gold, lengths, full_best, every, text_ids)
        base = measure(feats, gold, lengths, np.array([1, 0, 0, 0, 0, 0, 0.0]), every, text_ids)
        print(
            f"k1={k1} b={b} max_chars={max_chars} quote_max_chars={args.quote_max_chars}: "
            f"light only P@1 {base[0]:.3f} R@3 {base[1]:.3f} MRR {base[2]:.3f} median {base[3]:.0f} "
            f"| CV P@1 {cv[0]:.3f} R@3 {cv[1]:.3f} "
            f"MRR {cv[2]:.3f} median {cv[3]:.0f} | all-data best {dict(zip(GRID, full_best.tolist(), strict=True))} "
            f"P@1 {full[0]:.3f} R@3 {full[1]:.3f} MRR {full[2]:.3f} median {full[3]:.0f} "
            f"({time.perf_counter() - started:.0f}s)"
        )
        for w in chosen:
            print("   fold choice:", dict(zip(GRID, w.tolist(), strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
