"""The built search index on disk: saved beside the database, loaded at start-up.

Analysing a million sentences takes tens of seconds; loading their index takes about one. A
snapshot is a folder ``index-v{version}`` of ``.npy`` arrays and a ``meta.json`` that says:

- which database state it reflects (index version, build time, article and sentence counts,
  all from the ``index_state`` row), so a process serves it only for that state;
- which configuration and which code built it (the analysis and the file layout), so a change
  to either rebuilds instead of serving terms the questions would no longer produce;
- each file's size and CRC32, so a truncated or damaged file is rebuilt, never served.

Arrays are memory-mapped, so several bot processes on one machine share them; each maps
every page in as it loads a snapshot, rather than on the questions' time (see :func:`_map_in`).
Snapshots are written to a temporary folder and renamed into place, so a reader sees a whole
snapshot or none. Everything here is retrieval only: the caller (the answer service) decides
when to save and what the database says.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import mmap
import os
import pickle
import shutil
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .index import BM25Index, BM25Params, ComposedIndex, ExtendedVocabulary, IndexParts, TermSetIndex
from .parallel import cuts
from .search import ArticleRecord, SearchConfig, SearchIndex, SentenceRecord

log = logging.getLogger(__name__)

FORMAT = 1
_PREFIX = "index-v"
_SEPARATOR = "\x1f"  # between vocabulary terms: never part of a word
_STALE_TEMP_SECONDS = 3600


class SentenceTable(Sequence[SentenceRecord]):
    """The sentences as columns (and their texts as one UTF-8 buffer), read as records.

    A million sentence objects would take about 600 MB and seconds to load; columns take a
    third of that and load memory-mapped in no time. Records are made when asked for (the few
    sentences an answer quotes).
    """

    def __init__(
        self,
        ids: np.ndarray,
        article: np.ndarray,
        position: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        text_offsets: np.ndarray,
        text: np.ndarray,
    ) -> None:
        self.ids = ids
        self.article = article
        self.position = position
        self.start = start
        self.end = end
        self.text_offsets = text_offsets
        self.text = text

    def __len__(self) -> int:
        return len(self.ids)

    def text_of(self, i: int) -> str:
        """The text of sentence *i*."""
        return self.text[self.text_offsets[i] : self.text_offsets[i + 1]].tobytes().decode("utf-8")

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("sentence index out of range")
        return SentenceRecord(
            int(self.ids[i]), int(self.article[i]), int(self.position[i]), int(self.start[i]), int(self.end[i]),
            self.text_of(i),
        )

    def __iter__(self) -> Iterator[SentenceRecord]:
        for i in range(len(self)):
            yield self[i]

    def texts(self) -> TextView:
        """The texts alone, as a sequence that decodes one at a time."""
        return TextView(self.text_offsets, self.text)

    def text_parts(self, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The texts cut into *parts* runs of sentences, each as its own (buffer, offsets)."""
        out = []
        for lo, hi in cuts(len(self), parts):
            first, last = int(self.text_offsets[lo]), int(self.text_offsets[hi])
            out.append((self.text[first:last], self.text_offsets[lo : hi + 1] - first))
        return out


class TextView(Sequence[str]):
    """Texts kept as one UTF-8 buffer and offsets, read without holding them all as objects."""

    def __init__(self, offsets: np.ndarray, buffer: np.ndarray) -> None:
        self._offsets = offsets
        self._buffer = buffer

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _text(self, i: int) -> str:
        return self._buffer[self._offsets[i] : self._offsets[i + 1]].tobytes().decode("utf-8")

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._text(j) for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self._text(i)

    def __iter__(self) -> Iterator[str]:
        offsets, buffer = self._offsets, self._buffer
        step = 50_000
        for lo in range(0, len(self), step):
            hi = min(lo + step, len(self))
            # One copy per block, then plain bytes slicing: far cheaper than numpy per text.
            base = int(offsets[lo])
            block = buffer[base : int(offsets[hi])].tobytes()
            cuts = (offsets[lo : hi + 1] - base).tolist()
            for a, b in itertools.pairwise(cuts):
                yield block[a:b].decode("utf-8")


