"""Scale benchmark: build, reindex, restart and answer latency at 10k, 100k and 1M sentences.

    .venv/bin/python bench/benchmark.py [--sizes 10000 100000 1000000] [--workdir DIR]

A realistic Arabic corpus is generated deterministically (seeded): the sentences of the seed
articles are the templates (their function words, punctuation and length stay), and every content
word is drawn from a Zipf-Mandelbrot vocabulary of stems, built from the seeds' own stems and
letter-level variants of them, with the usual Arabic prefixes and suffixes. Articles have 20-60
sentences, a title and a few topic words of their own; a third of the seeds' Latin-script
name slots keep a Latin name (the seeds are technology news, denser in them than an archive).
Questions have 3-8 words: a question word and words of one sentence of the corpus (frequent and
rare alike), some with a typo. "Source quoted first" is the share of questions whose first quote is
the sentence they were made from: quality at a size no labelled set reaches.

For each size the table shows: reindex end to end (files -> database -> index -> snapshot), index
build time alone (database rows -> index), restart to serving (a new process that loads the saved
index and answers one question), resident memory, answer latency through ``AnswerService.ask``
(all fields and context, as users get it), and the same BM25 top-k against rank-bm25's
``BM25Okapi.get_scores`` with the speed-up and the largest score difference. Timings are medians;
other people share this machine, so run it twice before trusting a single number.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.arabic import _TOKEN_RE, STOP_WORDS, is_arabic, light_stem, normalize  # noqa: E402
from retrieval.documents import load_paths  # noqa: E402
from retrieval.sentences import split_sentences  # noqa: E402

SEED = 20240611
ARTICLES_PER_FILE = 250
# The seeds are two technology articles, one Latin-script name every few words; a general news
# archive has far fewer, so a third of those slots keep a Latin name.
LATIN_SHARE = 1 / 3
QUESTION_WORDS = ("ما", "متى", "كم", "أين", "من", "كيف", "هل", "لماذا", "ما هو", "ما هي")
PREFIXES = ("", "", "", "", "ال", "ال", "ال", "و", "وال", "بال", "لل", "ب", "ل", "ف")
SUFFIXES = ("", "", "", "", "", "ة", "ات", "ون", "ين", "ها", "ه", "ي", "ان", "هم")


# --- corpus ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One word position of a template sentence: a function word kept as is, or a content slot."""

    word: str | None  # the function word, or None for a content word
    kind: str  # "stop", "arabic", "latin" or "number"
    after: str  # what follows the word in the template (space, comma...)


def _templates() -> list[list[Slot]]:
    templates = []
    for doc in load_paths([ROOT / "seeds"]).documents:
        for span in split_sentences(doc.text):
            text = doc.text[span.start : span.end].rstrip(".!؟?…")
            matches = list(_TOKEN_RE.finditer(text))
            slots = []
            for i, m in enumerate(matches):
                end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
                gap = text[m.end() : end]
                after = "، " if "،" in gap or "," in gap else " "
                word = m.group()
                norm = normalize(word)
                if norm in STOP_WORDS:
                    slots.append(Slot(word, "stop", after))
                elif norm[:1].isdigit():
                    slots.append(Slot(None, "number", after))
                elif is_arabic(norm):
                    slots.append(Slot(None, "arabic", after))
                else:
                    slots.append(Slot(None, "latin", after))
            if len(slots) >= 6:
                templates.append(slots)
    return templates


def _seed_stems() -> tuple[list[str], list[str]]:
    arabic: dict[str, None] = {}
    latin: dict[str, None] = {}
    for doc in load_paths([ROOT / "seeds"]).documents:
        for word in _TOKEN_RE.findall(doc.text):
            norm = normalize(word)
            if norm in STOP_WORDS or norm[:1].isdigit():
                continue
            if is_arabic(norm):
                stem = light_stem(norm)
                if len(stem) >= 3:
                    arabic.setdefault(stem)
            else:
                latin.setdefault(word)
    return list(arabic), list(latin)


