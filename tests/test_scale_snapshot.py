"""Index snapshots: saved beside the database, loaded at start-up, never served when stale or damaged."""

import json
import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.answers import AnswerStatus
from bot.app import build_app
from bot.service import search_config
from bot.settings import Settings
from retrieval.aliases import AliasTable
from retrieval.documents import load_paths
from retrieval.search import ArticleRecord, SearchIndex, SentenceRecord
from retrieval.sentences import split_sentences
from retrieval.snapshot import SnapshotKey, SnapshotStore

from .conftest import SEEDS, make_settings

QUESTION = "كم سيارة باعت Great Wall في العام الماضي؟"
KEY = SnapshotKey(3, "2024-01-02T03:04:05.123456", 2, 0)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


def seed_index() -> SearchIndex:
    articles, sentences = [], []
    for a, doc in enumerate(load_paths([SEEDS]).documents):
        first = len(sentences)
        for pos, span in enumerate(split_sentences(doc.text), 1):
            text = doc.text[span.start : span.end]
            sentences.append(SentenceRecord(100 + len(sentences), a, pos, span.start, span.end, text))
        articles.append(ArticleRecord(10 + a, doc.title, doc.source, None, first, len(sentences) - first))
    return SearchIndex(articles, sentences, search_config(Settings()))


def key_for(index: SearchIndex) -> SnapshotKey:
    return replace(KEY, articles=len(index.articles), sentences=len(index.sentences))


def same_answers(one: SearchIndex, two: SearchIndex) -> None:
    for question in (QUESTION, "متى تخطط شاومي لإنتاج أول سيارة؟", "ما هو شاومي", "لي جون"):
        first, second = one.search(question, 10), two.search(question, 10)
        assert [(h.doc, h.score, h.confidence) for h in first.hits] == [
            (h.doc, h.score, h.confidence) for h in second.hits
        ]
        assert first.terms == second.terms
    assert one.closest_titles("سيارات كهربائية") == two.closest_titles("سيارات كهربائية")


def saved_and_loaded(tmp_path) -> tuple[SearchIndex, SnapshotStore, SearchIndex]:
    """The seed index, the store it was saved in, and the index loaded back from it."""
    index = seed_index()
    store = SnapshotStore(tmp_path / "snapshots")
    store.save(index, key_for(index))
    loaded = store.load(key_for(index), index.config)
    assert loaded is not None
    return index, store, loaded


def test_a_saved_index_loads_and_answers_the_same(tmp_path):
    index, _store, loaded = saved_and_loaded(tmp_path)
    same_answers(index, loaded)
    assert list(loaded.sentences) == list(index.sentences)
    assert loaded.articles == index.articles
    assert loaded.aliases.groups() == index.aliases.groups()
    assert loaded.sentences[-1] == index.sentences[-1] and loaded.sentences[1:3] == index.sentences[1:3]


def mapped_pages(folder) -> dict[str, tuple[int, int]]:
    """For each file of *folder* this process maps: (kB mapped, kB of it in memory), from Linux's smaps."""
    out: dict[str, tuple[int, int]] = {}
    current = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):  # a mapping: address, perms, offset, device, inode, path
                path = " ".join(head[5:])
                current = path if path.startswith(str(folder)) else None
            elif current and head[0] in ("Size:", "Rss:"):
                size, rss = out.get(current, (0, 0))
                out[current] = (size + int(head[1]), rss) if head[0] == "Size:" else (size, rss + int(head[1]))
    return out


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads Linux's /proc/self/smaps")
def test_a_loaded_snapshot_is_mapped_in_before_the_first_question(tmp_path):
    # Otherwise the first questions after a start or a reindex each wait for page faults (half
    # a millisecond more at the median at a million sentences).
    _index, store, _loaded = saved_and_loaded(tmp_path)
    pages = mapped_pages(store.path(KEY.version))
    assert len(pages) > 10  # the fields' postings, the sentences, the articles...
    assert {name: sizes for name, sizes in pages.items() if sizes[0] != sizes[1]} == {}


