"""``sanad eval``: retrieval quality on a SQuAD-format file, end to end through the service.

Every paragraph of every article is ingested into a temporary database; every question is
asked; a quote counts as right when it overlaps the gold answer span of the question's own
article (or, failing offsets, contains the normalised answer text). Articles repeat sentences
(ARCD's paragraphs restate the lead), and the service quotes a repeated sentence once, so a
quote from a word-for-word copy of the sentence holding the answer, elsewhere in the same
article, is right too (a reader cannot tell the two apart), provided the words it shows
are the copy's of the answer: the gold span is carried over into the copy, so an excerpt
of the copy that leaves the answer out is wrong, as it is of the original.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from retrieval.arabic import normalize
from retrieval.documents import PARAGRAPH_SEPARATOR, source_key
from retrieval.search import SearchConfig
from retrieval.storage import Store

from .answers import Answer, AnswerStatus, Quote
from .service import AnswerService
from .settings import Settings

_NO_GOLD: Mapping[str, Sequence[tuple[int, int]]] = {}


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    id: str
    question: str
    source: str  # the article's source key, as ingested
    spans: tuple[tuple[int, int], ...]  # answer spans in article offsets
    answers: tuple[str, ...]
    article: int  # index of the article in the file


def load_questions(path: Path) -> list[GoldQuestion]:
    """The questions of a SQuAD file with gold spans mapped into article offsets.

    Article text is built exactly as the loader builds it: stripped paragraphs joined by a
    blank line.
    """
    data = json.loads(path.read_text(encoding="utf-8-sig"))["data"]
    key = source_key(path)
    questions: list[GoldQuestion] = []
    for number, entry in enumerate(data):
        offset = 0
        for paragraph in entry.get("paragraphs", []):
            context = paragraph.get("context") or ""
            stripped = context.strip()
            if not stripped:
                continue
            lead = len(context) - len(context.lstrip())
            for qa in paragraph.get("qas", []):
                spans, texts = [], []
                for ans in qa.get("answers", []):
                    start = int(ans.get("answer_start", -1)) - lead
                    text = ans.get("text", "")
                    texts.append(text)
                    if 0 <= start and stripped[start : start + len(text)] == text:
                        spans.append((offset + start, offset + start + len(text)))
                qid = str(qa.get("id", len(questions)))
                source = f"{key}#{number}"
                questions.append(GoldQuestion(qid, qa["question"], source, tuple(spans), tuple(texts), number))
            offset += len(stripped) + len(PARAGRAPH_SEPARATOR)
    return questions


def quote_is_right(
    q: GoldQuestion,
    source: str,
    start: int,
    end: int,
    text: str,
    gold: Mapping[str, Sequence[tuple[int, int]]] = _NO_GOLD,
    *,
    sentence: tuple[int, str] | None = None,
) -> bool:
    """Whether the quote *text* (at *start*..*end* of article *source*) answers *q*.

    *gold* is :func:`gold_sentences` of *q*. When the quote is an excerpt, *sentence* is the
    whole sentence's (offset in the article, text): an excerpt is right only when it shows
    part of the answer, in the sentence itself or in a word-for-word copy of it.
    """
    if source != q.source:
        return False
    if q.spans:
        if any(start < e and s < end for s, e in q.spans):
            return True
        sentence_start, sentence_text = sentence if sentence is not None else (start, text)
        spans = gold.get(_same_words(sentence_text))
        if not spans:
            return False
        # Where the quote lies in the copy's words, compared with where the answer lies in them.
        positions = _same_words_positions(sentence_text)
        lo, hi = positions[start - sentence_start], positions[end - sentence_start]
        return any(lo < e and s < hi for s, e in spans)
    quote = normalize(text)
    return any(a and normalize(a) in quote for a in q.answers)


@dataclass
class EvalReport:
    questions: int = 0
    p_at_1: float = 0.0
    r_at_3: float = 0.0
    mrr_at_10: float = 0.0
    no_answer_share: float = 0.0
    median_quote_chars: float = 0.0
    mean_latency_ms: float = 0.0
    ranking_p_at_1: float = 0.0  # ignoring the confidence bar
    articles: int = 0
    sentences: int = 0
    index_seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def _same_words(text: str) -> str:
    return " ".join(text.split())


def _same_words_positions(text: str) -> list[int]:
    """For every offset 0..len(text) of *text*, the matching offset in ``_same_words(text)``.

    A run of whitespace between words becomes one space; the run's characters map to it.
    """
    positions = []
    at = 0
    gap = False  # whitespace seen since the last word (a space is due before the next one)
    for ch in text:
        if ch.isspace():
            gap = gap or at > 0
            positions.append(at)
            continue
        if gap:
            at += 1
            gap = False
        positions.append(at)
        at += 1
    positions.append(at)
    return positions


def gold_sentences(index, q: GoldQuestion) -> dict[str, tuple[tuple[int, int], ...]]:
    """The sentences of *q*'s article in *index* that hold one of its gold spans, by their
    words (whitespace made single spaces), with the spans as offsets into those words."""
    found: dict[str, list[tuple[int, int]]] = {}
    for article in index.articles:
        if article.source != q.source:
            continue
        for s in index.sentences[article.first_doc : article.first_doc + article.n_sentences]:
            inside = [
                (max(b, s.start) - s.start, min(e, s.end) - s.start) for b, e in q.spans if s.start < e and b < s.end
            ]
            if inside:
                positions = _same_words_positions(s.text)
                spans = [(positions[b], positions[e]) for b, e in inside if positions[b] < positions[e]]
                found.setdefault(_same_words(s.text), []).extend(spans)
    return {text: tuple(spans) for text, spans in found.items()}


def quote_right(q: GoldQuestion, quote: Quote, gold: Mapping[str, Sequence[tuple[int, int]]], index) -> bool:
    """:func:`quote_is_right` for a quote of the service (its whole sentence read from *index*
    when it is an excerpt)."""
    sentence = None
    if quote.trimmed_before or quote.trimmed_after:
        sentence = (quote.sentence_start, _sentence_text(index, quote.source, quote.sentence_start))
    return quote_is_right(q, quote.source, quote.start, quote.end, quote.text, gold, sentence=sentence)


def _sentence_text(index, source: str, start: int) -> str:
    for article in index.articles:
        if article.source == source:
            for s in index.sentences[article.first_doc : article.first_doc + article.n_sentences]:
                if s.start == start:
                    return s.text
    raise LookupError(f"no sentence at {start} in {source}")


def rank_of(q: GoldQuestion, answer: Answer, gold: Mapping[str, Sequence[tuple[int, int]]], index) -> int | None:
    """The rank (from 1) of the first right quote of *answer*, or None."""
    for rank, quote in enumerate(answer.quotes, 1):
        if quote_right(q, quote, gold, index):
            return rank
    return None


def score_questions(service: AnswerService, questions: list[GoldQuestion], details=None) -> EvalReport:
    """Ask every question through *service* and measure."""
    report = EvalReport(questions=len(questions))
    if not questions:
        return report
    hits1 = hits3 = 0
    rr = 0.0
    ranking_hits1 = 0
    no_answer = 0
    lengths: list[int] = []
    latencies: list[float] = []
    index = service.index
    for q in questions:
        started = time.perf_counter()
        answer = service.ask(q.question, 10, log_question=False, related_ratio=0.0)
        latencies.append((time.perf_counter() - started) * 1000)
        gold = gold_sentences(index, q)
        rank = rank_of(q, answer, gold, index)
        if answer.status is AnswerStatus.NO_ANSWER:
            no_answer += 1
        if answer.quotes:
            lengths.append(len(answer.quotes[0].text))
        if rank is not None:
            hits1 += rank == 1
            hits3 += rank <= 3
            rr += 1.0 / rank
        # The raw ranking, bar or not, tells tuning apart from calibration (quoted as the
        # service quotes: an excerpt of a long sentence).
        raw = index.search(q.question, 1)
        raw_right = False
        if raw.hits:
            raw_right = quote_right(q, service.quote(index, raw.hits[0].doc, q.question), gold, index)
            ranking_hits1 += raw_right
        if details is not None:
            record = {
                "id": q.id,
                "question": q.question,
                "answers": list(q.answers),
                "status": answer.status.value,
                "rank": rank,
                "raw_top_right": raw_right,
                "confidence": raw.hits[0].confidence if raw.hits else 0.0,
                "quotes": [
                    {
                        "quote": x.text,
                        "title": x.title,
                        "score": round(x.score, 4),
                        "excerpt": x.trimmed_before or x.trimmed_after,
                        "right": quote_right(q, x, gold, index),
                    }
                    for x in answer.quotes[:3]
                ],
            }
            details.write(json.dumps(record, ensure_ascii=False) + "\n")
    n = len(questions)
    report.p_at_1 = hits1 / n
    report.r_at_3 = hits3 / n
    report.mrr_at_10 = rr / n
    report.no_answer_share = no_answer / n
    report.median_quote_chars = statistics.median(lengths) if lengths else 0.0
    report.mean_latency_ms = statistics.fmean(latencies)
    report.ranking_p_at_1 = ranking_hits1 / n
    return report


def evaluate(
    path: Path, settings: Settings, *, details: Path | None = None, config: SearchConfig | None = None
) -> EvalReport:
    """Ingest *path* into a throwaway SQLite database and measure every question."""
    questions = load_questions(path)
    with tempfile.TemporaryDirectory(prefix="sanad-eval-") as tmp:
        eval_settings = replace(settings, database_url=f"sqlite:///{tmp}/eval.db", corpus_dir=Path(tmp) / "none")
        store = Store(eval_settings.database_url)
        try:
            service = AnswerService(store, eval_settings, config=config)
            service.start(index_if_empty=False)
            started = time.perf_counter()
            built = service.reindex([path])
            index_seconds = time.perf_counter() - started
            if details is not None:
                with details.open("w", encoding="utf-8") as out:
                    report = score_questions(service, questions, out)
            else:
                report = score_questions(service, questions)
        finally:
            store.dispose()
    report.articles, report.sentences, report.index_seconds = built.articles, built.sentences, index_seconds
    return report


def format_report(report: EvalReport) -> str:
    return "\n".join(
        [
            f"questions: {report.questions}  articles: {report.articles}  sentences: {report.sentences}  "
            f"(ingested and indexed in {report.index_seconds:.2f}s)",
            f"P@1: {report.p_at_1:.3f}  R@3: {report.r_at_3:.3f}  MRR@10: {report.mrr_at_10:.3f}",
            f"no-answer share: {report.no_answer_share:.3f}  median quote: {report.median_quote_chars:.0f} chars  "
            f"mean latency: {report.mean_latency_ms:.2f} ms",
            f"ranking P@1 without the confidence bar: {report.ranking_p_at_1:.3f}",
        ]
    )