class Vocabulary:
    """Zipf-Mandelbrot stems (seed stems first, then letter-level variants) with affixes."""

    def __init__(self, rng: random.Random, size: int = 120_000, s: float = 1.05, q: float = 20.0) -> None:
        seeds, latin = _seed_stems()
        letters = [ch for stem in seeds for ch in stem]
        stems = list(seeds)
        seen = set(stems)
        while len(stems) < size:
            base = list(rng.choice(seeds))
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                base[rng.randrange(len(base))] = rng.choice(letters)
            if rng.random() < 0.3:
                base.insert(rng.randrange(len(base) + 1), rng.choice(letters))
            stem = "".join(base)
            if stem not in seen and len(stem) >= 3:
                seen.add(stem)
                stems.append(stem)
        # Seed stems keep the most frequent ranks; the variants are shuffled into the tail.
        tail = stems[len(seeds) :]
        rng.shuffle(tail)
        self.stems = stems[: len(seeds)] + tail
        self.cumulative = _zipf_cumulative(len(self.stems), s, q)
        # Names written in Latin letters: the seeds' own, then made-up ones, also Zipfian.
        self.latin = list(latin)
        while len(self.latin) < 3000:
            word = rng.choice(latin)
            self.latin.append(word[: rng.randint(1, len(word))] + "".join(rng.sample("aeioubdklmnrstvz", 3)))
        self.latin_cumulative = _zipf_cumulative(len(self.latin), 1.0, 5.0)
        self._forms: dict[str, list[str]] = {}

    def stem(self, rng: random.Random, skip: int = 0) -> str:
        """A stem by Zipf rank; *skip* leaves out the most frequent ranks (for topic words)."""
        u = self.cumulative[skip] + rng.random() * (1 - self.cumulative[skip]) if skip else rng.random()
        return self.stems[min(bisect.bisect_left(self.cumulative, u), len(self.stems) - 1)]

    def latin_word(self, rng: random.Random) -> str:
        return self.latin[min(bisect.bisect_left(self.latin_cumulative, rng.random()), len(self.latin) - 1)]

    def surface(self, stem: str, rng: random.Random) -> str:
        """One of the stem's few written forms (a stem is written in 1-6 ways, the first most)."""
        forms = self._forms.get(stem)
        if forms is None:
            # Derived from the stem itself, so the same stem has the same forms in any run.
            local = random.Random(stem)
            forms = [local.choice(PREFIXES) + stem + local.choice(SUFFIXES) for _ in range(local.randint(1, 6))]
            self._forms[stem] = forms
        return forms[min(int(rng.paretovariate(1.2)) - 1, len(forms) - 1)]


def _zipf_cumulative(n: int, s: float, q: float) -> list[float]:
    weights = [1.0 / (rank + q) ** s for rank in range(n)]
    total = sum(weights)
    acc = 0.0
    cumulative = []
    for w in weights:
        acc += w / total
        cumulative.append(acc)
    return cumulative


@dataclass
class Article:
    title: str
    sentences: list[str]


def generate_articles(n_sentences: int, seed: int = SEED, vocabulary_size: int = 120_000) -> list[Article]:
    """Articles totalling *n_sentences* sentences; the same seed gives the same corpus."""
    rng = random.Random(seed)
    vocab = Vocabulary(random.Random(seed + 1), size=vocabulary_size)
    templates = _templates()
    articles: list[Article] = []
    made = 0
    while made < n_sentences:
        size = min(rng.randint(20, 60), n_sentences - made)
        # An article is about something: a few topic stems recur in its sentences and title.
        topic = [vocab.stem(rng, skip=100) for _ in range(6)]
        sentences = []
        for _ in range(size):
            words = []
            for slot in rng.choice(templates):
                if slot.kind == "stop":
                    word = slot.word
                elif slot.kind == "number":
                    word = str(rng.choice((rng.randint(2, 99), rng.randint(1990, 2024), rng.randint(100, 99999))))
                elif slot.kind == "latin" and rng.random() < LATIN_SHARE:
                    word = vocab.latin_word(rng)
                else:  # an Arabic content word (also most of the seeds' Latin slots)
                    stem = rng.choice(topic) if rng.random() < 0.15 else vocab.stem(rng)
                    word = vocab.surface(stem, rng)
                words.append(word + slot.after)
            sentences.append("".join(words).strip(" ،") + ".")
        title_words = rng.sample(topic, 3) + [vocab.stem(rng) for _ in range(rng.randint(1, 3))]
        title = " ".join(vocab.surface(w, rng) for w in title_words)
        articles.append(Article(title, sentences))
        made += size
    return articles


