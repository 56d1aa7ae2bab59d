"""The Telegram adapter: a thin python-telegram-bot layer over the answer service.

``sanad run telegram`` calls :func:`run_telegram`; tests build the same application with
:func:`build_application` and a recording transport.
"""

from .application import build_application, run_telegram

__all__ = ["build_application", "run_telegram"]
