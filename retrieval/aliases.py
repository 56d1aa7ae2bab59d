"""Name aliases: the same name written in Arabic and Latin letters (شاومي / Xiaomi).

Questions often spell a name differently from the article. Aliases expand the question with
the other spellings before it is analysed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from .arabic import STOP_WORDS, is_arabic, normalize, tokenize
from .transliteration import LatinNames, same_name

_ARABIC_LETTER = r"[\u0621-\u064a\u0660-\u0669\u064b-\u065f]"
_ARABIC_RUN = _ARABIC_LETTER + "+"
_LATIN_NAME = r"[A-Z][A-Za-z]+(?:[ -][A-Z][A-Za-z]+){0,2}"
# "(لي جون) Lei Jun", "Lei Jun (لي جون)", "جيلي Geely": a name beside its other spelling.
_PAIR_PATTERNS = (
    re.compile(rf"\(\s*({_ARABIC_RUN}(?: {_ARABIC_RUN}){{0,2}})\s*\)\s*({_LATIN_NAME})"),
    re.compile(rf"({_LATIN_NAME})\s*\(\s*({_ARABIC_RUN}(?: {_ARABIC_RUN}){{0,2}})\s*\)"),
    # Anchored at the start of the Arabic run: the match starts there anyway, and without the
    # anchor the search retried at every letter of every Arabic word (a third of a reindex's
    # name mining at a million sentences).
    re.compile(rf"(?<!{_ARABIC_LETTER})({_ARABIC_RUN})\s+({_LATIN_NAME})"),
)
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z]{2,}\b")
_ANY_CAPITAL = re.compile(r"[A-Z]")
MIN_ARABIC_NAME = 4  # letters; shorter Arabic words are too often ordinary words


# Letters that transliterated foreign names almost never contain, and the endings of Arabic
# nouns and verbs (feminine ه, attached pronouns): a word with them is an ordinary word.
_NATIVE_LETTERS = frozenset("عحءئؤظض")
_NATIVE_ENDINGS = ("ه", "ها", "هم", "هن", "كم", "نا")


def _name_like(word: str) -> bool:
    """Whether a normalised Arabic word could be a transliterated foreign name."""
    if word.startswith("ال") or word.endswith(_NATIVE_ENDINGS):
        return False
    return _NATIVE_LETTERS.isdisjoint(word)


def mine_names(texts: Iterable[str]) -> tuple[set[tuple[str, str]], set[str]]:
    """What *texts* show of names: (Arabic, Latin) spellings of one name written side by side,
    and every capitalised Latin word (casefolded). Parts of a corpus can be mined apart (in
    worker processes) and their results joined with :func:`join_names`."""
    pairs: set[tuple[str, str]] = set()
    latin: set[str] = set()
    for text in texts:
        if not _ANY_CAPITAL.search(text):  # every pattern needs a capitalised Latin word
            continue
        latin.update(w.casefold() for w in _CAPITALISED.findall(text))
        for number, pattern in enumerate(_PAIR_PATTERNS):
            for match in pattern.finditer(text):
                arabic, latin_name = match.groups() if number != 1 else match.groups()[::-1]
                if number == 2:
                    arabic = arabic.split()[-1]
                joined = normalize(arabic.replace(" ", ""))
                if len(joined) >= MIN_ARABIC_NAME - 1 and same_name(
                    joined, latin_name.replace(" ", "").replace("-", "")
                ):
                    pairs.add((arabic.strip(), latin_name.strip()))
    return pairs, latin


def join_names(parts: Iterable[tuple[set[tuple[str, str]], set[str]]]) -> tuple[set[tuple[str, str]], set[str]]:
    """The names of a corpus from what :func:`mine_names` found in each of its parts."""
    pairs: set[tuple[str, str]] = set()
    latin: set[str] = set()
    for part_pairs, part_latin in parts:
        pairs |= part_pairs
        latin |= part_latin
    return pairs, latin


def mine_pairs(texts: Iterable[str]) -> list[tuple[str, str]]:
    """(Arabic, Latin) spellings of one name found side by side in *texts*."""
    return sorted(mine_names(texts)[0])


def _key(name: str) -> tuple[str, ...]:
    return tuple(t.norm for t in tokenize(name))


class AliasTable:
    """Groups of spellings that name the same thing; any one expands to the others."""

    def __init__(self, groups: Iterable[Iterable[str]] = (), latin_names: LatinNames | None = None) -> None:
        self._groups: list[list[str]] = []
        self._lookup: dict[tuple[str, ...], int] = {}
        self.max_words = 1
        self.latin_names = latin_names
        for group in groups:
            self.add(group)

    @classmethod
    def for_corpus(cls, base: AliasTable | None, texts: Iterable[str]) -> AliasTable:
        """*base* (the admins' aliases) plus what the corpus itself shows.

        Pairs written side by side are mined; every capitalised Latin word of the corpus can be
        found from an Arabic spelling with the same sound skeleton.
        """
        return cls.from_names(base, *mine_names(texts))

    @classmethod
    def from_names(cls, base: AliasTable | None, pairs: set[tuple[str, str]], latin: set[str]) -> AliasTable:
        """*base* plus the names :func:`mine_names` found in a corpus."""
        table = cls(base.groups() if base else ())
        for arabic, latin_name in sorted(pairs):
            table.add([arabic, latin_name])
        table.latin_names = LatinNames(latin) if latin else None
        return table

    def add(self, group: Iterable[str]) -> None:
        """Add one group of equivalent spellings (merged with any group that shares one)."""
        names = [" ".join(n.split()) for n in group if n and n.strip()]
        keys = [_key(n) for n in names]
        pairs = [(n, k) for n, k in zip(names, keys, strict=True) if k]
        if len(pairs) < 2:
            return
        index = next((self._lookup[k] for _, k in pairs if k in self._lookup), None)
        if index is None:
            index = len(self._groups)
            self._groups.append([])
        for name, key in pairs:
            if key not in self._lookup:
                self._groups[index].append(name)
                self._lookup[key] = index
                self.max_words = max(self.max_words, len(key))

    def __len__(self) -> int:
        return len(self._groups)

    def groups(self) -> list[list[str]]:
        return [list(g) for g in self._groups]

    def expansions(self, text: str) -> list[str]:
        """Other spellings of the names that occur in *text*."""
        return [spelling for _phrase, spellings in self.alternatives(text) for spelling in spellings]

    def alternatives(self, text: str) -> list[tuple[tuple[str, ...], list[str]]]:
        """Each name found in *text* (as normalised words) with its other spellings."""
        words = [t.norm for t in tokenize(text)]
        found: list[tuple[tuple[str, ...], list[str]]] = []
        seen_groups: set[int] = set()
        covered: set[int] = set()
        for size in range(self.max_words, 0, -1):
            for i in range(len(words) - size + 1):
                phrase = tuple(words[i : i + size])
                index = self._lookup.get(phrase)
                if index is None or index in seen_groups:
                    continue
                seen_groups.add(index)
                covered.update(range(i, i + size))
                found.append((phrase, [n for n in self._groups[index] if _key(n) != phrase]))
        if self.latin_names is not None:
            for i, word in enumerate(words):
                if i in covered or len(word) < MIN_ARABIC_NAME or word in STOP_WORDS or not is_arabic(word):
                    continue
                if not _name_like(word):
                    continue
                names = self.latin_names.matches(word)
                if names:
                    found.append(((word,), names))
        return found

    @classmethod
    def from_file(cls, path: str | Path) -> AliasTable:
        """Read a plain alias file: one group per line, spellings separated by "=" or ","."""
        table = cls()
        table.extend_from_file(path)
        return table

    def extend_from_file(self, path: str | Path) -> None:
        for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                self.add(part.strip() for part in line.replace(",", "=").split("="))
