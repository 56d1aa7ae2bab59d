"""Persistent storage (SQLAlchemy 2.0): articles, sentences, index state and the question log.

SQLite is the embedded default; PostgreSQL is used the same way through ``DATABASE_URL`` when
several bot processes share one corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    cast,
    create_engine,
    event,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Where the article came from: a file path, "path#n" for one of several articles in a
    # file, or a url. Re-ingesting the same source replaces the article.
    source: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    published: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    sentences: Mapped[list[Sentence]] = relationship(
        back_populates="article",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Sentence.position",
    )


class Sentence(Base):
    __tablename__ = "sentences"
    __table_args__ = (UniqueConstraint("article_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    position: Mapped[int]  # 1-based order in the article
    start: Mapped[int]
    end: Mapped[int]
    text: Mapped[str] = mapped_column(Text)

    article: Mapped[Article] = relationship(back_populates="sentences")


class IndexState(Base):
    """One row: which corpus version the served index reflects."""

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
    built_at: Mapped[datetime | None]
    articles: Mapped[int] = mapped_column(default=0)
    sentences: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[float] = mapped_column(default=0.0)


class QuestionLog(Base):
    __tablename__ = "question_log"
    __table_args__ = (Index("ix_question_log_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    platform: Mapped[str] = mapped_column(String(32))
    user_hash: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    top_sentence_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    latency_ms: Mapped[float] = mapped_column(default=0.0)


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("question_id", "user_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question_log.id", ondelete="CASCADE"))
    user_hash: Mapped[str] = mapped_column(String(64))
    vote: Mapped[int]  # +1 or -1
    created_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def engine_url(url: str) -> str:
    """Normalise a database URL: plain ``postgresql://`` uses psycopg 3 (the installed driver)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def safe_url(url: str) -> str:
    """The URL with any password masked, for logs and error messages."""
    try:
        return make_url(engine_url(url)).render_as_string(hide_password=True)
    except Exception:
        return "<invalid database url>"


