"""Keeping secrets (bot tokens, webhook secrets) out of logs and tracebacks.

Tokens are part of API URLs and some libraries' error messages quote them; every log line and
traceback passes through a :class:`Redactor` before a handler writes it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable

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
