"""Keeping the bot token out of logs.

The token is part of every Bot API URL, and some errors quote it (PTB's ``InvalidToken`` at
start-up does). Every log line and traceback passes through :class:`Redactor` before it is
written; ``httpx`` logs each request URL at INFO, so it is held at WARNING.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable

from telegram.error import InvalidToken, NetworkError

REDACTED = "<redacted>"


class Redactor(logging.Filter):
    """A logging filter (and helper) that replaces secrets in messages and tracebacks."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """*text* with every secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def describe(self, error: BaseException) -> str:
        """*error* with its traceback, redacted, for a log line."""
        return self.redact("".join(traceback.format_exception(error)).rstrip("\n"))


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