def write_corpus(articles: list[Article], folder: Path) -> None:
    """The articles as JSON Lines files (one article a line, a paragraph per 10 sentences)."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(articles), ARTICLES_PER_FILE):
        lines = []
        for article in articles[start : start + ARTICLES_PER_FILE]:
            paragraphs = [" ".join(article.sentences[i : i + 10]) for i in range(0, len(article.sentences), 10)]
            lines.append(json.dumps({"title": article.title, "text": "\n\n".join(paragraphs)}, ensure_ascii=False))
        (folder / f"part-{start // ARTICLES_PER_FILE:05d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate_questions(articles: list[Article], n: int, seed: int = SEED + 2) -> list[dict[str, str]]:
    """Questions of 3-8 words: a question word and words of one corpus sentence, some misspelt.

    Each comes with the sentence it was made from (``source``): a quality check at scale, since
    a good ranking should quote that sentence first.
    """
    rng = random.Random(seed)
    letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    questions = []
    while len(questions) < n:
        article = rng.choice(articles)
        sentence = rng.choice(article.sentences)
        content = [w for w in _TOKEN_RE.findall(sentence) if normalize(w) not in STOP_WORDS]
        if len(content) < 2:
            continue
        opener = rng.choice(QUESTION_WORDS)
        words = rng.sample(content, min(len(content), rng.randint(2, 8 - len(opener.split()))))
        if rng.random() < 0.2:  # a typo in one word: the n-gram field's job
            i = rng.randrange(len(words))
            w = list(words[i])
            w[rng.randrange(len(w))] = rng.choice(letters)
            words[i] = "".join(w)
        question = " ".join([opener, *words])
        questions.append({"question": question + "؟", "source": sentence})
    return questions


def read_questions(path: str | Path) -> tuple[list[str], list[str]]:
    """The questions of a file written by :func:`prepare`, and their source sentences."""
    items = json.loads(Path(path).read_text(encoding="utf-8"))
    return [i["question"] for i in items], [i["source"] for i in items]


# --- measuring ---------------------------------------------------------------------------------


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB, from /proc."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key] = int(amount) / 1024
    return values.get("VmRSS:", 0.0), values.get("VmHWM:", 0.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _settings(db_url: str, corpus: Path):
    """The service's settings from the environment (``SEARCH_THREADS=1``, ``MIN_CONFIDENCE``...),
    on the benchmark's database and corpus, without a rate limit."""
    from dataclasses import replace

    from bot.settings import Settings

    return replace(Settings.from_env(env_file=None), database_url=db_url, corpus_dir=corpus, rate_limit_per_minute=0)


def _latencies(service, questions: list[str], sources: list[str]) -> tuple[list[float], int, list[float], int]:
    """Per question: the whole answer (service.ask, as users get it) and the ranking alone
    (index.search with the k ask uses, without the confidence of each hit); how many were
    answered, and how many quoted the question's source sentence first."""
    from bot.answers import AnswerStatus

    latencies = []
    ranking = []
    answered = found = 0
    for question, source in zip(questions, sources, strict=True):
        started = time.perf_counter()
        answer = service.ask(question, log_question=False)
        latencies.append((time.perf_counter() - started) * 1000)
        answered += answer.status is AnswerStatus.ANSWERED
        if answer.quotes:
            first = answer.quotes[0]
            # An excerpt of a long sentence is the source quoted first when it is part of it.
            excerpt = first.trimmed_before or first.trimmed_after
            found += first.text == source or (excerpt and first.text in source)
        started = time.perf_counter()
        service.index.search(question, 20)
        ranking.append((time.perf_counter() - started) * 1000)
    return latencies, answered, ranking, found