class SentenceTableBuilder:
    """Collects sentence rows batch by batch into a :class:`SentenceTable`."""

    def __init__(self) -> None:
        self._columns: list[list[np.ndarray]] = [[], [], [], [], []]
        self._lengths: list[np.ndarray] = []
        self._text = bytearray()

    def add(self, ids, article, position, start, end, encoded: Sequence[bytes]) -> tuple[bytes, np.ndarray]:
        """Append one batch (columns of equal length, in document order; the texts in UTF-8);
        returns the texts as one buffer and their lengths in bytes (for
        :meth:`CorpusAnalyser.add_utf8`)."""
        for column, values, dtype in zip(
            self._columns, (ids, article, position, start, end), (np.int64, np.int32, np.int32, np.int32, np.int32),
            strict=True,
        ):
            column.append(np.asarray(values, dtype=dtype))
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        joined = b"".join(encoded)
        self._lengths.append(lengths)
        self._text += joined
        return joined, lengths

    def finish(self) -> SentenceTable:
        columns = [
            np.concatenate(c) if c else np.empty(0, dtype=np.int64 if i == 0 else np.int32)
            for i, c in enumerate(self._columns)
        ]
        lengths = np.concatenate(self._lengths) if self._lengths else np.empty(0, dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
        text = np.frombuffer(self._text, dtype=np.uint8)  # a view: the buffer is not copied
        self._text = bytearray()  # a new one for any later add; the view keeps the old alive
        return SentenceTable(*columns, offsets, text)


def mine_names_of(text: np.ndarray, text_offsets: np.ndarray):
    """``aliases.mine_names`` over texts given as a buffer and offsets (a form that is cheap to
    send to a worker process; see :meth:`SentenceTable.text_parts`)."""
    from .aliases import mine_names

    return mine_names(TextView(text_offsets, text))


@dataclass(frozen=True)
class SnapshotKey:
    """The database state a snapshot reflects (from the ``index_state`` row)."""

    version: int
    built_at: str | None
    articles: int
    sentences: int


def code_fingerprint() -> str:
    """A hash of the retrieval code: analysis or layout changes make old snapshots stale."""
    digest = hashlib.sha256(str(FORMAT).encode())
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def config_fingerprint(config: SearchConfig) -> str:
    """What of *config* the saved arrays depend on (not the weights, which apply per question)."""
    described = {
        "fields": [[f.analyzer, asdict(f.params)] for f in config.fields],
        "article": asdict(config.article_params) if config.article_weight else None,
    }
    return json.dumps(described, sort_keys=True)


def aliases_fingerprint(base) -> str:
    """The admins' alias groups a snapshot's alias table was built with."""
    groups = base.groups() if base is not None else []
    return hashlib.sha256(json.dumps(groups, ensure_ascii=False).encode()).hexdigest()[:16]


class SnapshotError(Exception):
    """A snapshot that must not be served (stale, for another configuration, or damaged)."""


def _crc(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(16 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _save_array(path: Path, array: np.ndarray) -> list[int]:
    """Write *array* as a .npy file; its size and checksum (the same as :func:`_crc`'s)."""
    array = np.ascontiguousarray(array)
    np.save(path, array, allow_pickle=False)
    size = path.stat().st_size
    with path.open("rb") as f:  # only the header numpy chose is read back
        header = f.read(size - array.nbytes)
    return [size, zlib.crc32(memoryview(array).cast("B"), zlib.crc32(header))]


def _save_bytes(path: Path, data: bytes) -> list[int]:
    path.write_bytes(data)
    return [len(data), zlib.crc32(data)]


def _vocabulary_bytes(vocabulary: Mapping[str, int]) -> bytes:
    terms = list(vocabulary)  # dictionaries keep insertion order, which is id order here
    if any(vocabulary[t] != i for i, t in enumerate(terms)):
        terms = sorted(vocabulary, key=vocabulary.__getitem__)
    return _SEPARATOR.join(terms).encode("utf-8")


def _vocabulary(data: bytes, count: int) -> dict[str, int]:
    if count == 0:
        return {}
    terms = data.decode("utf-8").split(_SEPARATOR)
    if len(terms) != count:
        raise SnapshotError("vocabulary does not have the expected number of terms")
    vocabulary: dict[str, int] = {}
    # In steps: one call over a million terms would hold the interpreter lock for a tenth of a
    # second, and a process loading a new index meanwhile answers questions in other threads.
    for start in range(0, count, 50_000):
        vocabulary.update(zip(terms[start : start + 50_000], range(start, min(start + 50_000, count)), strict=True))
    return vocabulary


class SnapshotStore:
    """Snapshots of one database's index in *folder* (one per index version, the latest kept)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, version: int) -> Path:
        return self.folder / f"{_PREFIX}{version}"

    # --- saving ------------------------------------------------------------------------------

    def save(self, index: SearchIndex, key: SnapshotKey, base_aliases=None) -> Path:
        """Write *index* as the snapshot of *key*; returns its folder.

        Written under a temporary name and renamed into place, so that a crash leaves either
        the whole snapshot or nothing a reader would take.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = self.folder / f".{_PREFIX}{key.version}.tmp-{os.getpid()}-{time.monotonic_ns()}"
        temp.mkdir()
        try:
            meta = self._write(temp, index, key, base_aliases)
            (temp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            final = self.path(key.version)
            try:
                os.rename(temp, final)
            except OSError:
                # One is there already: stale (left by a crash before its commit), damaged (the
                # reason this one was built) or another process's copy of this one. Replace it;
                # processes that have it mapped keep reading the old files.
                trash = self.folder / f".trash-{os.getpid()}-{time.monotonic_ns()}"
                os.rename(final, trash)
                os.rename(temp, final)
                shutil.rmtree(trash, ignore_errors=True)
            return final
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise

    def _write(self, folder: Path, index: SearchIndex, key: SnapshotKey, base_aliases) -> dict:
        with ThreadPoolExecutor(2, thread_name_prefix="sanad-snapshot") as writers:
            meta, files = self._write_files(folder, index, key, base_aliases, writers)
            return {**meta, "files": {name: written.result() for name, written in files.items()}}

    def _write_files(
        self, folder: Path, index: SearchIndex, key: SnapshotKey, base_aliases, writers
    ) -> tuple[dict, dict[str, Future]]:
        """The snapshot's meta data, and each file's (size, checksum) as it is being written.

        Files are written by two threads (writing and checksums release the GIL), and each
        checksum is computed from memory: reading a just-written file back cost seconds of a
        reindex at a million sentences.
        """
        files: dict[str, Future] = {}

        def put(name: str, array: np.ndarray) -> None:
            files[f"{name}.npy"] = writers.submit(_save_array, folder / f"{name}.npy", array)

        def put_bytes(name: str, data: bytes) -> None:
            files[name] = writers.submit(_save_bytes, folder / name, data)

        parts = index.parts
        table = _as_table(index.sentences)
        for name in ("ids", "article", "position", "start", "end", "text_offsets", "text"):
            put(f"sentences.{name}", getattr(table, name))
        articles = index.articles
        put("articles.id", np.fromiter((a.id for a in articles), dtype=np.int64, count=len(articles)))
        put("articles.first", np.fromiter((a.first_doc for a in articles), dtype=np.int64, count=len(articles)))
        put("articles.count", np.fromiter((a.n_sentences for a in articles), dtype=np.int64, count=len(articles)))
        strings = [[a.title, a.source, a.url] for a in articles]
        put_bytes("articles.json", json.dumps(strings, ensure_ascii=False).encode("utf-8"))
        put("doc_article", parts.doc_article)
        put("article_first", parts.article_first)
        fields_meta = []
        for i, field in enumerate(parts.fields):
            put_bytes(f"field{i}.vocabulary", _vocabulary_bytes(field.vocabulary))
            put(f"field{i}.idf", field.idf)
            if isinstance(field, ComposedIndex):
                for name in ("word_records", "doc_indptr", "doc_words", "doc_len"):
                    put(f"field{i}.{name}", getattr(field, name))
                fields_meta.append({"kind": "composed", "terms": len(field.vocabulary)})
            else:
                put(f"field{i}.indptr", field.weights.indptr)
                put(f"field{i}.indices", field.weights.indices)
                put(f"field{i}.data", field.weights.data)
                fields_meta.append({"kind": "postings", "terms": len(field.vocabulary), "docs": field.n_docs})
        article_meta = None
        article_index = parts.article_index
        if article_index is not None:
            vocabulary = article_index.vocabulary
            shared = isinstance(vocabulary, ExtendedVocabulary) and vocabulary.base is parts.fields[0].vocabulary
            own = vocabulary.extra if shared else vocabulary
            put_bytes("article.vocabulary", _SEPARATOR.join(own).encode("utf-8"))
            put("article.indptr", article_index.weights.indptr)
            put("article.indices", article_index.weights.indices)
            put("article.data", article_index.weights.data)
            put("article.idf", article_index.idf)
            article_meta = {"shared": shared, "terms": len(own), "docs": article_index.n_docs}
        titles = parts.title_index
        put_bytes("titles.vocabulary", _vocabulary_bytes(titles.vocabulary))
        put("titles.indptr", titles.indptr)
        put("titles.indices", titles.indices)
        put_bytes("aliases.pickle", pickle.dumps(index.aliases, protocol=pickle.HIGHEST_PROTOCOL))
        meta = {
            "format": FORMAT,
            "code": code_fingerprint(),
            "config": config_fingerprint(index.config),
            "aliases": aliases_fingerprint(base_aliases),
            "key": asdict(key),
            "fields": fields_meta,
            "article_index": article_meta,
            "titles": {"terms": len(titles.vocabulary), "docs": titles.n_docs},
        }
        return meta, files

    # --- loading -----------------------------------------------------------------------------

    @staticmethod
    def _meta(folder: Path) -> dict:
        try:
            return json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def load(
        self, key: SnapshotKey, config: SearchConfig, base_aliases=None, *, verify: bool = True
    ) -> SearchIndex | None:
        """The saved index for *key*, or None when there is none to serve.

        A snapshot that exists but is stale (another database state, configuration or code) or
        damaged is not served: the reason is logged and None returned, for the caller to rebuild.
        *verify* False skips the checksums (for a snapshot this machine has just written).
        """
        folder = self.path(key.version)
        if not folder.is_dir():
            return None
        started = time.perf_counter()
        try:
            index = self._read(folder, key, config, base_aliases, verify)
        except SnapshotError as exc:
            log.warning("index snapshot %s not used: %s; rebuilding from the database", folder, exc)
            return None
        except Exception as exc:  # a damaged file can fail in many ways; never serve it
            log.warning("index snapshot %s is damaged (%s: %s); rebuilding from the database", folder,
                        type(exc).__name__, exc)
            return None
        log.info("loaded index version %d from %s in %.2fs", key.version, folder, time.perf_counter() - started)
        return index

    def _read(self, folder: Path, key: SnapshotKey, config: SearchConfig, base_aliases, verify: bool) -> SearchIndex:
        meta = self._meta(folder)
        if not meta:
            raise SnapshotError("no readable meta.json")
        if meta.get("format") != FORMAT or meta.get("code") != code_fingerprint():
            raise SnapshotError("written by another version of the code")
        if meta.get("key") != asdict(key):
            raise SnapshotError(f"stale: it reflects {meta.get('key')}, the database is at {asdict(key)}")
        if meta.get("config") != config_fingerprint(config):
            raise SnapshotError("built with another retrieval configuration")
        files = meta["files"]
        for name, (size, crc) in files.items():
            path = folder / name
            if path.stat().st_size != size or (verify and _crc(path) != crc):
                raise SnapshotError(f"{name} does not match its checksum")

        mapped: list[np.ndarray] = []

        def get(name: str) -> np.ndarray:
            # A plain read-only view of the map: memmap's subclass overhead slows every slice.
            array = np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))
            mapped.append(array)
            return array

        def get_bytes(name: str) -> bytes:
            return (folder / name).read_bytes()

        columns = ("ids", "article", "position", "start", "end", "text_offsets", "text")
        table = SentenceTable(*(get(f"sentences.{name}") for name in columns))
        if len(table) != key.sentences:
            raise SnapshotError("sentence count does not match")
        strings = json.loads(get_bytes("articles.json"))
        ids, firsts, counts = get("articles.id"), get("articles.first"), get("articles.count")
        articles = [
            ArticleRecord(int(i), title, source, url, int(first), int(count))
            for i, first, count, (title, source, url) in zip(
                ids.tolist(), firsts.tolist(), counts.tolist(), strings, strict=True
            )
        ]
        if len(articles) != key.articles:
            raise SnapshotError("article count does not match")
        fields: list[BM25Index | ComposedIndex] = []
        for i, (described, field_config) in enumerate(zip(meta["fields"], config.fields, strict=True)):
            vocabulary = _vocabulary(get_bytes(f"field{i}.vocabulary"), described["terms"])
            idf = get(f"field{i}.idf")
            params: BM25Params = field_config.params
            if described["kind"] == "composed":
                fields.append(
                    ComposedIndex(
                        vocabulary, get(f"field{i}.word_records"), get(f"field{i}.doc_indptr"),
                        get(f"field{i}.doc_words"), idf, get(f"field{i}.doc_len"), params,
                    )
                )
            else:
                weights = _csr(get(f"field{i}.data"), get(f"field{i}.indices"), get(f"field{i}.indptr"),
                               (described["terms"], described["docs"]))
                fields.append(BM25Index(vocabulary, weights, idf, described["docs"], params))
        article_index = None
        described = meta["article_index"]
        if described is not None:
            own = _vocabulary(get_bytes("article.vocabulary"), described["terms"])
            vocabulary = ExtendedVocabulary(fields[0].vocabulary, own) if described["shared"] else own
            weights = _csr(get("article.data"), get("article.indices"), get("article.indptr"),
                           (len(vocabulary), described["docs"]))
            article_index = BM25Index(vocabulary, weights, get("article.idf"), described["docs"], config.article_params)
        described = meta["titles"]
        titles = TermSetIndex(
            _vocabulary(get_bytes("titles.vocabulary"), described["terms"]),
            get("titles.indptr"), get("titles.indices"), described["docs"],
        )
        parts = IndexParts(fields, article_index, titles, get("doc_article"), get("article_first"))
        if meta.get("aliases") == aliases_fingerprint(base_aliases):
            parts.aliases = pickle.loads(get_bytes("aliases.pickle"))  # our own file, checksummed above
        else:
            # The admins changed ALIASES_FILE: mine the corpus's names again with the new groups.
            from .aliases import AliasTable

            log.info("alias file changed since the snapshot: mining names from the corpus again")
            parts.aliases = AliasTable.for_corpus(base_aliases, table.texts())
        index = SearchIndex(articles, table, config, base_aliases, parts=parts)
        _map_in(mapped)
        return index

    # --- housekeeping ------------------------------------------------------------------------

    def prune(self, keep_version: int) -> None:
        """Remove older versions' snapshots and what crashed writers left behind.

        A newer version may be another process's reindex about to commit: it stays. Processes
        still serving an older snapshot keep it: its files stay readable through their memory
        maps until they let go.
        """
        if not self.folder.is_dir():
            return
        now = time.time()
        for entry in self.folder.iterdir():
            name = entry.name
            if not entry.is_dir():
                continue
            if name.startswith(_PREFIX):
                version = name[len(_PREFIX) :]
                if version.isdigit() and int(version) < keep_version:
                    shutil.rmtree(entry, ignore_errors=True)
            elif name.startswith((f".{_PREFIX}", ".trash-")):
                try:
                    old = now - entry.stat().st_mtime > _STALE_TEMP_SECONDS
                except OSError:
                    continue
                if old:  # a younger one may be another process's save in progress
                    shutil.rmtree(entry, ignore_errors=True)


def _map_in(arrays: Sequence[np.ndarray]) -> None:
    """Read one byte of every page of the memory-mapped *arrays*, so that questions find them
    mapped into the process.

    A page of a map is mapped on its first read, by a page fault. Left to the questions, the
    first thousand after a start at a million sentences each took about 20 faults and 0.5-0.7
    ms more at the median than the thousand after them. Here it takes a tenth of a second for
    880 MB when the files are in the page cache, as they are after a reindex or the checksums;
    otherwise it reads them from disk, which the questions would have waited for one page at a
    time. The pages stay the kernel's to reclaim under memory pressure, like any file's.
    """
    started = time.perf_counter()
    size = 0
    for array in arrays:
        if array.size and array.flags.c_contiguous:
            pages = array.reshape(-1).view(np.uint8)[:: mmap.PAGESIZE]
            pages.max()
            size += array.nbytes
    log.debug("mapped %d MB of the index in %.2fs", size >> 20, time.perf_counter() - started)


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]):
    from scipy import sparse

    # Built around the memory-mapped arrays as they are: scipy's constructor would scan (and
    # page in) every index to choose a dtype. The arrays were checked when they were saved.
    matrix = sparse.csr_matrix(shape, dtype=data.dtype)
    matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
    return matrix


def _as_table(sentences: Sequence[SentenceRecord]) -> SentenceTable:
    if isinstance(sentences, SentenceTable):
        return sentences
    builder = SentenceTableBuilder()
    rows = list(sentences)
    builder.add(
        [s.id for s in rows], [s.article for s in rows], [s.position for s in rows], [s.start for s in rows],
        [s.end for s in rows], [s.text.encode("utf-8") for s in rows],
    )
    return builder.finish()
