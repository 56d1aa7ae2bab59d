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
    """A sentence quoted verbatim from its article, with where it came from.

    A sentence longer than ``QUOTE_MAX_CHARS`` and ``QUOTE_WHOLE_MAX_CHARS`` is quoted as an
    excerpt: ``text`` is then one
    contiguous run of its words, ``start``/``end`` the excerpt's offsets and
    ``sentence_start``/``sentence_end`` the whole sentence's; renderers show "…" on each side
    that was cut (:attr:`trimmed_before`, :attr:`trimmed_after`).
    """

    text: str
    article_id: int
    title: str
    source: str
    url: str | None
    position: int  # 1-based sentence number in the article
    sentence_count: int  # sentences in the article, for "sentence 3 of 12"
    start: int  # character offsets of the quoted text (sentence or excerpt) in the article
    end: int
    score: float
    highlights: tuple[tuple[int, int], ...] = ()  # matched words, offsets into ``text``
    sentence_id: int = 0
    sentence_start: int | None = None  # the whole sentence's offsets (None: same as start/end)
    sentence_end: int | None = None

    @property
    def trimmed_before(self) -> bool:
        """Whether the sentence goes on before the quoted text (an excerpt cut at its start)."""
        return self.sentence_start is not None and self.sentence_start < self.start

    @property
    def trimmed_after(self) -> bool:
        """Whether the sentence goes on after the quoted text (an excerpt cut at its end)."""
        return self.sentence_end is not None and self.end < self.sentence_end

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
            "sentence_start": self.start if self.sentence_start is None else self.sentence_start,
            "sentence_end": self.end if self.sentence_end is None else self.sentence_end,
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
