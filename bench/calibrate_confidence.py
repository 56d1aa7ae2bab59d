"""Calibrate the confidence bar (MIN_CONFIDENCE) for an honest "no answer".

In-domain: every question asked against the whole corpus (its own article included).
Out-of-domain: every question asked with its own article left out, where the right reply is
"no answer" (a few may be answered by another article, so this overstates false answers).
For each bar it prints the share of in-domain questions answered, the precision of the
first quote among those, P@1 through the bar, and the share of out-of-domain questions that
would wrongly get a quote. A first quote is judged as the service shows it: an excerpt when
the sentence is longer than ``--quote-max-chars`` (default 220; 0 for whole sentences) and
than ``--quote-whole-max-chars`` (default 400).

    python bench/calibrate_confidence.py ../shared/eval/arcd-train.json [--quote-max-chars 220]
        [--quote-whole-max-chars 400]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tune_retrieval import records
from bot import excerpt
from bot.evaluation import gold_sentences, load_questions, quote_is_right
from bot.service import search_config
from bot.settings import Settings
from retrieval.search import ArticleRecord, SearchIndex, SentenceRecord


def subset(articles, sentences, drop: int):
    """The corpus without article *drop*, renumbered."""
    keep = [a for i, a in enumerate(articles) if i != drop]
    new_index = {i: j for j, i in enumerate(i for i in range(len(articles)) if i != drop)}
    out_sentences = []
    out_articles = []
    for old, a in zip((i for i in range(len(articles)) if i != drop), keep, strict=True):
        first = len(out_sentences)
        for s in sentences[a.first_doc : a.first_doc + a.n_sentences]:
            out_sentences.append(SentenceRecord(s.id, new_index[old], s.position, s.start, s.end, s.text))
        out_articles.append(ArticleRecord(a.id, a.title, a.source, a.url, first, len(out_sentences) - first))
    return out_articles, out_sentences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--quote-max-chars", type=int, default=Settings().quote_max_chars)
    parser.add_argument("--quote-whole-max-chars", type=int, default=Settings().quote_whole_max_chars)
    args = parser.parse_args()
    config = search_config(Settings())
    articles, sentences = records(args.file)
    questions = load_questions(args.file)
    index = SearchIndex(articles, sentences, config)
    in_conf, in_right = [], []
    for q in questions:
        hits = index.search(q.question, 1).hits
        if not hits:
            in_conf.append(0.0)
            in_right.append(False)
            continue
        s = index.sentences[hits[0].doc]
        in_conf.append(hits[0].confidence)
        first, last = 0, len(s.text)
        if excerpt.cuts(len(s.text), args.quote_max_chars, args.quote_whole_max_chars):
            asked = excerpt.asked(q.question, index.idf, index.aliases)
            first, last = excerpt.choose(s.text, asked, articles[s.article].title, args.quote_max_chars)
        source = articles[s.article].source
        in_right.append(
            quote_is_right(
                q, source, s.start + first, s.start + last, s.text[first:last], gold_sentences(index, q),
                sentence=(s.start, s.text),
            )
        )
    out_conf = []
    by_article: dict[int, list] = {}
    for q in questions:
        by_article.setdefault(q.article, []).append(q)
    for article, qs in by_article.items():
        sub_articles, sub_sentences = subset(articles, sentences, article)
        sub_index = SearchIndex(sub_articles, sub_sentences, config)
        for q in qs:
            hits = sub_index.search(q.question, 1).hits
            out_conf.append(hits[0].confidence if hits else 0.0)
    in_conf_a, in_right_a, out_conf_a = np.array(in_conf), np.array(in_right), np.array(out_conf)
    print(f"questions: {len(questions)}; ranking P@1 with no bar: {in_right_a.mean():.3f}")
    print("bar   answered  precision  P@1    out-of-domain answered")
    for bar in np.arange(0.0, 0.95, 0.05):
        answered = in_conf_a >= bar
        precision = in_right_a[answered].mean() if answered.any() else 0.0
        p1 = (in_right_a & answered).mean()
        print(f"{bar:.2f}  {answered.mean():.3f}     {precision:.3f}      {p1:.3f}  {(out_conf_a >= bar).mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
