"""Shared fixtures: settings over a temporary SQLite file, the seed articles, and PostgreSQL."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.settings import Settings

from .pg import PostgresServer, find_bin_dir

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

_db_counter = itertools.count()


@pytest.fixture
def seeds_dir() -> Path:
    return SEEDS


def make_settings(database_url: str, corpus_dir: Path = SEEDS, **overrides) -> Settings:
    return Settings(database_url=database_url, corpus_dir=corpus_dir, **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(f"sqlite:///{tmp_path}/sanad.db")


@pytest.fixture
def app(settings: Settings):
    application = build_app(settings)
    yield application
    application.close()


@pytest.fixture(scope="session")
def pg_server():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.create_database(f"sanad_test_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sanad.db"
    return request.getfixturevalue("pg_url")


def build(settings: Settings) -> App:
    return build_app(settings)


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory):
    """One app for read-only tests that ask many questions (hypothesis)."""
    path = tmp_path_factory.mktemp("shared")
    application = build_app(make_settings(f"sqlite:///{path}/sanad.db"))
    yield application
    application.close()
