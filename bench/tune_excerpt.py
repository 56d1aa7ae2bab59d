"""Tune and cross-validate the excerpt preferences (``bot.excerpt.Preferences``) on a SQuAD file.

Every question is asked once through the service, with whole sentences (its ranking, its bar,
its top 10); each quote longer than ``--whole-up-to`` characters (default
``QUOTE_WHOLE_MAX_CHARS``) is then cut to ``--limit`` characters with every combination of the
grid below, and the answer is scored as ``sanad eval`` scores it (an excerpt is right only when
it shows part of the answer). Folds are over articles, as in ``tune_retrieval.py``, so a chosen
preference is always judged on articles it never saw. "Lost" counts the questions whose first
quote was right whole and is wrong as an excerpt.

    python bench/tune_excerpt.py ../shared/eval/arcd-train.json [--limit 220] [--whole-up-to 400] [--folds 5]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import excerpt
from bot.evaluation import gold_sentences, load_questions, quote_is_right
from bot.service import AnswerService
from bot.settings import Settings
from retrieval.arabic import tokenize
from retrieval.storage import Store

GRID = {
    "title_share": [0.0, 0.5],
    "opening_credit": [0.0, 0.025, 0.05, 0.1],
    "number_credit": [0.0, 0.1, 0.2],
    "room_after": [10, 20, 30, 40],
    "room_credit": [0.0, 0.05, 0.1],
}


@dataclass
class Candidate:
    """One quote of a question, whole, with what cutting it needs."""

    text: str
    source: str
    start: int
    title: str
    credits: list
    numbers: list


def collect(path: Path, settings: Settings):
    """Per question: its article, its quotes (whole) and what scoring them needs."""
    questions = load_questions(path)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sanad-tune-") as tmp:
        database = f"sqlite:///{tmp}/t.db"
        whole = replace(settings, database_url=database, corpus_dir=Path(tmp) / "none", quote_max_chars=0)
        store = Store(whole.database_url)
        try:
            service = AnswerService(store, whole)
            service.start(index_if_empty=False)
            service.reindex([path])
            index = service.index
            for q in questions:
                answer = service.ask(q.question, 10, log_question=False, related_ratio=0.0)
                asked = excerpt.asked(q.question, index.idf, index.aliases)
                candidates = []
                for quote in answer.quotes:
                    tokens = tokenize(quote.text)
                    numbers = excerpt.number_spans(tokens) if asked.wants_number else []
                    candidates.append(
                        Candidate(quote.text, quote.source, quote.start, quote.title,
                                  asked.credits(quote.text, tokens), numbers)
                    )
                rows.append((q, asked, gold_sentences(index, q), candidates))
        finally:
            store.dispose()
    return rows


def outcomes(rows, prefs: excerpt.Preferences, limit: int, whole_up_to: int = 0):
    """Per question: (rank of the first right quote or None, first quote length, lost)."""
    out = []
    for q, asked, gold, candidates in rows:
        rank, length, lost = None, None, False
        weights_by_title: dict[str, list[float]] = {}
        for k, c in enumerate(candidates, 1):
            first, last = 0, len(c.text)
            if excerpt.cuts(len(c.text), limit, whole_up_to):
                if c.title not in weights_by_title:
                    weights_by_title[c.title] = excerpt.weights(asked, c.title, prefs)
                first, last = excerpt.window(
                    c.text, c.credits, weights_by_title[c.title], limit, numbers=c.numbers, prefs=prefs
                )
            right = quote_is_right(
                q, c.source, c.start + first, c.start + last, c.text[first:last], gold, sentence=(c.start, c.text)
            )
            if k == 1:
                length = last - first
                lost = not right and quote_is_right(q, c.source, c.start, c.start + len(c.text), c.text, gold)
            if right:
                rank = k
                break
        out.append((rank, length, lost))
    return out


def summary(results, mask):
    n = sum(mask)
    ranks = [r for (r, _, _), m in zip(results, mask, strict=True) if m]
    p1 = sum(r == 1 for r in ranks if r) / n
    r3 = sum(r <= 3 for r in ranks if r) / n
    mrr = sum(1 / r for r in ranks if r) / n
    lengths = [length for (_, length, _), m in zip(results, mask, strict=True) if m and length is not None]
    lost = sum(lost for (_, _, lost), m in zip(results, mask, strict=True) if m)
    return p1, r3, mrr, statistics.median(lengths) if lengths else 0.0, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--limit", type=int, default=Settings().quote_max_chars)
    parser.add_argument("--whole-up-to", type=int, default=Settings().quote_whole_max_chars)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    settings = Settings.from_env()
    rows = collect(args.file, settings)
    combos = [excerpt.Preferences(**dict(zip(GRID, v, strict=True))) for v in itertools.product(*GRID.values())]
    results = {prefs: outcomes(rows, prefs, args.limit, args.whole_up_to) for prefs in combos}
    whole = outcomes(rows, excerpt.PREFERENCES, 10**9)
    articles = sorted({q.article for q, *_ in rows})
    random.Random(13).shuffle(articles)
    fold_of = {a: i % args.folds for i, a in enumerate(articles)}
    folds = [fold_of[q.article] for q, *_ in rows]
    held, chosen = [], []
    for f in range(args.folds):
        train = [x != f for x in folds]
        test = [x == f for x in folds]
        best = max(combos, key=lambda p: summary(results[p], train)[:3])
        chosen.append(best)
        held.append((summary(results[best], test), sum(test)))
    n = len(rows)
    cv = [sum(m[i] * size for m, size in held) / n for i in range(3)]
    lost = sum(m[4] for m, _ in held)
    every = [True] * n
    full_best = max(combos, key=lambda p: summary(results[p], every)[:3])
    full = summary(results[full_best], every)
    shipped = results.get(excerpt.PREFERENCES) or outcomes(rows, excerpt.PREFERENCES, args.limit, args.whole_up_to)
    current = summary(shipped, every)
    base = summary(whole, every)
    print(
        f"{len(combos)} combinations, limit {args.limit}, whole up to {args.whole_up_to}, "
        f"bar {settings.min_confidence}, folds {args.folds}"
    )
    print(f"whole sentences: P@1 {base[0]:.3f} R@3 {base[1]:.3f} MRR {base[2]:.3f} median {base[3]:.0f}")
    print(f"CV: P@1 {cv[0]:.3f} R@3 {cv[1]:.3f} MRR {cv[2]:.3f} lost {lost}")
    for prefs in chosen:
        print("   fold choice:", prefs)
    print(f"all-data best {full_best}: P@1 {full[0]:.3f} R@3 {full[1]:.3f} MRR {full[2]:.3f} "
          f"median {full[3]:.0f} lost {full[4]}")
    print(f"current {excerpt.PREFERENCES}: P@1 {current[0]:.3f} R@3 {current[1]:.3f} MRR {current[2]:.3f} "
          f"median {current[3]:.0f} lost {current[4]} ({time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
