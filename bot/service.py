"""The answer service: the one place that turns a question into quoted sentences.

Every adapter (console, Telegram, Discord, the command line) calls this service and holds no
retrieval logic of its own. The service never raises on user text: bad input becomes an
``invalid`` answer with an Arabic reason.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from retrieval.aliases import AliasTable
from retrieval.arabic import has_words
from retrieval.corpus import sync_documents
from retrieval.documents import load_paths, source_key
from retrieval.index import BM25Params
from retrieval.search import ArticleRecord, FieldConfig, Hit, SearchConfig, SearchIndex, SentenceRecord
from retrieval.storage import Article, Feedback, IndexState, QuestionLog, Sentence, Store, utcnow

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


def search_config(settings: Settings) -> SearchConfig:
    """The scoring configuration for *settings* (k1, b and the variant apply to every field).

    The weights were chosen by ``bench/tune_retrieval.py`` with folds over the articles of
    ARCD (see the README's retrieval section): light stems carry the match, character n-grams
    (weight 2) absorb typos and affixes, ISRI roots (0.3) catch derivations, and the article's
    own score (1.0), a match on its title (4.0) and, for "ما هو X", its opening sentence (0.6)
    supply the context a single sentence lacks.
    """
    params = BM25Params(settings.bm25_variant, settings.bm25_k1, settings.bm25_b)
    return SearchConfig(
        fields=(FieldConfig("light", 1.0, params), FieldConfig("ngram", 2.0, params), FieldConfig("root", 0.3, params)),
        article_weight=1.0,
        title_weight=4.0,
        lead_weight=0.6,
        article_params=params,
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
        self._pending_lock = threading.Lock()
        self._pending_logs: list[QuestionLog] = []
        self._limiter = RateLimiter(settings.rate_limit_per_minute)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, *, index_if_empty: bool = True) -> ReindexReport | None:
        """Create the schema and load the index; the first run indexes ``CORPUS_DIR``."""
        self.store.create_schema()
        if index_if_empty and self.store.article_count() == 0 and self.settings.corpus_dir.is_dir():
            log.info("empty database: indexing %s", self.settings.corpus_dir)
            return self.reindex()
        self.load()
        return None

    def load(self) -> None:
        """Build the served index from what the database holds now."""
        with self.store.session() as session:
            index, version = self._build(session)
        self._swap(index, version)

    def refresh_if_stale(self) -> bool:
        """Load the database's index when another process has reindexed; True if it did."""
        state = self.store.index_state()
        if state is None or state.version == self._version or self._reindex_lock.locked():
            return False
        log.info("index version %s -> %s: reloading", self._version, state.version)
        self.load()
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
        # A single reference assignment: readers see the old or the new index, never a mix.
        self._index, self._version = index, version

    def _build(self, session: Session) -> tuple[SearchIndex, int]:
        rows = session.execute(
            select(Article.id, Article.title, Article.source, Article.url).order_by(Article.id)
        ).all()
        position_of = {row.id: i for i, row in enumerate(rows)}
        sentences: list[SentenceRecord] = []
        firsts: dict[int, int] = {}
        counts: dict[int, int] = {}
        for sid, article_id, position, start, end, text in session.execute(
            select(Sentence.id, Sentence.article_id, Sentence.position, Sentence.start, Sentence.end, Sentence.text)
            .order_by(Sentence.article_id, Sentence.position)
        ):
            art = position_of[article_id]
            firsts.setdefault(art, len(sentences))
            counts[art] = counts.get(art, 0) + 1
            sentences.append(SentenceRecord(sid, art, position, start, end, text))
        articles = [
            ArticleRecord(row.id, row.title, row.source, row.url, firsts.get(i, 0), counts.get(i, 0))
            for i, row in enumerate(rows)
        ]
        state = session.get(IndexState, 1)
        return SearchIndex(articles, sentences, self.config, self.aliases), (state.version if state else 0)

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

    def _answer(self, question: str, top_k: int, offset: int, related_ratio: float | None) -> Answer:
        question = question if isinstance(question, str) else str(question)
        reason = self.validate(question)
        if reason:
            return Answer(question, AnswerStatus.INVALID, reason=reason)
        index = self._index  # one snapshot for the whole answer, even if a reindex swaps
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
        hits = result.hits
        if not hits or hits[0].confidence < bar:
            titles = index.closest_titles(question, 3) or [a.title for a in index.articles[:3]]
            return Answer(question, AnswerStatus.NO_ANSWER, reason=REASON_NO_ANSWER, suggestions=tuple(titles))
        confident = hits if ratio <= 0 else _clearing(hits, bar, max(offset + top_k + 1, 8))
        if offset:
            chosen = confident[offset : offset + top_k]
        else:
            # Context (article, title) decides the ranking; whether another quote is as good an
            # answer is judged on the sentences' own match with the question.
            chosen = _diverse(index, confident, ratio, top_k)
        quotes = tuple(self._quote(index, hit.doc, hit.score, result.terms) for hit in chosen)
        has_more = len(confident) > offset + len(chosen)
        status = AnswerStatus.ANSWERED if quotes else AnswerStatus.NO_ANSWER
        reason = None if quotes else REASON_NO_ANSWER
        return Answer(question, status, quotes, reason=reason, has_more=has_more, offset=offset)

    @staticmethod
    def _quote(index: SearchIndex, doc: int, score: float, terms: frozenset[str]) -> Quote:
        s = index.sentences[doc]
        a = index.articles[s.article]
        return Quote(
            text=s.text,
            article_id=a.id,
            title=a.title,
            source=a.source,
            url=a.url,
            position=s.position,
            sentence_count=a.n_sentences,
            start=s.start,
            end=s.end,
            score=score,
            highlights=tuple(index.highlights(doc, terms)),
            sentence_id=s.id,
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
            with self._pending_lock:
                self._pending_logs.append(entry)
            return None
        try:
            with self.store.session() as session:
                session.add(entry)
                session.flush()
                return entry.id
        except SQLAlchemyError:
            log.warning("could not log a question", exc_info=True)
            return None

    def _flush_pending_logs(self) -> None:
        with self._pending_lock:
            pending, self._pending_logs = self._pending_logs, []
        if not pending:
            return
        try:
            with self.store.session() as session:
                session.add_all(pending)
        except SQLAlchemyError:
            log.warning("could not log %d questions asked during a reindex", len(pending), exc_info=True)

    def admit(self, platform: str, user_id: str | int) -> Admission:
        """Rate limit: may this user ask now? (``RATE_LIMIT_PER_MINUTE``)."""
        return self._limiter.admit(f"{platform}:{user_id}")

    def feedback(self, question_id: int, platform: str, user_id: str | int, vote: int) -> bool:
        """Record a 👍 (+1) or 👎 (-1); one vote per user per answer, a new vote replaces it.

        Returns False when the question is unknown.
        """
        vote = 1 if vote > 0 else -1
        user = self.user_hash(platform, user_id) or "anonymous"
        try:
            with self.store.session() as session:
                if session.get(QuestionLog, question_id) is None:
                    return False
                existing = session.scalar(
                    select(Feedback).where(Feedback.question_id == question_id, Feedback.user_hash == user)
                )
                if existing:
                    existing.vote = vote
                else:
                    session.add(Feedback(question_id=question_id, user_hash=user, vote=vote))
            return True
        except IntegrityError:  # a concurrent first vote by the same user: theirs stands
            return True

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
        index keeps serving. Raises :class:`ReindexInProgress` if one is already running.
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
            loaded = load_paths(paths)
            for problem in loaded.problems:
                log.warning("skipped %s: %s", problem.path, problem.reason)
            with self.store.session() as session:
                report = sync_documents(
                    session,
                    loaded.documents,
                    files_read=loaded.files,
                    folder=folder,
                    problem_files=[source_key(Path(p.path)) for p in loaded.problems],
                    progress=progress,
                )
                state = session.get(IndexState, 1)
                if state is None:
                    state = IndexState(id=1, version=0)
                    session.add(state)
                state.version = (state.version or 0) + 1
                session.flush()
                index, version = self._build(session)
                duration = time.perf_counter() - started
                state.built_at = utcnow()
                state.articles = len(index.articles)
                state.sentences = len(index.sentences)
                state.duration_ms = duration * 1000
            # Committed: only now does the new index replace the old one.
            self._swap(index, version)
            log.info(
                "reindexed: +%d ~%d -%d articles, %d sentences in %.2fs (version %d)",
                report.added, report.updated, report.removed, len(index.sentences), duration, version,
            )
            return ReindexReport(
                added=report.added,
                updated=report.updated,
                removed=report.removed,
                unchanged=report.unchanged,
                articles=len(index.articles),
                sentences=len(index.sentences),
                duration_s=time.perf_counter() - started,
                version=version,
                problems=tuple((p.path, p.reason) for p in loaded.problems),
            )
        finally:
            self._reindex_lock.release()
            self._flush_pending_logs()

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


def _clearing(hits: list[Hit], bar: float, limit: int) -> list[Hit]:
    """The best hit and the next ones whose confidence clears *bar*, at most *limit* in all.

    Confidence is computed only for the hits looked at.
    """
    out = [hits[0]]
    for hit in hits[1:]:
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
    seen = {index.sentences[best.doc].article}
    first_of_article: list[Hit] = []
    rest: list[Hit] = []
    for hit in close:
        article = index.sentences[hit.doc].article
        (rest if article in seen else first_of_article).append(hit)
        seen.add(article)
    chosen = {id(h) for h in [best, *first_of_article, *rest][:top_k]}
    return [h for h in hits if id(h) in chosen]


def _replace(answer: Answer, **changes: object) -> Answer:
    from dataclasses import replace

    return replace(answer, **changes)
