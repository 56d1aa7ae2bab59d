"""Matching a name across scripts by its sound skeleton (شاومي ~ Xiaomi, تسلا ~ Tesla).

Arabic writes consonants and long vowels; Latin spellings of the same name write the
consonants too. Both are reduced to a skeleton of broad consonant classes (so ش, س and x
meet, ج, ق and g meet), with a vowel slot where Arabic writes a long vowel or Latin a vowel
group. Two spellings are the same name when their consonant skeletons are equal; a skeleton
of only two consonants must match its vowel slots as well, which keeps short common words
apart.
"""

from __future__ import annotations

import re

_ARABIC_CLASS = {
    "ب": "b", "پ": "b",
    "ت": "t", "ط": "t", "د": "t", "ض": "t",
    "ث": "s", "س": "s", "ص": "s", "ز": "s", "ذ": "s", "ظ": "s", "ش": "s", "چ": "s",
    "ج": "k", "ق": "k", "ك": "k", "غ": "k", "خ": "k", "گ": "k",
    "ف": "f", "ڤ": "f",
    "ل": "l", "م": "m", "ن": "n", "ر": "r",
    "ا": "V", "و": "V", "ي": "V", "ى": "V",
}  # fmt: skip
_LATIN_DIGRAPHS = (("sh", "s"), ("ch", "s"), ("ph", "f"), ("th", "t"), ("ck", "k"), ("gh", "k"))
_LATIN_CLASS = {
    "b": "b", "p": "b", "t": "t", "d": "t", "s": "s", "z": "s", "x": "s", "j": "k", "g": "k",
    "k": "k", "q": "k", "f": "f", "v": "f", "l": "l", "m": "m", "n": "n", "r": "r",
    "a": "V", "e": "V", "i": "V", "o": "V", "u": "V", "y": "V", "w": "V",
}  # fmt: skip
_LATIN_WORD = re.compile(r"^[a-z]+$")


def _collapse(classes: list[str]) -> str:
    out: list[str] = []
    for c in classes:
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def arabic_skeleton(word: str) -> str:
    """Skeleton of a normalised Arabic word ("" when it has no usable letters)."""
    return _collapse([_ARABIC_CLASS[ch] for ch in word if ch in _ARABIC_CLASS])


def latin_skeleton(word: str) -> str:
    """Skeleton of a case-folded Latin word; a "c" before e, i or y sounds like s."""
    word = word.lower()
    if not _LATIN_WORD.match(word):
        return ""
    for digraph, cls in _LATIN_DIGRAPHS:
        word = word.replace(digraph, cls.upper())  # upper case marks a decided class
    classes = []
    for i, ch in enumerate(word):
        if ch.isupper():
            classes.append(ch.lower())
        elif ch == "c":
            classes.append("s" if i + 1 < len(word) and word[i + 1] in "eiy" else "k")
        elif ch in _LATIN_CLASS:
            classes.append(_LATIN_CLASS[ch])
    return _collapse(classes)


def _consonants(skeleton: str) -> str:
    return skeleton.replace("V", "")


def same_name(arabic: str, latin: str) -> bool:
    """Whether a normalised Arabic word and a Latin word plausibly spell the same name."""
    return _same_skeletons(arabic_skeleton(arabic), latin_skeleton(latin))


def _same_skeletons(a: str, b: str) -> bool:
    """:func:`same_name` of an Arabic skeleton *a* and a Latin one *b*."""
    ca, cb = _consonants(a), _consonants(b)
    if len(ca) < 2 or ca != cb:
        return False
    # Two consonants are too little evidence alone: the vowel slots must agree too, ignoring
    # a Latin vowel before the first consonant (Arabic writes no short vowels).
    return len(ca) >= 3 or a == b or a == b.lstrip("V")


class LatinNames:
    """The Latin names of a corpus, found by the skeleton of an Arabic spelling."""

    def __init__(self, words: set[str]) -> None:
        # Each name with its skeleton: a question's word is compared with every name of its
        # consonants, and working out their skeletons again each time cost 0.03 ms a question.
        self._by_consonants: dict[str, list[tuple[str, str]]] = {}
        for word in sorted(words):
            skeleton = latin_skeleton(word)
            key = _consonants(skeleton)
            if len(key) >= 2:
                self._by_consonants.setdefault(key, []).append((word, skeleton))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_consonants.values())

    def matches(self, arabic: str) -> list[str]:
        """Latin names that *arabic* (a normalised word) may spell."""
        skeleton = arabic_skeleton(arabic)
        names = self._by_consonants.get(_consonants(skeleton), ())
        return [word for word, latin in names if _same_skeletons(skeleton, latin)]
