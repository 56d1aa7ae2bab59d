"""Keeping the bot token out of logs.

The token is part of every Bot API URL, and some errors quote it (PTB's ``InvalidToken`` at
start-up does). Every log line and traceback passes through :class:`Redactor` before it is
written; ``httpx`` logs each request URL at INFO, so it is held at WARNING.
"""

from __future__ import annotations

import logging

from telegram.error import InvalidToken, NetworkError

from ..redaction import Redactor

__all__ = ["NoTracebackForConnectionProblems", "Redactor", "install"]


class NoTracebackForConnectionProblems(logging.Filter):
    """A rejected token or an unreachable server: PTB's one line says it, a traceback adds only noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], InvalidToken | NetworkError):
            record.exc_info, record.exc_text = None, None
        return True


def install(redactor: Redactor) -> None:
    """Put *redactor* on every handler of the root logger and quiet the URL-logging libraries."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet = NoTracebackForConnectionProblems()
    for handler in root.handlers:
        if redactor not in handler.filters:
            handler.addFilter(quiet)
            handler.addFilter(redactor)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
