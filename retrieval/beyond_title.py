"""How much of what a question asks beyond its article's title a sentence covers.

A sentence is read as part of its article: "توفي في نيويورك 10 ابريل 1931" in the article
"جبران خليل جبران" is about Gibran although it never names him (Arabic drops the subject).
Asked "متى توفي جبران خليل جبران", the plain field scores prefer the article's opening
sentence, which names Gibran three times but says nothing of his death, because the name
is most of the question's weight. The article score and the title match already credit
every sentence of that article for the name; what tells its sentences apart is the rest of
the question.

So each candidate sentence gets the coverage (as in :mod:`retrieval.confidence`: same stem 1,
same root 0.7, words weighted by idf; near spellings are left to the n-gram field here, they
would cost five times as much) of the question's words that its own article's title does not
hold. For a sentence whose article title shares nothing with the question this is its plain
coverage. It is computed only for the re-ranked candidates, and cross-validated like every
other weight (``bench/tune_retrieval.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .confidence import QuestionProfile
from .index import TermSetIndex, rows_hold


def title_holds(question: QuestionProfile, titles: TermSetIndex, articles: np.ndarray) -> np.ndarray:
    """Whether the title of each of *articles* holds each question word, as bool[articles, words].

    A word counts as held when its light stem, or the stem of one of its alias spellings, is
    a term of the title (*titles* holds the titles' light-stem terms).
    """
    # The articles as given (the sentences' int32 article ids): a copy to int64 and numpy steps
    # on lists of a few words cost a thousand candidates more than the kernel.
    articles = np.asarray(articles)
    if articles.dtype.kind not in "iu":  # an empty list, say
        articles = articles.astype(np.int64)
    rows = [
        [row for stem in {word.stem, *(a.stem for a in alts)} if (row := titles.vocabulary.get(stem)) is not None]
        for word, alts in zip(question.words, question.alternatives, strict=True)
    ]
    indptr = np.array([0, *itertools.accumulate(map(len, rows))], dtype=np.int64)
    flat = np.array([row for r in rows for row in r], dtype=np.int64)
    return rows_hold(titles.indptr, titles.indices, titles.n_docs, indptr, flat, articles)


def beyond_title_coverage(weights: Sequence[float], credits: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Per sentence, the weighted share of the question words its title does not hold that the
    sentence covers (0..1), from *credits* (float[sentences, words], see
    :meth:`retrieval.confidence.IndexedCoverage.credits`) and *held* (:func:`title_holds`).

    A sentence whose title holds every question word gets 0: it has nothing left to tell.
    """
    left = np.where(held, 0.0, np.asarray(weights, dtype=np.float64)[None, :])
    total = left.sum(axis=1)
    covered = (credits * left).sum(axis=1)
    return np.divide(covered, total, out=np.zeros(len(total)), where=total > 0)
