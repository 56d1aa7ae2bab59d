"""The raw words of a corpus, numbered in the order they first appear.

A reindex reads every sentence once to find its raw words; each distinct word is then analysed
once per field (see ``index.CorpusAnalyser``). Splitting a million sentences with the
tokenizer's regular expression took about 34 s of CPU, a third of a reindex, and its words
then had to be pickled back from the worker processes and merged into one vocabulary on the
main thread (another 15 s). The compiled scanner here reads the UTF-8 bytes the sentence table
holds anyway, finds the same words as ``arabic.tokenize``'s pattern (the tests compare the two
on random text) and numbers them in a hash table as it goes: no Python string per word
occurrence, nothing to send or merge; about 3.5 s for a million sentences, on one thread.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from .arabic import TOKEN_CLASSES
from .compiled import kernel

# Classes of code points for the scanner.
_OTHER, _WORD, _DIGIT, _SEPARATOR = 0, 1, 2, 3
_UNICODE_SIZE = 0x110000


@lru_cache(maxsize=1)
def char_classes() -> np.ndarray:
    """The scanner's class of every code point, read off the token pattern's own character
    classes (so that the two can only disagree if the pattern's shape changes)."""
    codes = np.arange(_UNICODE_SIZE, dtype=np.uint32)
    everything = codes.tobytes().decode("utf-32-le", "surrogatepass")
    classes = np.zeros(_UNICODE_SIZE, dtype=np.uint8)
    for code, name in ((_WORD, "word"), (_DIGIT, "digit"), (_SEPARATOR, "separator")):
        # Every character the class matches becomes U+0001 (which none of them matches): one
        # pass in C over the million code points instead of a Python call per match.
        marked = re.sub(TOKEN_CLASSES[name], "\x01", everything)
        found = np.frombuffer(marked.encode("utf-32-le", "surrogatepass"), dtype=np.uint32) != codes
        if np.any(classes[found] != _OTHER):
            raise ValueError(f"token pattern classes overlap at {name!r}")
        classes[found] = code
    return classes


@kernel
def _decode(data, p):  # pragma: no cover - compiled
    """The code point at byte *p* of valid UTF-8 and the byte after it."""
    b0 = data[p]
    if b0 < 0x80:
        return np.int64(b0), p + 1
    if b0 < 0xE0:
        return np.int64(((b0 & 0x1F) << 6) | (data[p + 1] & 0x3F)), p + 2
    if b0 < 0xF0:
        return np.int64(((b0 & 0x0F) << 12) | ((data[p + 1] & 0x3F) << 6) | (data[p + 2] & 0x3F)), p + 3
    return (
        np.int64(
            ((b0 & 0x07) << 18) | ((data[p + 1] & 0x3F) << 12) | ((data[p + 2] & 0x3F) << 6) | (data[p + 3] & 0x3F)
        ),
        p + 4,
    )


@kernel
def _token_end(data, p, end, classes):  # pragma: no cover - compiled
    """Where the token starting at byte *p* ends (-1 if none starts there), and where to scan
    on from (the token's end, or the next character).

    The same as the regular expression ``\\d+(?:[sep]\\d+)*|(?:[letters]+|[marks]+)+`` matching
    at *p*: a number is a run of digits, continued by a separator only when a digit follows
    it; a word is a run of letters and marks (the two loops of the pattern join up).
    """
    code, q = _decode(data, p)
    kind = classes[code]
    if kind == _DIGIT:
        while q < end:
            code, r = _decode(data, q)
            c = classes[code]
            if c == _DIGIT:
                q = r
            elif c == _SEPARATOR and r < end:
                after, s = _decode(data, r)
                if classes[after] != _DIGIT:
                    break
                q = s
            else:
                break
        return q, q
    if kind == _WORD:
        while q < end:
            code, r = _decode(data, q)
            if classes[code] != _WORD:
                break
            q = r
        return q, q
    return -1, q


@kernel
def _fingerprint(data, a, b):  # pragma: no cover - compiled
    """The FNV-1a hash of bytes ``a:b`` of *data* and their first 16 bytes as two integers
    (zero-padded, little-endian)."""
    h = np.uint64(0xCBF29CE484222325)
    head0 = np.uint64(0)
    head1 = np.uint64(0)
    for p in range(a, b):
        byte = np.uint64(data[p])
        h = (h ^ byte) * np.uint64(0x100000001B3)
        k = p - a
        if k < 8:
            head0 |= byte << np.uint64(8 * k)
        elif k < 16:
            head1 |= byte << np.uint64(8 * (k - 8))
    return h, head0, head1


# A word's slot in the table: its hash, its id + 1 (0: empty) and length in bytes packed in
# one field, and its first 16 bytes. One lookup reads one slot (32 bytes, half a cache line);
# only words longer than 16 bytes are compared in the store too. Keeping the hash, id and
# bytes in separate arrays cost three or four dependent cache misses per word occurrence, and
# a million sentences' 23 million occurrences spent most of the scan waiting on them.
_HASH, _ID_SIZE, _HEAD0, _HEAD1 = 0, 1, 2, 3
_INLINE = 16


@kernel
def _scan(data, lengths, first, offset, classes, slots, word_start, store, n_words, counts, ids, n_ids):
    # pragma: no cover - compiled
    """Number the words of texts ``first...`` of *data* (the first at byte *offset*), adding
    the new ones to the tables. Stops before a text that might not fit the tables and returns
    where it is (the caller grows them and calls again): (text, byte, ids written, words)."""
    mask = len(slots) - 1
    p = offset
    for i in range(first, len(lengths)):
        size = lengths[i]
        # At most one word per byte, each stored with a terminating zero.
        if n_words + size + 1 >= len(word_start) or 2 * (n_words + size) > len(slots):
            return i, p, n_ids, n_words
        if word_start[n_words] + 2 * size > len(store):
            return i, p, n_ids, n_words
        end = p + size
        while p < end:
            a = p
            stop, p = _token_end(data, p, end, classes)
            if stop < 0:
                continue
            h, head0, head1 = _fingerprint(data, a, stop)
            length = np.uint64(stop - a)
            s = np.int64(h & np.uint64(mask))
            while True:
                slot = slots[s]
                id_size = slot[_ID_SIZE]
                if id_size == 0:  # a new word: copy its bytes to the store
                    w = n_words
                    slot[_HASH] = h
                    slot[_ID_SIZE] = (np.uint64(w + 1) << np.uint64(32)) | length
                    slot[_HEAD0] = head0
                    slot[_HEAD1] = head1
                    at = word_start[w]
                    for q in range(a, stop):
                        store[at] = data[q]
                        at += 1
                    store[at] = 0
                    word_start[w + 1] = at + 1
                    n_words += 1
                    break
                if (
                    slot[_HASH] == h
                    and (id_size & np.uint64(0xFFFFFFFF)) == length
                    and slot[_HEAD0] == head0
                    and slot[_HEAD1] == head1
                ):
                    w = np.int64(id_size >> np.uint64(32)) - 1
                    same = True
                    at = word_start[w] + _INLINE
                    for q in range(a + _INLINE, stop):
                        if store[at] != data[q]:
                            same = False
                            break
                        at += 1
                    if same:
                        break
                s = (s + 1) & mask
            ids[n_ids] = w
            n_ids += 1
            counts[i] += 1
    return len(lengths), p, n_ids, n_words


@kernel
def _rehash(old, slots):  # pragma: no cover - compiled
    mask = len(slots) - 1
    for o in range(len(old)):
        if old[o, _ID_SIZE] != 0:
            s = np.int64(old[o, _HASH] & np.uint64(mask))
            while slots[s, _ID_SIZE] != 0:
                s = (s + 1) & mask
            slots[s] = old[o]


class WordTable:
    """Raw words of UTF-8 texts, numbered from 0 in the order they first appear."""

    def __init__(self) -> None:
        self._classes = char_classes()
        self._slots = np.zeros((1 << 16, 4), dtype=np.uint64)  # see _scan
        self._start = np.zeros((1 << 15) + 1, dtype=np.int64)  # each word's place in the store
        self._store = np.zeros(1 << 20, dtype=np.uint8)  # each word's UTF-8 bytes and a zero
        self.n_words = 0
        self._handed = 0  # words already given out by new_words()

    def __len__(self) -> int:
        return self.n_words

    def add(self, data: bytes, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The words of texts given as one UTF-8 buffer and each text's length in bytes: each
        text's number of words, and every word's id in order (int32)."""
        buffer = np.frombuffer(data, dtype=np.uint8)
        lengths = np.asarray(lengths, dtype=np.int64)
        counts = np.zeros(len(lengths), dtype=np.int64)
        ids = np.empty(len(buffer), dtype=np.int32)  # at most a word per byte
        text, offset, n_ids = 0, 0, 0
        while True:
            text, offset, n_ids, self.n_words = _scan(
                buffer,
                lengths,
                text,
                offset,
                self._classes,
                self._slots,
                self._start,
                self._store,
                self.n_words,
                counts,
                ids,
                n_ids,
            )
            if text == len(lengths):
                return counts, ids[:n_ids].copy()
            self._grow(int(lengths[text]))

    def _grow(self, size: int) -> None:
        """Room for a text of *size* bytes of new words."""
        words = self.n_words + size + 2
        if words > len(self._start):
            self._start = np.resize(self._start, max(2 * len(self._start), words))
        slots = len(self._slots)
        while 2 * (self.n_words + size) > slots:
            slots *= 2
        if slots != len(self._slots):
            old, self._slots = self._slots, np.zeros((slots, 4), dtype=np.uint64)
            _rehash(old, self._slots)
        needed = int(self._start[self.n_words]) + 2 * size
        if needed > len(self._store):
            self._store = np.resize(self._store, max(2 * len(self._store), needed))

    def words(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The words with ids from *start* to *stop*, in id order."""
        stop = self.n_words if stop is None else stop
        if stop <= start:
            return []
        raw = self._store[self._start[start] : self._start[stop] - 1].tobytes()
        return raw.decode("utf-8", "surrogatepass").split("\x00")

    def new_words(self) -> list[str]:
        """The words added since the last call."""
        found = self.words(self._handed)
        self._handed = self.n_words
        return found
