"""Bringing documents into the database: insert, replace and remove articles with their sentences."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from .documents import BadFile, Document, Problem, load_file, source_key
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


def _sentence_rows(article_id: int, text: str, spans: Iterable[tuple[int, int]]) -> list[tuple]:
    return [(article_id, position, start, end, text[start:end]) for position, (start, end) in enumerate(spans, 1)]


def _insert_sentences(session: Session, rows: list[tuple]) -> None:
    # Straight to the driver: the ORM's per-row bookkeeping would cost more than the insert.
    marker = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
    statement = (
        f'INSERT INTO {Sentence.__tablename__} (article_id, position, start, "end", text) '
        f"VALUES ({', '.join([marker] * 5)})"
    )
    session.connection().exec_driver_sql(statement, rows)


def split_document(doc: Document) -> list[tuple[int, int]]:
    """The (start, end) of each sentence of *doc* (what :func:`sync_documents` stores)."""
    return [(span.start, span.end) for span in split_sentences(doc.text)]


def read_and_split(path: Path) -> tuple[str, list[Document], str | None, list[list[tuple[int, int]]]]:
    """One file's articles and their sentence spans, or why it has none (for worker processes:
    reading and splitting are most of an ingest's work, and they are independent per file)."""
    try:
        documents = load_file(path)
    except BadFile as exc:
        return source_key(path), [], str(exc), []
    return source_key(path), documents, None, [split_document(d) for d in documents]


BATCH_ARTICLES = 500  # articles written per round trip; memory holds one batch of sentences
_DELETE_CHUNK = 500  # ids per DELETE ... IN (...)


def sync_documents(
    session: Session,
    documents: Iterable[Document],
    *,
    files_read: Iterable[str],
    folder: str | None = None,
    problem_files: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
    spans: Callable[[Document], Sequence[tuple[int, int]]] = split_document,
) -> SyncReport:
    """Make the database hold *documents*.

    An unchanged article (same content hash) is left alone; a changed one is replaced with its
    sentences. Articles of a file in *files_read* that the file no longer holds are removed.
    With *folder*, articles from files under it that no longer exist are removed too, except
    those of *problem_files* (a file that failed to load keeps its previous articles).

    *documents* is read once, in batches (it may be a generator reading files as it goes);
    *files_read* and *problem_files* are read only after it is exhausted, so that generator may
    fill them. *progress* is called with 1 per document. *spans* splits a document into
    sentences (a caller that split them in worker processes hands over their result).
    """
    report = SyncReport()
    existing = {
        source: (article_id, digest)
        for article_id, source, digest in session.execute(
            select(Article.id, Article.source, Article.content_hash)
        )
    }
    wanted: set[str] = set()
    batch: list[Document] = []
    for doc in documents:
        if doc.source in wanted and any(d.source == doc.source for d in batch):
            _write_batch(session, batch, existing, report, progress, spans)  # the later one wins, as before
            batch = []
        wanted.add(doc.source)
        batch.append(doc)
        if len(batch) >= BATCH_ARTICLES:
            _write_batch(session, batch, existing, report, progress, spans)
            batch = []
    if batch:
        _write_batch(session, batch, existing, report, progress, spans)

    files_read = set(files_read)
    keep_files = set(problem_files)
    prefix = folder.rstrip("/") + "/" if folder is not None else None
    stale: list[int] = []
    for source, (article_id, _digest) in existing.items():
        if source in wanted:
            continue
        path = file_of(source)
        if path in keep_files:
            continue
        if path in files_read or (prefix is not None and path.startswith(prefix)):
            stale.append(article_id)
    for i in range(0, len(stale), _DELETE_CHUNK):
        chunk = stale[i : i + _DELETE_CHUNK]
        session.execute(delete(Sentence).where(Sentence.article_id.in_(chunk)))
        session.execute(delete(Article).where(Article.id.in_(chunk)))
    report.removed = len(stale)
    session.flush()
    return report


def _write_batch(
    session: Session,
    batch: list[Document],
    existing: dict[str, tuple[int, str]],
    report: SyncReport,
    progress: Callable[[int], None] | None,
    spans: Callable[[Document], Sequence[tuple[int, int]]],
) -> None:
    """Insert the new articles, replace the changed ones and their sentences, in a few statements."""
    now = utcnow()
    new: list[Document] = []
    changed: list[tuple[int, Document]] = []
    for doc in batch:
        found = existing.get(doc.source)
        if found is None:
            new.append(doc)
        elif found[1] != doc.content_hash:
            changed.append((found[0], doc))
        else:
            report.unchanged += 1
    written: list[tuple[int, Document]] = list(changed)
    if changed:
        session.execute(
            update(Article),
            [
                {
                    "id": article_id, "title": doc.title, "text": doc.text, "url": doc.url,
                    "published": doc.published, "content_hash": doc.content_hash, "updated_at": now,
                }
                for article_id, doc in changed
            ],
        )
        ids = [article_id for article_id, _doc in changed]
        session.execute(delete(Sentence).where(Sentence.article_id.in_(ids)))
        report.updated += len(changed)
    if new:
        rows = session.execute(
            insert(Article).returning(Article.id, sort_by_parameter_order=True),
            [
                {
                    "source": doc.source, "title": doc.title, "text": doc.text, "url": doc.url,
                    "published": doc.published, "content_hash": doc.content_hash,
                    "created_at": now, "updated_at": now,
                }
                for doc in new
            ],
        ).all()
        for (article_id,), doc in zip(rows, new, strict=True):
            written.append((article_id, doc))
        report.added += len(new)
    for article_id, doc in written:
        existing[doc.source] = (article_id, doc.content_hash)
    sentences = [row for article_id, doc in written for row in _sentence_rows(article_id, doc.text, spans(doc))]
    if sentences:
        _insert_sentences(session, sentences)
    report.sentences_written += len(sentences)
    if progress:
        for _ in batch:
            progress(1)
