"""Composition root: the one place that wires settings, store, aliases and the answer service."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from retrieval.aliases import AliasTable
from retrieval.storage import Store

from .service import AnswerService
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    store: Store
    service: AnswerService

    def close(self) -> None:
        self.service.join_workers()
        self.store.dispose()


def load_aliases(settings: Settings) -> AliasTable:
    """Aliases from ``ALIASES_FILE`` (a missing file is a settings error, not silence)."""
    table = AliasTable()
    if settings.aliases_file is not None:
        if not settings.aliases_file.is_file():
            raise FileNotFoundError(f"ALIASES_FILE not found: {settings.aliases_file}")
        table.extend_from_file(settings.aliases_file)
    return table


def build_app(settings: Settings, *, start: bool = True, index_if_empty: bool = True) -> App:
    """Create the store and the service; with *start*, load (or first build) the index."""
    store = Store(settings.database_url)
    service = AnswerService(store, settings, aliases=load_aliases(settings))
    if start:
        service.start(index_if_empty=index_if_empty)
    return App(settings, store, service)
