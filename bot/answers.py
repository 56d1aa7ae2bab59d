"""Values the answer service hands to every adapter."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class AnswerStatus(enum.StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Quote:
    """A sentence quoted verbatim from its article, with where it came from."""

    text: str
    article_id: int
    title: str
    source: str
    url: str | None
    position: int  # 1-based sentence number in the article
    sentence_count: int  # sentences in the article, for "sentence 3 of 12"
    start: int  # character offsets of the sentence in the article
    end: int
    score: float
    highlights: tuple[tuple[int, int], ...] = ()  # matched words, offsets into ``text``
    sentence_id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "quote": self.text,
            "article_id": self.article_id,
            "title": self.title,
            "source": self.url or self.source,
            "position": self.position,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
            "highlights": [list(h) for h in self.highlights],
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """What the service says to a question: quotes, an honest "no answer", or why it is invalid."""

    question: str
    status: AnswerStatus
    quotes: tuple[Quote, ...] = ()
    reason: str | None = None  # Arabic, shown to the user for invalid and no-answer replies
    suggestions: tuple[str, ...] = ()  # closest article titles when there is no answer
    elapsed_ms: float = 0.0
    question_id: int | None = None  # question log id, for feedback and "more sources"
    has_more: bool = False  # more quotes can be had with ``offset``
    offset: int = 0

    @property
    def answered(self) -> bool:
        return self.status is AnswerStatus.ANSWERED

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "status": self.status.value,
            "reason": self.reason,
            "answers": [q.to_json() for q in self.quotes],
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class ReindexReport:
    added: int
    updated: int
    removed: int
    unchanged: int
    articles: int
    sentences: int
    duration_s: float
    version: int
    problems: tuple[tuple[str, str], ...] = ()  # (file, reason)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    article_id: int
    title: str
    source: str
    url: str | None
    sentences: int


@dataclass(frozen=True, slots=True)
class Stats:
    articles: int
    sentences: int
    index_version: int
    index_built_at: str | None
    questions: int
    answered: int
    unanswered: int
    invalid: int
    feedback_up: int
    feedback_down: int
    top_unanswered: tuple[tuple[str, int], ...] = field(default_factory=tuple)
