"""The answer service: the one place that turns a question into quoted sentences.

Every adapter (console, Telegram, Discord, the command line) calls this service and holds no
retrieval logic of its own. The service never raises on user text: bad input becomes an
``invalid`` answer with an Arabic reason.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import logging
import os
import shutil
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from retrieval.aliases import AliasTable, join_names
from retrieval.arabic import has_words
from retrieval.corpus import BATCH_ARTICLES, SyncReport, read_and_split, split_document, sync_documents
from retrieval.documents import BadFile, Document, Problem, iter_files, load_file, source_key
from retrieval.index import BM25Params, CorpusAnalyser, analysis_pool
from retrieval.search import ArticleRecord, FieldConfig, Hit, SearchConfig, SearchIndex
from retrieval.snapshot import SentenceTableBuilder, SnapshotKey, SnapshotStore, mine_names_of
from retrieval.storage import Article, Feedback, IndexState, QuestionLog, Sentence, Store, safe_url, utcnow

from . import excerpt
from .answers import Answer, AnswerStatus, Quote, ReindexReport, SourceInfo, Stats
from .ratelimit import Admission, RateLimiter
from .settings import Settings

log = logging.getLogger(__name__)

REASON_EMPTY = "السؤال فارغ. اكتب سؤالك بالعربية، مثلا: متى تخطط شاومي لإنتاج أول سيارة؟"
REASON_NO_WORDS = "لم أجد في رسالتك كلمات أبحث بها. اكتب سؤالا بالكلمات، من فضلك."
REASON_TOO_LONG = "السؤال طويل جدا ({length} حرفا). الحد الأقصى {limit} حرف؛ اختصره من فضلك."
REASON_ONLY_QUESTION_WORDS = "سؤالك لا يحوي كلمة أبحث عنها غير أدوات السؤال. عمّ تسأل تحديدا؟"
REASON_NO_ANSWER = "لم أجد في المقالات جملة تجيب عن سؤالك. جرّب صياغة أخرى أو كلمات أدق."
REASON_EMPTY_CORPUS = "لا توجد مقالات مفهرسة بعد. اطلب من المشرف إعادة الفهرسة."
REASON_ERROR = "حدث خطأ داخلي أثناء البحث. حاول مرة أخرى بعد قليل."


class ReindexInProgress(RuntimeError):
    """A reindex is already running; only one runs at a time."""


class CorpusMissing(RuntimeError):
    """The corpus folder to reindex does not exist."""


class _WriterBusy(Exception):
    """SQLite's writer lock is held elsewhere (see AnswerService._log_question)."""


class ReindexFailed(RuntimeError):
    """A reindex run by a worker process failed (the message says why); nothing changed."""


# How long a question's log waits for SQLite's writer: another process logging holds it for
# milliseconds, a reindex for up to a minute. Entries that cannot wait are kept, up to a bound.
LOG_WAIT_MS = 200
MAX_PENDING_LOGS = 10_000
READ_BATCH = 20_000  # sentences read from the database at a time while building an index
# From this many sentences an index is built by a worker process (which analyses with a pool of
# its own): the serving process keeps answering without sharing its interpreter lock with the
# build, and its memory stays that of the loaded index. Smaller corpora are built in place.
PARALLEL_FROM = 50_000
_BYTES_PER_SENTENCE = 300  # UTF-8 Arabic news: for guessing a corpus's size from its files


def search_config(settings: Settings) -> SearchConfig:
    """The scoring configuration for *settings* (k1, b and the variant apply to every field).

    The weights were chosen by ``bench/tune_retrieval.py`` with folds over the articles of
    ARCD (see the README's retrieval section): light stems carry the match, character n-grams
    (weight 1) absorb typos and affixes, and the article's own score (2.0), a match on its
    title (7.0) and, for "ما هو X", its opening sentence (0.6) supply the context a single
    sentence lacks; the coverage of what the question asks beyond the article's title (2.5)
    then picks the sentence within the article. ISRI roots (0.15) catch derivations
    ("عاصمتها" for "عاصمة"); a root found in more than 5% of the sentences only adds to the
    sentences other terms reach: alone it says little, and at a million sentences such roots
    hold over a third of a question's postings (ARCD is unchanged at 5%; at 0% P@1 falls by
    0.002 and MRR by 0.005). The confidence reads a sentence with its article's title (see
    the README's calibration).
    """
    params = BM25Params(settings.bm25_variant, settings.bm25_k1, settings.bm25_b)
    return SearchConfig(
        fields=(
            FieldConfig("light", 1.0, params),
            FieldConfig("ngram", 1.0, params),
            FieldConfig("root", 0.15, params, reach=0.05),
        ),
        article_weight=2.0,
        title_weight=7.0,
        lead_weight=0.6,
        article_params=params,
        beyond_title_weight=2.5,
        title_in_confidence=True,
        threads=settings.search_threads or min(os.cpu_count() or 1, 4),
    )


