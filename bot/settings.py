"""All settings, read from the environment and ``.env``, typed and validated in one place.

Every setting is listed with a comment in ``.env.example``. A bad value stops start-up with
one clear line naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _int_list(value: str) -> tuple[int, ...]:
    items = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    try:
        return tuple(int(v) for v in items)
    except ValueError:
        raise ValueError("expected comma-separated numeric ids") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _positive(kind: Callable[[str], T], *, allow_zero: bool = False) -> Callable[[str], T]:
    def parse(value: str) -> T:
        number = kind(value)
        if number < 0 or (number == 0 and not allow_zero):  # type: ignore[operator]
            raise ValueError("must be positive" if not allow_zero else "must not be negative")
        return number

    return parse


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError("must be between 0 and 1")
    return number


@dataclass(frozen=True)
class Settings:
    """Typed settings of a Sanad process. Secrets are kept out of ``repr``."""

    database_url: str = "sqlite:///data/sanad.db"
    corpus_dir: Path = Path("seeds")
    aliases_file: Path | None = None
    log_level: str = "INFO"

    # Retrieval
    bm25_variant: str = "plus"
    bm25_k1: float = 0.2
    bm25_b: float = 0.0
    top_k: int = 3
    min_confidence: float = 0.35
    quote_max_chars: int = 220  # the longest excerpt of a long sentence; 0: whole sentences
    # Sentences up to this length are quoted whole: a cut saves little reading there and loses
    # the answer more often than it saves it (see the README). 0: cut anything over the limit.
    quote_whole_max_chars: int = 400
    related_score_ratio: float = 0.6
    max_question_chars: int = 1000

    # Abuse and privacy
    rate_limit_per_minute: int = 20
    user_hash_salt: str = field(default="sanad", repr=False)

    # Several processes
    index_poll_seconds: float = 10.0
    # Index snapshots (None: beside the SQLite file; not kept for PostgreSQL) and analysis
    # worker processes for large corpora (0: one per core).
    index_cache_dir: Path | None = None
    index_workers: int = 0
    # Threads that share the scoring of one question (0: one per core, at most 4).
    search_threads: int = 0

    # Telegram
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_admin_ids: tuple[int, ...] = ()
    telegram_api_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = 8443
    telegram_webhook_secret: str | None = field(default=None, repr=False)

    # Discord
    discord_bot_token: str | None = field(default=None, repr=False)
    discord_admin_user_ids: tuple[int, ...] = ()
    discord_admin_role_ids: tuple[int, ...] = ()
    discord_guild_ids: tuple[int, ...] = ()
    discord_api_base_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
        """Settings from *environ* (default ``os.environ``) over the values in *env_file*.

        Raises :class:`SettingsError` naming the variable when a value is invalid.
        """
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        parsed: dict[str, object] = {}

        def read(name: str, attr: str, parse: Callable[[str], object]) -> None:
            raw = values.get(name)
            if raw is None or raw.strip() == "":
                return
            try:
                parsed[attr] = parse(raw.strip())
            except (ValueError, TypeError) as exc:
                shown = raw if "TOKEN" not in name and "SECRET" not in name and "SALT" not in name else "***"
                raise SettingsError(f"{name}={shown!r} is not valid: {exc}") from None

        read("DATABASE_URL", "database_url", str)
        read("CORPUS_DIR", "corpus_dir", Path)
        read("ALIASES_FILE", "aliases_file", Path)
        read("LOG_LEVEL", "log_level", lambda v: _choice("debug", "info", "warning", "error")(v).upper())
        read("BM25_VARIANT", "bm25_variant", _choice("okapi", "l", "plus"))
        read("BM25_K1", "bm25_k1", _positive(float, allow_zero=True))
        read("BM25_B", "bm25_b", _fraction)
        read("TOP_K", "top_k", _positive(int))
        read("MIN_CONFIDENCE", "min_confidence", _fraction)
        read("QUOTE_MAX_CHARS", "quote_max_chars", _positive(int, allow_zero=True))
        read("QUOTE_WHOLE_MAX_CHARS", "quote_whole_max_chars", _positive(int, allow_zero=True))
        read("RELATED_SCORE_RATIO", "related_score_ratio", _fraction)
        read("MAX_QUESTION_CHARS", "max_question_chars", _positive(int))
        read("RATE_LIMIT_PER_MINUTE", "rate_limit_per_minute", _positive(int, allow_zero=True))
        read("USER_HASH_SALT", "user_hash_salt", str)
        read("INDEX_POLL_SECONDS", "index_poll_seconds", _positive(float, allow_zero=True))
        read("INDEX_CACHE_DIR", "index_cache_dir", Path)
        read("INDEX_WORKERS", "index_workers", _positive(int, allow_zero=True))
        read("SEARCH_THREADS", "search_threads", _positive(int, allow_zero=True))
        read("TELEGRAM_BOT_TOKEN", "telegram_bot_token", str)
        read("TELEGRAM_ADMIN_IDS", "telegram_admin_ids", _int_list)
        read("TELEGRAM_API_BASE_URL", "telegram_api_base_url", lambda v: v.rstrip("/"))
        read("TELEGRAM_WEBHOOK_URL", "telegram_webhook_url", str)
        read("TELEGRAM_WEBHOOK_LISTEN", "telegram_webhook_listen", str)
        read("TELEGRAM_WEBHOOK_PORT", "telegram_webhook_port", _positive(int))
        read("TELEGRAM_WEBHOOK_SECRET", "telegram_webhook_secret", str)
        read("DISCORD_BOT_TOKEN", "discord_bot_token", str)
        read("DISCORD_ADMIN_USER_IDS", "discord_admin_user_ids", _int_list)
        read("DISCORD_ADMIN_ROLE_IDS", "discord_admin_role_ids", _int_list)
        read("DISCORD_GUILD_IDS", "discord_guild_ids", _int_list)
        read("DISCORD_API_BASE_URL", "discord_api_base_url", lambda v: v.rstrip("/"))
        return cls(**parsed)  # type: ignore[arg-type]
