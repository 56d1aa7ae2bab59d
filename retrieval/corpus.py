"""Bringing documents into the database: insert, replace and remove articles with their sentences."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .documents import Document, Problem
from .sentences import split_sentences
from .storage import Article, Sentence, utcnow


@dataclass
class SyncReport:
    """What a sync changed in the database."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    sentences_written: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def file_of(source: str) -> str:
    """The file part of an article source ("path#3" -> "path")."""
    return source.split("#", 1)[0]


def _sentence_rows(article_id: int, text: str) -> list[dict]:
    return [
        {
            "article_id": article_id,
            "position": position,
            "start": span.start,
            "end": span.end,
            "text": text[span.start : span.end],
        }
        for position, span in enumerate(split_sentences(text), 1)
    ]


def sync_documents(
    session: Session,
    documents: Sequence[Document],
    *,
    files_read: Iterable[str],
    folder: str | None = None,
    problem_files: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Make the database hold *documents*.

    An unchanged article (same content hash) is left alone; a changed one is replaced with its
    sentences. Articles of a file in *files_read* that the file no longer holds are removed.
    With *folder*, articles from files under it that no longer exist are removed too, except
    those of *problem_files* (a file that failed to load keeps its previous articles).
    """
    report = SyncReport()
    files_read = set(files_read)
    keep_files = set(problem_files)
    existing = {
        source: (article_id, digest)
        for article_id, source, digest in session.execute(
            select(Article.id, Article.source, Article.content_hash)
        )
    }
    wanted = {doc.source for doc in documents}
    stale: list[int] = []
    for source, (article_id, _digest) in existing.items():
        if source in wanted:
            continue
        path = file_of(source)
        if path in keep_files:
            continue
        if path in files_read or (folder is not None and path.startswith(folder.rstrip("/") + "/")):
            stale.append(article_id)
    if stale:
        session.execute(delete(Sentence).where(Sentence.article_id.in_(stale)))
        session.execute(delete(Article).where(Article.id.in_(stale)))
        report.removed = len(stale)

    for doc in documents:
        found = existing.get(doc.source)
        if found and found[1] == doc.content_hash:
            report.unchanged += 1
            if progress:
                progress(1)
            continue
        if found:
            article_id = found[0]
            article = session.get(Article, article_id)
            assert article is not None
            article.title, article.text, article.url = doc.title, doc.text, doc.url
            article.published, article.content_hash = doc.published, doc.content_hash
            article.updated_at = utcnow()
            session.execute(delete(Sentence).where(Sentence.article_id == article_id))
            report.updated += 1
        else:
            article = Article(
                source=doc.source,
                title=doc.title,
                text=doc.text,
                url=doc.url,
                published=doc.published,
                content_hash=doc.content_hash,
            )
            session.add(article)
            session.flush()
            article_id = article.id
            existing[doc.source] = (article_id, doc.content_hash)
            report.added += 1
        rows = _sentence_rows(article_id, doc.text)
        if rows:
            session.execute(insert(Sentence), rows)
        report.sentences_written += len(rows)
        if progress:
            progress(1)
    session.flush()
    return report