class AnswerService:
    """Answers questions from the current index; rebuilds and swaps the index on reindex."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        config: SearchConfig | None = None,
        aliases: AliasTable | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.config = config or search_config(settings)
        self.aliases = aliases or AliasTable()
        self._index = SearchIndex([], [], self.config, self.aliases)
        self._version = -1
        self._reindex_lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load (start-up or refresh) at a time
        folder = snapshot_folder(settings, store)
        self._snapshots = SnapshotStore(folder) if folder is not None else None
        self._pending_lock = threading.Lock()
        self._pending_logs: list[QuestionLog] = []
        self._pending_votes: list[tuple[int, str, int]] = []
        self._limiter = RateLimiter(settings.rate_limit_per_minute)
        self._finishing: list[threading.Thread] = []  # reapers of workers that reported

    # --- lifecycle ---------------------------------------------------------------------------

    def join_workers(self, timeout: float = 30.0) -> None:
        """Wait until reindex workers that have reported finish their last step (the database
        log's checkpoint) and exit, up to *timeout* seconds in all (before the database goes
        away, or to read their resource use)."""
        deadline = time.monotonic() + timeout
        for reaper in self._finishing:
            reaper.join(max(0.0, deadline - time.monotonic()))
        self._finishing = [reaper for reaper in self._finishing if reaper.is_alive()]

    def start(self, *, index_if_empty: bool = True) -> ReindexReport | None:
        """Create the schema and load the index; the first run indexes ``CORPUS_DIR``."""
        self.store.create_schema()
        if index_if_empty and self.store.article_count() == 0 and self.settings.corpus_dir.is_dir():
            log.info("empty database: indexing %s", self.settings.corpus_dir)
            return self.reindex()
        self.load()
        return None

    def load(self) -> None:
        """Serve the index of what the database holds now: its saved snapshot when there is
        one for the database's index version, else built from the database (and saved)."""
        with self._load_lock:
            self._load()

    def _load(self) -> None:
        # Under _load_lock (see load and refresh_if_stale).
        started = time.perf_counter()
        state = self.store.index_state()
        key = _snapshot_key(state)
        index = None
        if key is not None and self._snapshots is not None:
            with _collector_paused():
                index = self._snapshots.load(key, self.config, self.aliases)
        if index is None and key is not None and state is not None and state.sentences >= PARALLEL_FROM:
            index, key = self._in_worker("build")
        if index is None:
            with self.store.read_session() as session:
                index = self._build(session)
                key = _snapshot_key(session.get(IndexState, 1))
            self._save_snapshot(index, key)
        version = key.version if key is not None else 0
        self._swap(index, version)
        if self._snapshots is not None and key is not None:
            self._snapshots.prune(key.version)
        log.info(
            "serving index version %d: %d articles, %d sentences (%.2fs)",
            version, len(index.articles), len(index.sentences), time.perf_counter() - started,
        )

    def refresh_if_stale(self) -> bool:
        """Load the database's index when another process has reindexed; True if it did.

        Questions are answered from the current index until the new one is swapped in. Safe to
        call from a polling thread: a call while a load or a reindex runs does nothing.
        """
        state = self.store.index_state()
        if state is None or state.version == self._version or self._reindex_lock.locked():
            return False
        if not self._load_lock.acquire(blocking=False):
            return False  # another thread is loading it already
        try:
            log.info("index version %s -> %s: reloading", self._version, state.version)
            self._load()
        finally:
            self._load_lock.release()
        return True

    @property
    def index(self) -> SearchIndex:
        return self._index

    @property
    def version(self) -> int:
        return self._version

    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    def _swap(self, index: SearchIndex, version: int) -> None:
        if len(index) and index.articles:
            # The compiled kernels are loaded on first use, or compiled for the arrays' types
            # (seconds with a cold cache; a loaded snapshot's arrays are read-only, a new type):
            # a whole answer here, not a user's question, pays for it.
            try:
                self._answer(index.articles[0].title, self.settings.top_k, 0, None, index)
                index.closest_titles(index.articles[0].title, 1)
            except Exception:  # a warm-up never stops a swap; a real question would show it
                log.warning("warming up the new index failed", exc_info=True)
        # A single reference assignment: readers see the old or the new index, never a mix.
        self._index, self._version = index, version
        # The libraries and the index are long-lived: keep them out of the cyclic collector's
        # full passes, which otherwise stop every thread for 50-150 ms now and then (seen as
        # the slowest answers under load). An index holds no reference cycles, so reference
        # counting still frees the old one when its last question is answered.
        gc.freeze()

    def _workers(self, sentences: int) -> int:
        if sentences < PARALLEL_FROM:
            return 1
        return self.settings.index_workers or os.cpu_count() or 1

    def _build(self, session: Session, pool=None) -> SearchIndex:
        """A new index of the articles and sentences *session* sees, read in batches (analysed
        by *pool*'s processes when given, or a pool of its own for a large corpus)."""
        rows = session.execute(
            select(Article.id, Article.title, Article.source, Article.url).order_by(Article.id)
        ).all()
        article_ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
        total = session.scalar(select(func.count(Sentence.id))) or 0
        table = SentenceTableBuilder()
        kinds = [f.analyzer for f in self.config.fields]
        with CorpusAnalyser(kinds, workers=self._workers(total), pool=pool) as analyser:
            for batch in self.store.sentence_batches(session, READ_BATCH):
                ids, article, position, start, end, utf8 = zip(*batch, strict=True)
                # Sentences come in article order; articles are numbered by their place.
                place = _article_places(article_ids, article)
                analyser.add_utf8(*table.add(ids, place, position, start, end, utf8))
            sentences = table.finish()
            # Names mined from the sentences, in the workers beside the analysis of the words (in
            # one, it was the last task of a reindex by seconds).
            mined = [analyser.submit(mine_names_of, *part) for part in sentences.text_parts(analyser.workers)]
            doc_article = sentences.article
            counts = np.bincount(doc_article, minlength=len(rows))
            starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if len(rows) else counts
            firsts = np.where(counts > 0, starts, 0)
            articles = [
                ArticleRecord(row.id, row.title, row.source, row.url, int(first), int(count))
                for row, first, count in zip(rows, firsts.tolist(), counts.tolist(), strict=True)
            ]
            parts = analyser.build(self.config, doc_article, firsts, [row.title for row in rows])
            parts.aliases = AliasTable.from_names(self.aliases, *join_names(m.get() for m in mined))
        return SearchIndex(articles, sentences, self.config, self.aliases, parts=parts)

    def _save_snapshot(
        self, index: SearchIndex, key: SnapshotKey | None, snapshots: SnapshotStore | None = None
    ) -> None:
        snapshots = snapshots or self._snapshots
        if snapshots is None or key is None:
            return
        started = time.perf_counter()
        try:
            path = snapshots.save(index, key, self.aliases)
        except OSError as exc:  # a full or read-only disk costs the next start time, not service
            log.warning("could not save the index snapshot in %s: %s", snapshots.folder, exc)
            return
        log.info("saved index snapshot %s in %.2fs", path, time.perf_counter() - started)

    # --- questions ---------------------------------------------------------------------------

    def validate(self, question: str) -> str | None:
        """The Arabic reason *question* cannot be asked, or None when it can."""
        text = (question or "").strip()
        if not text:
            return REASON_EMPTY
        if len(text) > self.settings.max_question_chars:
            return REASON_TOO_LONG.format(length=len(text), limit=self.settings.max_question_chars)
        if not has_words(text):
            return REASON_NO_WORDS
        if not self._index.primary.terms(text) and not self._index.aliases.expansions(text):
            return REASON_ONLY_QUESTION_WORDS
        return None

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        *,
        offset: int = 0,
        platform: str = "api",
        user_id: str | int | None = None,
        log_question: bool = True,
        related_ratio: float | None = None,
    ) -> Answer:
        """Answer *question* with up to *top_k* quotes, best first.

        The first quote is the best sentence; the others are included only when their score is
        within ``related_ratio`` of it (so close answers from several articles come together).
        With *offset*, the next quotes of the full ranking are returned instead ("more
        sources"). Below the confidence bar the answer is ``no_answer``. Never raises.
        """
        started = time.perf_counter()
        top_k = max(1, top_k or self.settings.top_k)
        try:
            answer = self._answer(question, top_k, offset, related_ratio)
        except Exception:  # the service must never fail a user's question
            log.exception("answering failed")
            answer = Answer(question, AnswerStatus.INVALID, reason=REASON_ERROR)
        elapsed = (time.perf_counter() - started) * 1000
        question_id = None
        if log_question and offset == 0:
            question_id = self._log_question(answer, platform, user_id, elapsed)
        return _replace(answer, elapsed_ms=elapsed, question_id=question_id or answer.question_id)

    def _answer(
        self, question: str, top_k: int, offset: int, related_ratio: float | None, index: SearchIndex | None = None
    ) -> Answer:
        question = question if isinstance(question, str) else str(question)
        reason = self.validate(question)
        if reason:
            return Answer(question, AnswerStatus.INVALID, reason=reason)
        # One index for the whole answer, even if a reindex swaps meanwhile.
        index = index if index is not None else self._index
        if not len(index):
            return Answer(question, AnswerStatus.NO_ANSWER, reason=REASON_EMPTY_CORPUS)
        wanted = offset + top_k + 1
        # Room for the quotes that the bar filters out below.
        result = index.search(question.strip(), max(3 * wanted, 20))
        # The bar decides whether there is an answer at all (does the best sentence cover the
        # question?). Further quotes shown to a user must clear it too; a ratio of 0 asks for
        # the plain ranking (as `sanad eval` measures it).
        bar = self.settings.min_confidence
        ratio = self.settings.related_score_ratio if related_ratio is None else related_ratio
        hits = _distinct(index, result.hits)  # lazily: an answer reads the first few
        best = next(hits, None)
        if best is None or best.confidence < bar:
            titles = index.closest_titles(question, 3) or [a.title for a in index.articles[:3]]
            return Answer(question, AnswerStatus.NO_ANSWER, reason=REASON_NO_ANSWER, suggestions=tuple(titles))
        hits = itertools.chain((best,), hits)
        if ratio <= 0:
            confident = list(itertools.islice(hits, wanted))
        else:
            confident = _clearing(hits, bar, max(wanted, 8))
        if offset:
            chosen = confident[offset : offset + top_k]
        else:
            # Context (article, title) decides the ranking; whether another quote is as good an
            # answer is judged on the sentences' own match with the question.
            chosen = _diverse(index, confident, ratio, top_k)
        asked = _Asked(index, question)
        quotes = tuple(self._quote(index, hit.doc, hit.score, result.terms, asked) for hit in chosen)
        has_more = len(confident) > offset + len(chosen)
        status = AnswerStatus.ANSWERED if quotes else AnswerStatus.NO_ANSWER
        reason = None if quotes else REASON_NO_ANSWER
        return Answer(question, status, quotes, reason=reason, has_more=has_more, offset=offset)

    def quote(self, index: SearchIndex, doc: int, question: str, *, score: float = 0.0) -> Quote:
        """The quote of sentence *doc* of *index* that the service shows for *question*: the
        sentence, or its best excerpt when it is longer than ``QUOTE_MAX_CHARS`` and
        ``QUOTE_WHOLE_MAX_CHARS``."""
        terms = frozenset(index.primary.terms(index.expand(question)))
        return self._quote(index, doc, score, terms, _Asked(index, question))

    def _quote(self, index: SearchIndex, doc: int, score: float, terms: frozenset[str], asked: _Asked) -> Quote:
        s = index.sentences[doc]
        a = index.articles[s.article]
        limit, whole = self.settings.quote_max_chars, self.settings.quote_whole_max_chars
        first, last = 0, len(s.text)
        if excerpt.cuts(len(s.text), limit, whole):
            first, last = excerpt.choose(s.text, asked.analysed(), a.title, limit, whole_up_to=whole)
        # Whole words only are cut away, so a matched word is inside the excerpt or outside it.
        highlights = tuple((x - first, y - first) for x, y in index.highlights(doc, terms) if first <= x and y <= last)
        return Quote(
            text=s.text[first:last],
            article_id=a.id,
            title=a.title,
            source=a.source,
            url=a.url,
            position=s.position,
            sentence_count=a.n_sentences,
            start=s.start + first,
            end=s.start + last,
            score=score,
            highlights=highlights,
            sentence_id=s.id,
            sentence_start=s.start,
            sentence_end=s.end,
        )

    def more(self, question_id: int, offset: int, top_k: int | None = None) -> Answer | None:
        """The next quotes for a logged question ("more sources"); None if it is unknown."""
        with self.store.session() as session:
            row = session.get(QuestionLog, question_id)
            question = row.question if row else None
        if question is None:
            return None
        answer = self.ask(question, top_k, offset=max(0, offset), log_question=False)
        return _replace(answer, question_id=question_id)

    def user_hash(self, platform: str, user_id: str | int | None) -> str | None:
        """A salted hash of a user id: logs can count users without knowing who they are."""
        if user_id is None:
            return None
        raw = f"{self.settings.user_hash_salt}:{platform}:{user_id}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def _log_question(self, answer: Answer, platform: str, user_id: str | int | None, elapsed: float) -> int | None:
        entry = QuestionLog(
            platform=platform[:32],
            user_hash=self.user_hash(platform, user_id),
            question=answer.question[: self.settings.max_question_chars * 2],
            status=answer.status.value,
            top_sentence_ids=[q.sentence_id for q in answer.quotes],
            latency_ms=elapsed,
            asked_at=utcnow(),
        )
        if self.store.is_sqlite and self.reindexing:
            # SQLite has one writer and the reindex holds it: rather than make the user wait
            # for the whole reindex, the entry is written when it ends (without an id, so this
            # one answer gets no feedback buttons).
            self._keep_pending_logs([entry])
            return None
        pending: list[QuestionLog] = []
        try:
            with self.store.session() as session:
                # Another process's reindex holds SQLite's one writer for up to a minute at a
                # million sentences: the answer does not wait for it. The entry is kept and
                # written with the next one that gets through (without an id meanwhile, so this
                # one answer gets no feedback buttons).
                if not self.store.try_write_lock(session, LOG_WAIT_MS):
                    raise _WriterBusy
                pending = self._take_pending_logs()
                session.add_all(pending)
                session.add(entry)
                session.flush()
                question_id = entry.id
        except _WriterBusy:
            self._keep_pending_logs([entry])
            return None
        except SQLAlchemyError:
            log.warning("could not log a question", exc_info=True)
            self._keep_pending_logs(pending)
            return None
        if self._pending_votes:
            self._write_votes_quietly()
        return question_id

    def _take_pending_logs(self) -> list[QuestionLog]:
        with self._pending_lock:
            pending, self._pending_logs = self._pending_logs, []
        return pending

    def _keep_pending_logs(self, entries: list[QuestionLog]) -> None:
        with self._pending_lock:
            self._pending_logs.extend(entries)
            dropped = len(self._pending_logs) - MAX_PENDING_LOGS
            if dropped > 0:  # the database has been unwritable for long: memory stays bounded
                del self._pending_logs[:dropped]
                log.warning("dropped the %d oldest question logs waiting for the database", dropped)

    def _flush_pending_logs(self) -> None:
        pending = self._take_pending_logs()
        if pending:
            try:
                with self.store.session() as session:
                    session.add_all(pending)
            except SQLAlchemyError:
                log.warning("could not log %d questions asked during a reindex", len(pending), exc_info=True)
        self._write_votes_quietly()

    def _write_votes_quietly(self) -> None:
        # After a question's log or a reindex: a failure here is logged, not the user's.
        try:
            self._write_pending_votes()
        except SQLAlchemyError:
            log.warning("could not write the votes kept while the database was busy", exc_info=True)

    def admit(self, platform: str, user_id: str | int) -> Admission:
        """Rate limit: may this user ask now? (``RATE_LIMIT_PER_MINUTE``)."""
        return self._limiter.admit(f"{platform}:{user_id}")

    def feedback(self, question_id: int, platform: str, user_id: str | int, vote: int) -> bool:
        """Record a 👍 (+1) or 👎 (-1); one vote per user per answer, a new vote replaces it.

        Returns False when the question is unknown.
        """
        vote = 1 if vote > 0 else -1
        user = self.user_hash(platform, user_id) or "anonymous"
        with self.store.session() as session:  # a read: never waits for a writer
            if session.get(QuestionLog, question_id) is None:
                return False
        # Written now, or, while another process holds SQLite's writer (a reindex), kept and
        # written with the next log or vote that gets through (see _log_question).
        with self._pending_lock:
            self._pending_votes.append((question_id, user, vote))
        self._write_pending_votes()
        return True

    def _write_pending_votes(self) -> None:
        with self._pending_lock:
            votes, self._pending_votes = self._pending_votes, []
        if not votes:
            return
        try:
            with self.store.session() as session:
                if not self.store.try_write_lock(session, LOG_WAIT_MS):
                    raise _WriterBusy
                for question_id, user, vote in votes:  # in order: a later vote replaces an earlier
                    try:
                        with session.begin_nested():
                            _record_vote(session, question_id, user, vote)
                    except IntegrityError:  # a concurrent first vote by the same user: theirs stands
                        pass
        except _WriterBusy:
            with self._pending_lock:
                self._pending_votes[:0] = votes[-MAX_PENDING_LOGS:]

    # --- corpus ------------------------------------------------------------------------------

    def reindex(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> ReindexReport:
        """Sync files into the database and swap in a new index, atomically.

        Without *paths*, ``CORPUS_DIR`` is synced (new, changed and deleted files); with
        *paths*, those files are added or replaced. Questions keep being answered from the old
        index meanwhile. On any failure the database transaction is rolled back and the old
        index keeps serving. Raises :class:`ReindexInProgress` if one is already running, in
        this process or another. A large corpus is reindexed by a worker process (see
        ``PARALLEL_FROM``); its failures raise :class:`ReindexFailed` with the cause.
        """
        if not self._reindex_lock.acquire(blocking=False):
            raise ReindexInProgress("a reindex is already running")
        try:
            started = time.perf_counter()
            folder = None
            if paths is None:
                corpus = self.settings.corpus_dir
                if not corpus.is_dir():
                    raise CorpusMissing(f"corpus folder not found: {corpus}")
                paths = [corpus]
                folder = source_key(corpus)
            if self._large(paths):
                index, key, report, problems = self._in_worker("reindex", paths, folder, progress)
            else:
                report, problems, index, key = self._reindex_here(paths, folder, progress, self._snapshots)
            # Committed: only now does the new index replace the old one.
            self._swap(index, key.version)
            if self._snapshots is not None:
                self._snapshots.prune(key.version)
            log.info(
                "reindexed: +%d ~%d -%d articles, %d sentences in %.2fs (version %d)",
                report.added, report.updated, report.removed, len(index.sentences), time.perf_counter() - started,
                key.version,
            )
            return ReindexReport(
                added=report.added,
                updated=report.updated,
                removed=report.removed,
                unchanged=report.unchanged,
                articles=len(index.articles),
                sentences=len(index.sentences),
                duration_s=time.perf_counter() - started,
                version=key.version,
                problems=tuple((p.path, p.reason) for p in problems),
            )
        finally:
            self._reindex_lock.release()
            self._flush_pending_logs()

    def _reindex_here(
        self,
        paths: Sequence[str | Path],
        folder: str | None,
        progress: Callable[[int], None] | None,
        snapshots: SnapshotStore | None,
        *,
        parallel: bool = False,
    ) -> tuple[SyncReport, list[Problem], SearchIndex, SnapshotKey]:
        """The reindex transaction: lock, sync files, bump the version, build, save, commit.

        *parallel*: files are read and split, and the index analysed, by a pool of processes.
        """
        pool = None
        if parallel and self._workers(PARALLEL_FROM) > 1:
            pool = analysis_pool([f.analyzer for f in self.config.fields], self._workers(PARALLEL_FROM))
        try:
            return self._reindex_transaction(paths, folder, progress, snapshots, pool)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()

    def _reindex_transaction(self, paths, folder, progress, snapshots, pool):
        started = time.perf_counter()
        files = _FileDocuments(paths, progress, pool)
        with self.store.session() as session:
            if not self.store.try_reindex_lock(session):
                raise ReindexInProgress("another process is reindexing")
            report = sync_documents(
                session,
                files,
                files_read=files.files,
                folder=folder,
                problem_files=(source_key(Path(p.path)) for p in files.problems),
                spans=files.spans,
            )
            for problem in files.problems:
                log.warning("skipped %s: %s", problem.path, problem.reason)
            synced = time.perf_counter()
            state = session.get(IndexState, 1)
            if state is None:
                state = IndexState(id=1, version=0)
                session.add(state)
            state.version = (state.version or 0) + 1
            session.flush()
            _return_freed_memory()
            index = self._build(session, pool)
            built = time.perf_counter()
            state.built_at = utcnow()
            state.articles = len(index.articles)
            state.sentences = len(index.sentences)
            state.duration_ms = (built - started) * 1000
            session.flush()
            key = _snapshot_key(state)
            assert key is not None
            # Saved before the commit: other processes see the new version only once its
            # snapshot is there to load. Left by a crash before the commit, it never matches.
            if snapshots is not None:
                self._save_snapshot(index, key, snapshots)
        log.info(
            "reindex transaction: sync %.2fs, index %.2fs, snapshot %.2fs",
            synced - started, built - synced, time.perf_counter() - built,
        )
        return report, files.problems, index, key

    def _large(self, paths: Sequence[str | Path]) -> bool:
        state = self.store.index_state()
        if state is not None and state.sentences >= PARALLEL_FROM:
            return True
        size = 0
        for path in iter_files(Path(p) for p in paths):
            with suppress(OSError):
                size += path.stat().st_size
        return size >= PARALLEL_FROM * _BYTES_PER_SENTENCE

    def _in_worker(
        self,
        task: str,
        paths: Sequence[str | Path] | None = None,
        folder: str | None = None,
        progress: Callable[[int], None] | None = None,
    ):
        """Run *task* ("reindex" or "build") in a worker process, then load what it saved.

        The worker saves its index as a snapshot (in the snapshot folder, or a temporary one
        handed over and removed); this process loads it, memory-mapped. Returns (index, key)
        for "build" and (index, key, sync report, problems) for "reindex".
        """
        import multiprocessing
        import tempfile

        handoff = self._snapshots.folder if self._snapshots is not None else Path(tempfile.mkdtemp(prefix="sanad-"))
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(
            target=_worker_main,
            args=(send, self.settings, self.config, self.aliases, task, paths, folder, str(handoff),
                  logging.getLogger().getEffectiveLevel(), os.getpid()),
            name=f"sanad-{task}",
        )
        worker.start()
        send.close()
        try:
            result = None
            while result is None:
                if receive.poll(0.2):
                    try:
                        message = receive.recv()
                    except EOFError:
                        break
                    if message[0] == "progress":
                        if progress:
                            progress(message[1])
                    elif message[0] == "in_progress":
                        raise ReindexInProgress(message[1])
                    elif message[0] == "error":
                        raise ReindexFailed(message[1])
                    else:
                        result = message[1]
                elif not worker.is_alive():
                    break
            if result is None:
                worker.join()
                raise ReindexFailed(f"the {task} process ended without a result (exit code {worker.exitcode})")
            key = result[0]
            with _collector_paused():
                index = SnapshotStore(handoff).load(key, self.config, self.aliases, verify=False)
            if index is None:  # the worker could not save it: build here rather than fail
                log.warning("the %s process left no loadable index: building it here", task)
                with self.store.read_session() as session:
                    index = self._build(session)
            return (index, *result)
        finally:
            if result is not None and worker.is_alive():
                # Done, and checkpointing the database's log (see _worker_main): reaped when it
                # ends, without holding up the swap.
                reaper = threading.Thread(target=worker.join, name=f"sanad-{task}-exit", daemon=True)
                reaper.start()
                self._finishing = [r for r in self._finishing if r.is_alive()] + [reaper]
            elif worker.is_alive():
                worker.kill()
                worker.join()
            receive.close()
            if self._snapshots is None:
                shutil.rmtree(handoff, ignore_errors=True)  # mapped files stay readable

    def sources(self) -> list[SourceInfo]:
        """The indexed articles with their sentence counts, in id order."""
        index = self._index
        return [SourceInfo(a.id, a.title, a.source, a.url, a.n_sentences) for a in index.articles]

    def stats(self, top_unanswered: int = 5) -> Stats:
        """Corpus size, question counts, feedback and the most frequent unanswered questions."""
        index = self._index
        with self.store.session() as session:
            counts = dict(
                session.execute(select(QuestionLog.status, func.count()).group_by(QuestionLog.status)).all()
            )
            up, down = session.execute(
                select(
                    func.coalesce(func.sum(case((Feedback.vote > 0, 1), else_=0)), 0),
                    func.coalesce(func.sum(case((Feedback.vote < 0, 1), else_=0)), 0),
                )
            ).one()
            frequent = session.execute(
                select(QuestionLog.question, func.count().label("n"))
                .where(QuestionLog.status == AnswerStatus.NO_ANSWER.value)
                .group_by(QuestionLog.question)
                .order_by(func.count().desc(), QuestionLog.question)
                .limit(top_unanswered)
            ).all()
            state = session.get(IndexState, 1)
        return Stats(
            articles=len(index.articles),
            sentences=len(index.sentences),
            index_version=state.version if state else 0,
            index_built_at=state.built_at.isoformat(timespec="seconds") if state and state.built_at else None,
            questions=sum(counts.values()),
            answered=counts.get(AnswerStatus.ANSWERED.value, 0),
            unanswered=counts.get(AnswerStatus.NO_ANSWER.value, 0),
            invalid=counts.get(AnswerStatus.INVALID.value, 0),
            feedback_up=int(up),
            feedback_down=int(down),
            top_unanswered=tuple((q, int(n)) for q, n in frequent),
        )

    def frequent_questions(self, prefix: str = "", limit: int = 25) -> list[str]:
        """Earlier answered questions, most frequent first, optionally starting with *prefix*."""
        with self.store.session() as session:
            query = select(QuestionLog.question).where(QuestionLog.status == AnswerStatus.ANSWERED.value)
            if prefix:
                query = query.where(QuestionLog.question.startswith(prefix, autoescape=True))
            rows = session.execute(
                query.group_by(QuestionLog.question).order_by(func.count().desc(), QuestionLog.question).limit(limit)
            ).all()
        return [r[0] for r in rows]


def _record_vote(session: Session, question_id: int, user: str, vote: int) -> None:
    existing = session.scalar(select(Feedback).where(Feedback.question_id == question_id, Feedback.user_hash == user))
    if existing:
        existing.vote = vote
    else:
        session.add(Feedback(question_id=question_id, user_hash=user, vote=vote))
        session.flush()  # a concurrent first vote shows here, inside its savepoint


class _FileDocuments:
    """The documents of the files under some paths, read one file at a time.

    Memory holds a few files' articles, not the corpus. With a pool, files are read and split
    into sentences by its processes, a few windows of files ahead. The files read and the
    problems are known once iteration ends; *progress* is called with 1 per file.
    """

    WINDOW = 32  # files per round of work handed to the pool

    def __init__(self, paths: Sequence[str | Path], progress: Callable[[int], None] | None, pool=None) -> None:
        self.paths = paths
        self.progress = progress
        self.pool = pool
        self.files: list[str] = []
        self.problems: list[Problem] = []
        # Spans of the documents given lately, kept until written (sync writes in batches).
        self._spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._given: deque[tuple[str, str]] = deque()

    def spans(self, document: Document) -> Sequence[tuple[int, int]]:
        """The sentence spans of a document this iterator gave (split by the pool if any)."""
        found = self._spans.get((document.source, document.content_hash))
        return found if found is not None else split_document(document)

    def __iter__(self) -> Iterator[Document]:
        paths = list(iter_files(Path(p) for p in self.paths))
        if self.pool is None:
            results: Iterator = map(_read_only, paths)
        else:
            results = self._from_pool(paths)
        for path, (key, documents, problem, spans) in zip(paths, results, strict=True):
            if problem is not None:
                self.problems.append(Problem(str(path), problem))
            else:
                self.files.append(key)
                for document, document_spans in zip(documents, spans, strict=True):
                    if document_spans is not None:
                        key = (document.source, document.content_hash)
                        self._spans[key] = document_spans
                        self._given.append(key)
                        if len(self._given) > 2 * BATCH_ARTICLES:  # written or unchanged by now
                            self._spans.pop(self._given.popleft(), None)
                    yield document
            if self.progress:
                self.progress(1)

    def _from_pool(self, paths: list[Path]) -> Iterator:
        windows = [paths[i : i + self.WINDOW] for i in range(0, len(paths), self.WINDOW)]
        pending = [self.pool.map_async(read_and_split, w) for w in windows[:2]]
        for i in range(len(windows)):
            done = pending.pop(0).get()
            if i + 2 < len(windows):
                pending.append(self.pool.map_async(read_and_split, windows[i + 2]))
            yield from done


def _article_places(article_ids: np.ndarray, article: Sequence[int]) -> np.ndarray:
    """Each sentence's article as its place in *article_ids* (sorted); raises on a sentence of
    an article that is not there (the reindex worker writes without SQLite's key checks)."""
    wanted = np.asarray(article, dtype=np.int64)
    place = np.searchsorted(article_ids, wanted)
    if len(wanted) and (place.max() >= len(article_ids) or np.any(article_ids[place] != wanted)):
        raise RuntimeError("the database holds sentences of articles it does not hold")
    return place


def _read_only(path: Path):
    # Without a pool, documents are split when written (only the new and changed ones).
    try:
        documents = load_file(path)
    except BadFile as exc:
        return source_key(path), [], str(exc), []
    return source_key(path), documents, None, [None] * len(documents)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while an index loads: its many new objects would trigger
    full passes that stop the threads answering questions (they are frozen once swapped in)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _return_freed_memory() -> None:
    """Give the memory the sync freed back to the system before the index is built.

    The sync allocates and frees the whole corpus as Python objects; the free pages are
    scattered through the heap, so the allocator keeps them (it only shrinks the heap from the
    top) and the build would add its peak on top of them: about 350 MB at a million sentences.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _die_with_parent(parent: int) -> None:
    """Make this worker end with the process that started it (even on kill -9)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the check below still covers a dead parent
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker_main(send, settings, config, aliases, task, paths, folder, handoff, level, parent) -> None:
    """A worker process's reindex or build (see ``AnswerService._in_worker``)."""
    _die_with_parent(parent)
    # Below the serving process's priority (its analysis pool inherits it): on a small machine
    # the questions asked meanwhile get the CPU first.
    with suppress(OSError, AttributeError):
        os.nice(10)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The commit leaves SQLite's log to the checkpoint below; see Store for the foreign keys.
    store = Store(settings.database_url, autocheckpoint=False, foreign_keys=False)
    try:
        service = AnswerService(store, settings, config=config, aliases=aliases)
        snapshots = SnapshotStore(Path(handoff))
        if task == "reindex":
            report, problems, _index, key = service._reindex_here(
                paths, folder, lambda n: send.send(("progress", n)), snapshots, parallel=True
            )
            send.send(("done", (key, report, problems)))
            # While the serving process loads and swaps in the index (it does not wait for this).
            store.checkpoint()
        else:
            with store.read_session() as session:
                index = service._build(session)
                key = _snapshot_key(session.get(IndexState, 1))
            if key is None:
                raise ReindexFailed("the database has no index state to build")
            service._save_snapshot(index, key, snapshots)
            send.send(("done", (key,)))
    except ReindexInProgress as exc:
        send.send(("in_progress", str(exc)))
    except BaseException as exc:
        log.exception("%s failed", task)
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        store.dispose()
        send.close()


def snapshot_folder(settings: Settings, store: Store) -> Path | None:
    """Where this database's index snapshots go: ``INDEX_CACHE_DIR`` (one subfolder per
    database), else beside a SQLite file; None for PostgreSQL without it or in-memory SQLite."""
    url = store.engine.url
    if settings.index_cache_dir is not None:
        name = "".join(ch if ch.isalnum() else "-" for ch in f"{url.get_backend_name()}-{url.database or ''}")
        digest = hashlib.sha256(safe_url(store.url).encode()).hexdigest()[:10]
        return settings.index_cache_dir / f"{name[-60:]}-{digest}"
    if store.is_sqlite and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        database = Path(url.database).expanduser()
        return database.with_name(database.name + ".index")
    return None


def _snapshot_key(state: IndexState | None) -> SnapshotKey | None:
    # Only a state written by a reindex (with its build time) names a snapshot unambiguously.
    if state is None or state.built_at is None:
        return None
    return SnapshotKey(state.version, state.built_at.isoformat(), state.articles, state.sentences)


class _Asked:
    """A question analysed for excerpts on first need: most quotes are short enough whole."""

    __slots__ = ("_analysed", "_index", "_question")

    def __init__(self, index: SearchIndex, question: str) -> None:
        self._index = index
        self._question = question
        self._analysed: excerpt.Asked | None = None

    def analysed(self) -> excerpt.Asked:
        if self._analysed is None:
            self._analysed = excerpt.asked(self._question, self._index.idf, self._index.aliases)
        return self._analysed


def _distinct(index: SearchIndex, hits: list[Hit]) -> Iterator[Hit]:
    """*hits* without the repeats of a sentence already given (best copy kept), as they are
    read: a sentence's text is fetched only when the hits before it were not enough.

    Articles repeat sentences (a lead restated in a later paragraph, a syndicated line);
    quoting the same words twice would only take the place of another answer. The same words
    have the same match with the question, so only hits whose match another hit shares are
    read and compared.
    """
    shared = Counter(hit.match for hit in hits)
    seen: set[str] = set()
    for hit in hits:
        if shared[hit.match] > 1:
            key = " ".join(index.sentences[hit.doc].text.split())
            if key in seen:
                continue
            seen.add(key)
        yield hit


def _clearing(hits: Iterator[Hit], bar: float, limit: int) -> list[Hit]:
    """The best hit and the next ones whose confidence clears *bar*, at most *limit* in all.

    Confidence is computed only for the hits looked at.
    """
    out = [next(hits)]
    for hit in hits:
        if len(out) >= limit:
            break
        if hit.confidence >= bar:
            out.append(hit)
    return out


def _diverse(index: SearchIndex, hits: list[Hit], ratio: float, top_k: int) -> list[Hit]:
    """The best hit and the close ones, preferring other articles when there are too many.

    "Close" means the sentence's own match is at least *ratio* of the strongest one's, so an answer
    that two articles give differently is shown from both. The result keeps the ranking's
    order; a ratio of 0 is the plain ranking.
    """
    if ratio <= 0:
        return hits[:top_k]
    best = hits[0]
    # Relative to the best match anywhere in the list: context may rank a weaker match first.
    bar = ratio * max(h.match for h in hits)
    close = [h for h in hits[1:] if h.match >= bar]
    seen = {int(index.doc_article[best.doc])}
    first_of_article: list[Hit] = []
    rest: list[Hit] = []
    for hit in close:
        article = int(index.doc_article[hit.doc])
        (rest if article in seen else first_of_article).append(hit)
        seen.add(article)
    chosen = {id(h) for h in [best, *first_of_article, *rest][:top_k]}
    return [h for h in hits if id(h) in chosen]


def _replace(answer: Answer, **changes: object) -> Answer:
    from dataclasses import replace

    return replace(answer, **changes)