def test_a_stale_snapshot_is_not_served(tmp_path, caplog):
    index = seed_index()
    store = SnapshotStore(tmp_path)
    store.save(index, key_for(index))
    with caplog.at_level(logging.WARNING):
        assert store.load(replace(key_for(index), built_at="2024-01-02T03:04:06"), index.config) is None
        assert store.load(replace(key_for(index), sentences=1), index.config) is None
        other = replace(index.config, fields=index.config.fields[:1])
        assert store.load(key_for(index), other) is None
    assert "stale" in caplog.text and "another retrieval configuration" in caplog.text
    assert store.load(replace(key_for(index), version=4), index.config) is None  # none saved: silent
    assert store.load(key_for(index), replace(index.config, title_weight=9.0)) is not None  # weights apply per question


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "meta"])
def test_a_damaged_snapshot_is_never_served(tmp_path, caplog, damage):
    index = seed_index()
    store = SnapshotStore(tmp_path)
    folder = store.save(index, key_for(index))
    target = folder / "field0.data.npy"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[-3] ^= 0xFF  # a weight changes, the file still parses
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "delete":
        target.unlink()
    else:
        (folder / "meta.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert store.load(key_for(index), index.config) is None
    assert "rebuilding" in caplog.text


def test_a_snapshot_from_other_code_is_not_served(tmp_path, caplog):
    index = seed_index()
    store = SnapshotStore(tmp_path)
    folder = store.save(index, key_for(index))
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    meta["code"] = "0" * 16
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert store.load(key_for(index), index.config) is None
    assert "another version of the code" in caplog.text


def test_changed_admin_aliases_are_applied_to_a_loaded_snapshot(tmp_path, caplog):
    index = seed_index()
    store = SnapshotStore(tmp_path)
    store.save(index, key_for(index))
    admins = AliasTable([["بيجين", "بكين", "Beijing"]])
    with caplog.at_level(logging.INFO):
        loaded = store.load(key_for(index), index.config, admins)
    assert "mining names from the corpus again" in caplog.text
    assert "بكين" in loaded.aliases.expansions("بيجين")
    assert ("لي جون", "Lei Jun") in [tuple(g) for g in loaded.aliases.groups()]  # mined ones kept


def test_leftovers_of_a_crash_are_ignored_and_pruned(tmp_path):
    index = seed_index()
    store = SnapshotStore(tmp_path)
    # A save cut short (temporary folder) and a snapshot of a version that was never committed.
    (tmp_path / ".index-v4.tmp-1-1").mkdir()
    store.save(index, replace(key_for(index), version=4, built_at="never committed"))
    store.save(index, key_for(index))
    assert store.load(replace(key_for(index), version=4), index.config) is None
    store.prune(keep_version=KEY.version)  # a newer version may be a reindex about to commit: kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index-v4.tmp-1-1", "index-v3", "index-v4"]
    store.prune(keep_version=5)  # older ones go; a young temporary folder may be a save in progress
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index-v4.tmp-1-1"]
    store.save(index, key_for(index))
    # Saving over a stale snapshot of the same version replaces it.
    store.save(index, replace(key_for(index), built_at="2025-01-01T00:00:00"))
    assert store.load(replace(key_for(index), built_at="2025-01-01T00:00:00"), index.config) is not None


def test_restart_loads_the_snapshot_instead_of_analysing(db_url, corpus, tmp_path, monkeypatch, caplog):
    settings = make_settings(db_url, corpus, index_cache_dir=tmp_path / "cache")
    app = build_app(settings)
    try:
        before = app.service.ask(QUESTION)
        version = app.service.version
    finally:
        app.close()
    from bot.service import AnswerService

    def no_build(self, session):
        raise AssertionError("the index was analysed again instead of loaded")

    monkeypatch.setattr(AnswerService, "_build", no_build)
    with caplog.at_level(logging.INFO):
        again = build_app(settings)
    try:
        assert "loaded index version" in caplog.text
        assert again.service.version == version
        answer = again.service.ask(QUESTION)
        assert answer.status is AnswerStatus.ANSWERED
        assert [q.sentence_id for q in answer.quotes] == [q.sentence_id for q in before.quotes]
    finally:
        again.close()


def test_sqlite_snapshots_live_beside_the_database(tmp_path, corpus):
    app = build_app(make_settings(f"sqlite:///{tmp_path}/db/sanad.db", corpus))
    try:
        assert [p.name for p in (tmp_path / "db" / "sanad.db.index").iterdir()] == [f"index-v{app.service.version}"]
        app.service.reindex()
        assert [p.name for p in (tmp_path / "db" / "sanad.db.index").iterdir()] == [f"index-v{app.service.version}"]
    finally:
        app.close()


def test_a_corrupt_snapshot_at_start_is_rebuilt_with_a_log_line(tmp_path, corpus, caplog):
    settings = make_settings(f"sqlite:///{tmp_path}/sanad.db", corpus)
    app = build_app(settings)
    app.close()
    folder = tmp_path / "sanad.db.index" / f"index-v{app.service.version}"
    data = folder / "sentences.text.npy"
    raw = bytearray(data.read_bytes())
    raw[-10:] = b"\x00" * 10
    data.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        again = build_app(settings)
    try:
        assert "does not match its checksum" in caplog.text
        answer = again.service.ask(QUESTION)
        assert "1.11 مليون" in answer.quotes[0].text  # served from a fresh build, not the damaged file
    finally:
        again.close()
    # ... and the rebuilt index was saved over the damaged one.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        third = build_app(settings)
    third.close()
    assert "loaded index version" in caplog.text and "checksum" not in caplog.text


def test_sentence_table_reads_like_records():
    index = seed_index()
    store_index = index.sentences
    from retrieval.snapshot import _as_table

    table = _as_table(store_index)
    assert len(table) == len(store_index)
    assert list(table) == store_index
    assert table[-1] == store_index[-1]
    assert list(table.texts()) == [s.text for s in store_index]
    assert table.texts()[2] == store_index[2].text
    with pytest.raises(IndexError):
        table[len(table)]
    assert np.asarray(table.ids).dtype == np.int64
