"""``sanad eval``: retrieval quality on a SQuAD-format file, end to end through the service.

Every paragraph of every article is ingested into a temporary database; every question is
asked; a quote counts as right when it overlaps the gold answer span of the question's own
article (or, failing offsets, contains the normalised answer text). Articles repeat sentences
(ARCD's paragraphs restate the lead), and the service quotes a repeated sentence once, so a
quote that is word for word the sentence holding the answer, elsewhere in the same article,
is right too: a reader cannot tell the two apart.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from retrieval.arabic import normalize
from retrieval.documents import PARAGRAPH_SEPARATOR, source_key
from retrieval.search import SearchConfig
from retrieval.storage import Store

from .answers import Answer, AnswerStatus
from .service import AnswerService
from .settings import Settings


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
    q: GoldQuestion, source: str, start: int, end: int, text: str, gold_texts: frozenset[str] = frozenset()
) -> bool:
    """Whether a quote answers *q*; *gold_texts* are the (space-normalised) sentences of its
    article that hold a gold span."""
    if source != q.source:
        return False
    if q.spans:
        return any(start < e and s < end for s, e in q.spans) or _same_words(text) in gold_texts
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


def gold_sentences(index, q: GoldQuestion) -> frozenset[str]:
    """The sentences of *q*'s article in *index* that hold one of its gold spans."""
    texts = set()
    for article in index.articles:
        if article.source != q.source:
            continue
        for s in index.sentences[article.first_doc : article.first_doc + article.n_sentences]:
            if any(s.start < e and b < s.end for b, e in q.spans):
                texts.add(_same_words(s.text))
    return frozenset(texts)


def rank_of(q: GoldQuestion, answer: Answer, gold_texts: frozenset[str] = frozenset()) -> int | None:
    for rank, quote in enumerate(answer.quotes, 1):
        if quote_is_right(q, quote.source, quote.start, quote.end, quote.text, gold_texts):
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
        gold_texts = gold_sentences(index, q)
        rank = rank_of(q, answer, gold_texts)
        if answer.status is AnswerStatus.NO_ANSWER:
            no_answer += 1
        if answer.quotes:
            lengths.append(len(answer.quotes[0].text))
        if rank is not None:
            hits1 += rank == 1
            hits3 += rank <= 3
            rr += 1.0 / rank
        # The raw ranking, bar or not, tells tuning apart from calibration.
        raw = index.search(q.question, 1)
        raw_right = False
        if raw.hits:
            s = index.sentences[raw.hits[0].doc]
            raw_right = quote_is_right(q, index.articles[s.article].source, s.start, s.end, s.text, gold_texts)
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
                        "right": quote_is_right(q, x.source, x.start, x.end, x.text, gold_texts),
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