class Store:
    """Database access for the rest of the application: engine, sessions and schema."""

    def __init__(
        self, url: str, *, echo: bool = False, autocheckpoint: bool = True, foreign_keys: bool = True
    ) -> None:
        """*autocheckpoint* False: SQLite commits leave the write-ahead log for an explicit
        :meth:`checkpoint` (see there). *foreign_keys* False: SQLite does not look up each
        sentence's article as it is inserted (for the reindex worker: about 2 s of a million
        sentences' sync; it writes sentences only under articles it has just written or kept,
        and the index build refuses a sentence of an unknown article)."""
        url = engine_url(url)
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # The index is rebuilt in a worker thread while the event loop keeps logging
            # questions; SQLite connections must be shareable across those threads.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.url = url
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            if not autocheckpoint:
                event.listen(self.engine, "connect", _no_autocheckpoint)
            if not foreign_keys:
                event.listen(self.engine, "connect", _no_foreign_keys)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def create_schema(self) -> None:
        """Create missing tables (idempotent)."""
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def article_count(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count(Article.id))) or 0

    def index_state(self) -> IndexState | None:
        with self.session() as s:
            return s.get(IndexState, 1)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session whose reads all see one committed state of the database.

        Reading a million sentences takes seconds; a reindex committed by another process
        meanwhile must not mix its articles with the old sentences. PostgreSQL gets a
        REPEATABLE READ transaction; SQLite (whose driver only opens a transaction for writes)
        an explicit read transaction, which WAL keeps on one snapshot.
        """
        with self._sessions() as session, session.begin():
            if self.is_sqlite:
                session.connection().exec_driver_sql("BEGIN")
            else:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    def try_reindex_lock(self, session: Session) -> bool:
        """Take the database-wide reindex lock for *session*'s transaction; False if taken.

        PostgreSQL: a transaction-level advisory lock, released by commit, rollback or the
        death of the process (its connection closes). SQLite: the single writer's lock, taken
        now rather than at the first write; a few seconds' wait covers other processes logging
        a question, a running reindex holds it far longer.
        """
        if not self.is_sqlite:
            taken = session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": REINDEX_LOCK_KEY})
            return bool(taken.scalar())
        return self.try_write_lock(session, SQLITE_LOCK_WAIT_MS)

    def try_write_lock(self, session: Session, wait_ms: int) -> bool:
        """SQLite: take the single writer's lock for *session*'s transaction, waiting at most
        *wait_ms*; False when another connection keeps it. Other databases: True (writers of
        different rows do not wait for each other there)."""
        if not self.is_sqlite:
            return True
        return _sqlite_write_lock(session.connection(), wait_ms)

    def sentence_batches(self, session: Session, size: int) -> Iterator[list[Any]]:
        """Every sentence (id, article_id, position, start, end, text as UTF-8 bytes) in article
        and position order, *size* rows at a time (streamed: memory holds one batch)."""
        utf8 = self._utf8(session)
        query = (
            select(Sentence.id, Sentence.article_id, Sentence.position, Sentence.start, Sentence.end, utf8)
            .order_by(Sentence.article_id, Sentence.position)
            .execution_options(yield_per=size)
        )
        connection = session.connection()
        if self.is_sqlite:
            # The driver's own cursor, in the session's transaction: its plain tuples cost a third
            # of the time of result rows at a million sentences (2.0 s against 3.0 s).
            cursor = connection.connection.dbapi_connection.cursor()
            try:
                cursor.execute(str(query.compile(dialect=self.engine.dialect)))
                batches: Iterator[Any] = iter(lambda: cursor.fetchmany(size), [])
                yield from self._as_utf8(batches, utf8)
            finally:
                cursor.close()
        else:
            # Core, not ORM, rows, streamed from a server-side cursor.
            yield from self._as_utf8(connection.execute(query).partitions(size), utf8)

    @staticmethod
    def _as_utf8(batches: Iterator[Any], utf8) -> Iterator[list[Any]]:
        if utf8 is not Sentence.text:
            return batches
        return ([(*row[:5], row[5].encode("utf-8")) for row in batch] for batch in batches)

    def _utf8(self, session: Session):
        """The sentence text as the database's own UTF-8 bytes, where it can give them.

        The index works on UTF-8 bytes: decoding a million texts to strings only to encode them
        again cost seconds of a reindex.
        """
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return func.convert_to(Sentence.text, literal("UTF8"), type_=LargeBinary)
        if dialect == "sqlite":
            (encoding,) = session.connection().exec_driver_sql("PRAGMA encoding").one()
            if encoding == "UTF-8":  # a BLOB cast keeps the stored bytes
                return cast(Sentence.text, LargeBinary)
        return Sentence.text

    def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database file, without waiting for readers
        or writers (a passive checkpoint; nothing to do for other databases).

        A reindex writes the whole corpus to the log; copying it at commit took 3-5 s at a
        million sentences, in the reindex's critical path. The reindex worker commits without
        it and runs this while the serving process swaps in the new index. Done here, readers
        and writers carry on; whatever a busy moment leaves behind, the next commit's own
        automatic checkpoint copies.
        """
        if not self.is_sqlite:
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def dispose(self) -> None:
        self.engine.dispose()


# pg_try_advisory_xact_lock takes a 64-bit key: "Sanad" in ASCII, shared by every process.
REINDEX_LOCK_KEY = 0x53616E6164
SQLITE_LOCK_WAIT_MS = 3000
SQLITE_PAGE_SIZE = 16384


def _sqlite_write_lock(connection: Connection, wait_ms: int) -> bool:
    raw = connection.connection.dbapi_connection
    assert raw is not None
    (previous,) = raw.execute("PRAGMA busy_timeout").fetchone()
    raw.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    try:
        # Any write takes the lock; this one changes nothing.
        connection.execute(text("UPDATE index_state SET version = version WHERE id = 1"))
        return True
    except OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(previous)}")


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _no_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # after _sqlite_pragmas turned them on


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # A new database gets 16 KiB pages (an existing one keeps its own: SQLite ignores this).
    # Articles are about 12 KB of text each and a reindex writes the whole corpus: with 4 KiB
    # pages a million sentences' sync spent about 1.5 s more on page writes (8.2 s -> 6.8 s).
    # Set before WAL, which writes the database's first page.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    # WAL lets readers (bot processes) continue while a reindex writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
