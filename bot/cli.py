"""The ``sanad`` command line (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .answers import ReindexReport
from .settings import Settings, SettingsError

log = logging.getLogger("sanad")


class CliError(Exception):
    """An error worth one line to the user and a non-zero exit."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sanad",
        description="Sanad answers questions about Arabic articles by quoting the sentence that answers them.",
    )
    parser.add_argument("--version", action="version", version=f"sanad {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file to read (default: .env)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show informational logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="answer questions (arguments, or one per line on standard input)")
    ask.add_argument("question", nargs="*", help="the question; several words are joined")
    ask.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    ask.add_argument("--top", type=int, default=None, metavar="K", help="at most K quotes (default TOP_K)")

    sub.add_parser("chat", help="interactive console chat")

    ingest = sub.add_parser("ingest", help="add or replace articles from files or folders")
    ingest.add_argument("paths", nargs="+", help=".txt .md .json .jsonl files or folders")

    sub.add_parser("reindex", help="sync CORPUS_DIR into the database and rebuild the index")
    sub.add_parser("sources", help="list the indexed articles")
    sub.add_parser("stats", help="corpus, questions and feedback counts")

    ev = sub.add_parser("eval", help="measure retrieval on a SQuAD-format file")
    ev.add_argument("file", help="SQuAD-format JSON, e.g. ../shared/eval/arcd-train.json")
    ev.add_argument("--details", metavar="FILE", help="write one JSON line per question to FILE")

    run = sub.add_parser("run", help="run a chat bot")
    run.add_argument("platform", choices=["telegram", "discord", "console"])

    sub.add_parser("discord-sync", help="register the Discord slash commands now")
    return parser


def _progress_bar(total: int, label: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="article", disable=not sys.stderr.isatty() or total < 20, file=sys.stderr)


@contextmanager
def _app(settings: Settings, *, index_if_empty: bool = True) -> Iterator:
    from .app import build_app

    app = build_app(settings, index_if_empty=index_if_empty)
    try:
        yield app
    finally:
        app.close()


def _print_report(report: ReindexReport, out=None) -> None:
    out = out or sys.stdout
    for path, reason in report.problems:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(
        f"articles: {report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{report.unchanged} unchanged; {report.articles} articles, {report.sentences} sentences "
        f"indexed in {report.duration_s:.2f}s (index version {report.version})",
        file=out,
    )


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    from .console import render_answer

    if args.top is not None and args.top < 1:
        raise CliError("--top must be at least 1")
    with _app(settings) as app:
        questions: Sequence[str]
        if args.question:
            questions = [" ".join(args.question)]
        else:
            questions = (line.rstrip("\n") for line in sys.stdin)  # type: ignore[assignment]
        status = 0
        for question in questions:
            if not args.question and not question.strip():
                continue
            answer = app.service.ask(question, args.top, platform="cli")
            if args.json:
                print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
            else:
                print(render_answer(answer, bold=sys.stdout.isatty()), flush=True)
                print()
        return status


def cmd_chat(settings: Settings, _args: argparse.Namespace) -> int:
    from .console import chat

    with _app(settings) as app:
        return chat(app.service)


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not Path(p).exists()]
    for path in missing:
        print(f"skipped {path}: not found", file=sys.stderr)
    paths = [p for p in args.paths if Path(p).exists()]
    if not paths:
        raise CliError("nothing to ingest: none of the given paths exists")
    with _app(settings) as app:
        from retrieval.documents import iter_files

        total = sum(1 for _ in iter_files(Path(p) for p in paths))
        with _progress_bar(total, "ingest") as bar:
            report = app.service.reindex(paths, progress=bar.update)
        _print_report(report)
        return 1 if report.problems and not (report.added or report.updated or report.unchanged) else 0


def cmd_reindex(settings: Settings, _args: argparse.Namespace) -> int:
    with _app(settings, index_if_empty=False) as app:
        from retrieval.documents import iter_files

        total = sum(1 for _ in iter_files([settings.corpus_dir])) if settings.corpus_dir.is_dir() else 0
        with _progress_bar(total, "reindex") as bar:
            report = app.service.reindex(progress=bar.update)
        _print_report(report)
        return 0


def cmd_sources(settings: Settings, _args: argparse.Namespace) -> int:
    from .bidi import isolate_ltr

    with _app(settings) as app:
        sources = app.service.sources()
        if not sources:
            print("no articles indexed")
        for s in sources:
            print(f"{s.article_id}\t{s.sentences} sentences\t{isolate_ltr(s.title)}\t{s.url or s.source}")
    return 0


def cmd_stats(settings: Settings, _args: argparse.Namespace) -> int:
    with _app(settings) as app:
        st = app.service.stats()
    print(f"articles: {st.articles}")
    print(f"sentences: {st.sentences}")
    print(f"index version: {st.index_version} (built {st.index_built_at or 'never'})")
    print(f"questions: {st.questions} ({st.answered} answered, {st.unanswered} unanswered, {st.invalid} invalid)")
    print(f"feedback: {st.feedback_up} up, {st.feedback_down} down")
    if st.top_unanswered:
        print("most frequent unanswered questions:")
        for question, count in st.top_unanswered:
            print(f"  {count}× {question}")
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from .evaluation import evaluate, format_report

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"evaluation file not found: {path}")
    report = evaluate(path, settings, details=Path(args.details) if args.details else None)
    print(format_report(report))
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if args.platform == "console":
        return cmd_chat(settings, args)
    if args.platform == "telegram":
        if not settings.telegram_bot_token:
            raise CliError("TELEGRAM_BOT_TOKEN is not set: put the token from @BotFather in .env or the environment")
        from .telegram_bot import run_telegram

        with _app(settings) as app:
            return run_telegram(app)
    if not settings.discord_bot_token:
        raise CliError("DISCORD_BOT_TOKEN is not set: put the bot token from the Discord developer portal in .env")
    from .discord_bot import run_discord

    with _app(settings) as app:
        return run_discord(app)


def cmd_discord_sync(settings: Settings, _args: argparse.Namespace) -> int:
    if not settings.discord_bot_token:
        raise CliError("DISCORD_BOT_TOKEN is not set: put the bot token from the Discord developer portal in .env")
    from .discord_bot import sync_commands

    with _app(settings) as app:
        return sync_commands(app)


COMMANDS = {
    "ask": cmd_ask,
    "chat": cmd_chat,
    "ingest": cmd_ingest,
    "reindex": cmd_reindex,
    "sources": cmd_sources,
    "stats": cmd_stats,
    "eval": cmd_eval,
    "run": cmd_run,
    "discord-sync": cmd_discord_sync,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors are one line on standard error and a non-zero exit."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    try:
        settings = Settings.from_env(env_file=args.env_file)
    except SettingsError as exc:
        print(f"sanad: settings error: {exc}", file=sys.stderr)
        return 2
    level = settings.log_level if (args.verbose or args.command in ("run", "discord-sync")) else "WARNING"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](settings, args)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"sanad: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line, never a traceback; details with -v
        from retrieval.storage import safe_url

        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if settings.database_url and settings.database_url in message:
            message = message.replace(settings.database_url, safe_url(settings.database_url))
        log.debug("failed", exc_info=True)
        print(f"sanad: error: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1
