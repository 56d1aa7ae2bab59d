"""Reading articles from files: plain text, Markdown, JSON, JSON Lines and SQuAD.

Loading never raises for a bad file: it reports the file and the reason, and the other files
still go in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sentences import split_sentences

SUPPORTED_SUFFIXES = (".txt", ".md", ".json", ".jsonl")
MAX_TITLE_CHARS = 90


@dataclass(frozen=True, slots=True)
class Document:
    """An article as read from its source, before it is stored."""

    source: str
    title: str
    text: str
    url: str | None = None
    published: str | None = None
    content_hash: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """A file that could not be read, and why (in words a user can act on)."""

    path: str
    reason: str


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # files read successfully


class BadFile(ValueError):
    """A file that cannot be turned into articles."""


def content_hash(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Supported files under *paths* (files as given, folders recursively, sorted)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUPPORTED_SUFFIXES and not any(
                    part.startswith(".") for part in child.relative_to(path).parts
                ):
                    yield child
        else:
            yield path


def source_key(path: Path) -> str:
    """Stable identity of a file: its absolute path."""
    return path.resolve().as_posix()


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Read every supported file under *paths*; bad files are reported, not raised."""
    result = LoadResult()
    for path in iter_files(Path(p) for p in paths):
        try:
            result.documents.extend(load_file(path))
            result.files.append(source_key(path))
        except BadFile as exc:
            result.problems.append(Problem(str(path), str(exc)))
    return result


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadFile("الملف غير موجود (file not found)") from None
    except IsADirectoryError:
        raise BadFile("مجلد وليس ملفا (a folder, not a file)") from None
    except OSError as exc:
        raise BadFile(f"تعذرت قراءة الملف (cannot read: {exc.strerror})") from None
    if b"\x00" in raw[:8192]:
        raise BadFile("ملف ثنائي وليس نصا (binary file, not text)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadFile(f"الترميز ليس UTF-8 (not UTF-8: byte {exc.start})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise BadFile("الملف فارغ (empty file)")
    return text


def load_file(path: Path) -> list[Document]:
    """Articles in one file. Raises :class:`BadFile` with the reason when it has none."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise BadFile(f"نوع غير مدعوم (unsupported type {suffix or 'without extension'}; use .txt .md .json .jsonl)")
    text = _decode(path)
    key = source_key(path)
    if suffix in (".txt", ".md"):
        return [_text_document(key, text, strip_markdown=suffix == ".md")]
    if suffix == ".jsonl":
        items = []
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BadFile(f"JSON غير صالح في السطر {number} (invalid JSON line {number}: {exc.msg})") from None
        return _json_documents(key, items)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadFile(f"JSON غير صالح (invalid JSON at line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return _squad_documents(key, data["data"])
    if isinstance(data, dict):
        return _json_documents(key, [data], single=True)
    if isinstance(data, list):
        return _json_documents(key, data)
    raise BadFile("JSON لا يحوي مقالات (JSON holds no articles: expected an object or a list)")


def _text_document(key: str, text: str, *, strip_markdown: bool) -> Document:
    lines = text.split("\n")
    title = ""
    body = text
    # A first line followed by a blank line is the title.
    if len(lines) >= 3 and lines[0].strip() and not lines[1].strip():
        title = lines[0].strip()
        if strip_markdown:
            title = title.lstrip("#").strip()
        body = "\n".join(lines[2:])
    body = body.strip("\n")
    if not body.strip():
        body, title = title, ""
    if not body.strip():
        raise BadFile("الملف فارغ (empty file)")
    return Document(
        source=key,
        title=title or derive_title(body),
        text=body,
        content_hash=content_hash(title, body),
    )


def derive_title(text: str) -> str:
    """A title from the first sentence, cut at a word boundary."""
    spans = split_sentences(text)
    first = text[spans[0].start : spans[0].end] if spans else text.strip()
    first = " ".join(first.split())
    if len(first) <= MAX_TITLE_CHARS:
        return first
    cut = first[:MAX_TITLE_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


def _json_documents(key: str, items: list[Any], *, single: bool = False) -> list[Document]:
    documents = []
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadFile(f"العنصر {number} ليس كائنا (item {number} is not an object)")
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadFile(f"العنصر {number} بلا نص (item {number} has no \"text\")")
        text = text.strip()
        title = item.get("title")
        title = title.strip() if isinstance(title, str) and title.strip() else derive_title(text)
        url = item.get("url") if isinstance(item.get("url"), str) else None
        published = item.get("published")
        published = str(published) if published is not None else None
        source = key if single else f"{key}#{number}"
        documents.append(
            Document(source, title, text, url, published, content_hash(title, text, url, published))
        )
    if not documents:
        raise BadFile("لا مقالات في الملف (no articles in file)")
    return documents


PARAGRAPH_SEPARATOR = "\n\n"


def _squad_documents(key: str, data: list[Any]) -> list[Document]:
    documents = []
    for number, entry in enumerate(data):
        if not isinstance(entry, dict):
            continue
        paragraphs = [
            p["context"].strip()
            for p in entry.get("paragraphs", [])
            if isinstance(p, dict) and isinstance(p.get("context"), str) and p["context"].strip()
        ]
        if not paragraphs:
            continue
        text = PARAGRAPH_SEPARATOR.join(paragraphs)
        title = str(entry.get("title") or "").replace("_", " ").strip() or derive_title(text)
        documents.append(Document(f"{key}#{number}", title, text, None, None, content_hash(title, text)))
    if not documents:
        raise BadFile("ملف SQuAD بلا فقرات (SQuAD file without paragraphs)")
    return documents