def phase_reindex(args: argparse.Namespace) -> dict:
    """In a fresh process: reindex files -> database -> index, rebuild alone, answer questions."""
    from bot.app import build_app

    questions, sources = read_questions(args.questions)
    app = build_app(_settings(args.db, Path(args.corpus)), index_if_empty=False)
    service = app.service
    started = time.perf_counter()
    report = service.reindex()
    reindex_s = time.perf_counter() - started
    # The largest process of the reindex: this one, or the worker that built the index (and its
    # analysis pool), counted once it has exited (after its checkpoint of the database's log).
    service.join_workers()
    import resource

    peak_reindex = max(rss_mb()[1], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    builds = []
    for _ in range(args.builds):
        started = time.perf_counter()
        with app.store.read_session() as session:
            service._build(session)
        builds.append(time.perf_counter() - started)
    service.ask(questions[0], log_question=False)  # compiled kernels loaded, caches warm
    latencies, answered, _ranking, _found = _latencies(service, questions, sources)
    out = {
        "articles": report.articles,
        "sentences": report.sentences,
        "reindex_s": reindex_s,
        "build_s": statistics.median(builds),
        "builds": builds,
        "ask_p50": percentile(latencies, 0.5),
        "ask_p99": percentile(latencies, 0.99),
        "answered": answered / len(questions),
        "rss_mb": rss_mb()[0],
        "peak_rss_mb": peak_reindex,
    }
    if args.under_load:
        out["under_load"] = _reindex_under_load(service, questions, Path(args.corpus))
    app.close()
    return out


def _reindex_under_load(service, questions: list[str], corpus: Path) -> dict:
    """Questions stream from a thread while a reindex (with changed files) runs and swaps."""
    from bot.answers import AnswerStatus

    changed = sorted(corpus.glob("*.jsonl"))[:2]
    for path in changed:  # a real change: two files' articles get one more sentence
        lines = path.read_text(encoding="utf-8").splitlines()
        edited = []
        for line in lines:
            item = json.loads(line)
            item["text"] += " وأضاف التقرير أن الأرقام الجديدة ستنشر في الأسبوع المقبل."
            edited.append(json.dumps(item, ensure_ascii=False))
        path.write_text("\n".join(edited) + "\n", encoding="utf-8")
    done = threading.Event()
    records: list[tuple[float, float, bool, int]] = []  # (start, ms, failed, version)

    def ask_continuously() -> None:
        i = after = 0
        while i < 1000 or after < 20:  # at least 1000 questions, and some after the swap
            question = questions[i % len(questions)]
            started = time.perf_counter()
            version = service.version
            answer = service.ask(question, log_question=False)
            ms = (time.perf_counter() - started) * 1000
            failed = answer.status is AnswerStatus.INVALID
            records.append((started, ms, failed, version))
            i += 1
            after += done.is_set()
            time.sleep(0.002)  # a steady stream, not a busy loop

    worker = threading.Thread(target=ask_continuously)
    before = service.version
    worker.start()
    started = time.perf_counter()
    service.reindex()
    reindex_s = time.perf_counter() - started
    done.set()
    worker.join()
    during = [r for r in records if r[0] < started + reindex_s]
    return {
        "questions": len(records),
        "during_reindex": len(during),
        "failed": sum(r[2] for r in records),
        "max_ms": max(r[1] for r in records),
        "p99_ms": percentile([r[1] for r in records], 0.99),
        "p50_ms": percentile([r[1] for r in records], 0.5),
        "reindex_s": reindex_s,
        "switched": service.version != before and records[-1][3] == service.version,
        "slowest": sorted(((round(r[1], 1), round(r[0] - started, 2)) for r in records), reverse=True)[:5],
    }


def phase_serve(args: argparse.Namespace) -> dict:
    """In a fresh process: start from the saved index, answer one question, then measure."""
    from bot.app import build_app

    questions, sources = read_questions(args.questions)
    app = build_app(_settings(args.db, Path(args.corpus)), index_if_empty=False)
    app.service.ask(questions[0], log_question=False)
    ready = time.time()
    print(json.dumps({"ready": ready}), flush=True)
    latencies, answered, ranking, found = _latencies(app.service, questions, sources)
    out = {
        "ask_p50": percentile(latencies, 0.5),
        "ask_p99": percentile(latencies, 0.99),
        "search_p50": percentile(ranking, 0.5),
        "search_p99": percentile(ranking, 0.99),
        "answered": answered / len(questions),
        "source_first": found / len(questions),
        "rss_mb": rss_mb()[0],
    }
    app.close()
    return out


def phase_bm25(args: argparse.Namespace) -> dict:
    """Our BM25Index against rank_bm25.BM25Okapi on the same tokens, parameters and queries."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    from retrieval.arabic import Analyzer
    from retrieval.index import BM25Index

    questions = read_questions(args.questions)[0][: args.sample]
    analyzer = Analyzer("light")
    texts = _corpus_texts(Path(args.corpus))
    tokens = [analyzer.terms(t) for t in texts]
    del texts
    started = time.perf_counter()
    ours = BM25Index.build(tokens)
    ours_build = time.perf_counter() - started
    started = time.perf_counter()
    theirs = BM25Okapi(tokens)
    theirs_build = time.perf_counter() - started
    del tokens
    queries = [analyzer.terms(q) for q in questions]
    ours.top_k(queries[0], 10)
    # Each in its own pass over the queries, as each would serve them: timed one after the other
    # on the same query, ours would read caches that rank-bm25's dense arrays just flushed.
    our_ms, their_ms, worst, same_top = [], [], 0.0, 0
    mine_all = []
    for query in queries:
        started = time.perf_counter()
        mine_all.append(ours.top_k(query, 10))
        our_ms.append((time.perf_counter() - started) * 1000)
    for query, mine in zip(queries, mine_all, strict=True):
        started = time.perf_counter()
        scores = theirs.get_scores(query)
        best = np.argpartition(-scores, 9)[:10]
        best = best[np.lexsort((best, -scores[best]))]
        their_ms.append((time.perf_counter() - started) * 1000)
        worst = max(worst, float(np.max(np.abs(ours.dense_scores(query) - scores))))
        # Same best scores (documents tied to the last bit may come in either order).
        same_top += np.allclose([s for _, s in mine], scores[best][: len(mine)], rtol=1e-9, atol=1e-12)
    return {
        "queries": len(queries),
        "ours_p50": percentile(our_ms, 0.5),
        "ours_p99": percentile(our_ms, 0.99),
        "theirs_p50": percentile(their_ms, 0.5),
        "theirs_p99": percentile(their_ms, 0.99),
        "max_diff": worst,
        "same_top": same_top / len(queries),
        "ours_build_s": ours_build,
        "theirs_build_s": theirs_build,
    }


def _corpus_texts(corpus: Path) -> list[str]:
    texts = []
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            body = item["text"]
            texts.extend(body[s.start : s.end] for s in split_sentences(body))
    return texts


def _run_phase(name: str, *args: str) -> dict:
    """Run a phase in a fresh interpreter (clean memory figures); its last line is the result."""
    command = [sys.executable, str(Path(__file__).resolve()), name, *args]
    spawned = time.time()
    process = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if process.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{process.stderr[-4000:]}")
    lines = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    result = lines[-1]
    for line in lines:
        if "ready" in line:
            result["restart_s"] = line["ready"] - spawned
    return result


def prepare(size: int, workdir: Path, n_questions: int) -> tuple[Path, Path]:
    """The corpus files and questions for *size* sentences (kept in *workdir* between runs)."""
    folder = workdir / f"corpus-{size}"
    questions = workdir / f"questions-{size}-v2.json"  # v2: with the source sentences
    marker = folder / ".complete"
    if not marker.exists() or not questions.exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {size} sentences...", file=sys.stderr, flush=True)
        articles = generate_articles(size)
        write_corpus(articles, folder)
        asked = generate_questions(articles, n_questions)
        questions.write_text(json.dumps(asked, ensure_ascii=False), encoding="utf-8")
        marker.write_text("")
    return folder, questions


def measure(size: int, workdir: Path, args: argparse.Namespace) -> dict:
    corpus, questions = prepare(size, workdir, args.questions)
    run_dir = Path(tempfile.mkdtemp(prefix=f"sanad-bench-{size}-", dir=workdir))
    try:
        work_corpus = run_dir / "corpus"
        shutil.copytree(corpus, work_corpus)
        db = f"sqlite:///{run_dir}/bench.db"
        print(f"[{size}] reindex...", file=sys.stderr, flush=True)
        result = _run_phase(
            "_reindex", "--db", db, "--corpus", str(work_corpus), "--questions", str(questions),
            "--builds", str(1 if size >= 500_000 else args.repeat),
            *(["--under-load"] if size in args.under_load else []),
        )
        restarts = []
        for _ in range(args.repeat):
            print(f"[{size}] restart...", file=sys.stderr, flush=True)
            restarts.append(
                _run_phase("_serve", "--db", db, "--corpus", str(work_corpus), "--questions", str(questions))
            )
        result["restart_s"] = statistics.median(r["restart_s"] for r in restarts)
        result["serve_p50"] = statistics.median(r["ask_p50"] for r in restarts)
        result["serve_p99"] = statistics.median(r["ask_p99"] for r in restarts)
        result["serve_rss_mb"] = statistics.median(r["rss_mb"] for r in restarts)
        result["search_p50"] = statistics.median(r["search_p50"] for r in restarts)
        result["search_p99"] = statistics.median(r["search_p99"] for r in restarts)
        result["source_first"] = restarts[0]["source_first"]
        if not args.skip_bm25:
            print(f"[{size}] rank-bm25...", file=sys.stderr, flush=True)
            sample = args.bm25_sample or (1000 if size <= 10_000 else 200 if size <= 100_000 else 30)
            result["bm25"] = _run_phase(
                "_bm25", "--corpus", str(corpus), "--questions", str(questions), "--sample", str(sample)
            )
        result["size"] = size
        return result
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def table(results: list[dict]) -> str:
    """The results as a Markdown table (and the under-load line where measured)."""
    head = (
        "| sentences | articles | reindex (s) | index build (s) | restart to serving (s) | RSS serving (MB) "
        "| peak RSS of reindex (MB) | ask p50 / p99 (ms) | ranking alone p50 / p99 (ms) | source quoted first "
        "| rank-bm25 p50 (ms) "
        "| our BM25 p50 (ms) | speed-up | max BM25 score diff |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        bm = r.get("bm25")
        bm_cells = (
            f"{bm['theirs_p50']:.1f} | {bm['ours_p50']:.3f} | {bm['theirs_p50'] / bm['ours_p50']:,.0f}× "
            f"| {bm['max_diff']:.1e}"
            if bm
            else "– | – | – | –"
        )
        lines.append(
            f"| {r['sentences']:,} | {r['articles']:,} | {r['reindex_s']:.1f} | {r['build_s']:.1f} "
            f"| {r['restart_s']:.1f} | {r['serve_rss_mb']:,.0f} | {r['peak_rss_mb']:,.0f} "
            f"| {r['serve_p50']:.2f} / {r['serve_p99']:.2f} | {r['search_p50']:.2f} / {r['search_p99']:.2f} "
            f"| {r['source_first']:.3f} "
            f"| {bm_cells} |"
        )
    for r in results:
        load = r.get("under_load")
        if load:
            lines.append(
                f"\nReindex under load ({r['sentences']:,} sentences): {load['questions']} questions streamed, "
                f"{load['during_reindex']} during the {load['reindex_s']:.1f} s reindex; {load['failed']} failed; "
                f"latency p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms, max {load['max_ms']:.1f} ms; "
                f"switched to the new index: {'yes' if load['switched'] else 'no'}."
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    phases = {"_reindex": phase_reindex, "_serve": phase_serve, "_bm25": phase_bm25}
    if argv and argv[0] in phases:
        parser = argparse.ArgumentParser()
        parser.add_argument("--db")
        parser.add_argument("--corpus")
        parser.add_argument("--questions")
        parser.add_argument("--builds", type=int, default=1)
        parser.add_argument("--sample", type=int, default=100)
        parser.add_argument("--under-load", action="store_true")
        args = parser.parse_args(argv[1:])
        print(json.dumps(phases[argv[0]](args)), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sanad-bench")
    parser.add_argument("--questions", type=int, default=1000, help="questions per size (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="restarts (and builds below 500k) to take medians of")
    parser.add_argument("--bm25-sample", type=int, default=0, help="queries for rank-bm25 (default by size)")
    parser.add_argument("--skip-bm25", action="store_true")
    parser.add_argument("--under-load", type=int, nargs="*", default=[100_000], help="sizes to reindex under load")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        results.append(measure(size, args.workdir, args))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(table(results))
    print(f"\n{threads_line()}")
    return 0


def threads_line() -> str:
    """How the answers above shared the machine's cores."""
    from bot.service import search_config
    from retrieval.compiled import PARALLEL_LAYER

    threads = search_config(_settings("sqlite://", Path("."))).threads
    if PARALLEL_LAYER is None or threads == 1:
        return "One thread per question (no parallel loops: SEARCH_THREADS=1, or no OpenMP or TBB runtime)."
    return f"A question alone splits its work between up to {threads} threads (parallel loops on {PARALLEL_LAYER})."


if __name__ == "__main__":
    raise SystemExit(main())
