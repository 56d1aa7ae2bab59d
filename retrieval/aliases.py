"""Name aliases: the same name written in Arabic and Latin letters (شاومي / Xiaomi).

Questions often spell a name differently from the article. Aliases expand the question with
the other spellings before it is analysed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .arabic import tokenize


def _key(name: str) -> tuple[str, ...]:
    return tuple(t.norm for t in tokenize(name))


class AliasTable:
    """Groups of spellings that name the same thing; any one expands to the others."""

    def __init__(self, groups: Iterable[Iterable[str]] = ()) -> None:
        self._groups: list[list[str]] = []
        self._lookup: dict[tuple[str, ...], int] = {}
        self.max_words = 1
        for group in groups:
            self.add(group)

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
        words = [t.norm for t in tokenize(text)]
        found: list[str] = []
        seen_groups: set[int] = set()
        for size in range(self.max_words, 0, -1):
            for i in range(len(words) - size + 1):
                index = self._lookup.get(tuple(words[i : i + size]))
                if index is None or index in seen_groups:
                    continue
                seen_groups.add(index)
                own = tuple(words[i : i + size])
                found.extend(n for n in self._groups[index] if _key(n) != own)
        return found

    def alternatives(self, text: str) -> list[tuple[tuple[str, ...], list[str]]]:
        """Each name found in *text* (as normalised words) with its other spellings."""
        words = [t.norm for t in tokenize(text)]
        found: list[tuple[tuple[str, ...], list[str]]] = []
        for size in range(self.max_words, 0, -1):
            for i in range(len(words) - size + 1):
                phrase = tuple(words[i : i + size])
                index = self._lookup.get(phrase)
                if index is not None:
                    found.append((phrase, [n for n in self._groups[index] if _key(n) != phrase]))
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
