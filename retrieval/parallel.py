"""How many threads share the work of one question.

At a million sentences one question reads a few megabytes of postings and scores a thousand
candidates, and that work is memory-bound: two cores do it in little more than half the time.
The kernels that split it are numba parallel loops (see :func:`retrieval.compiled.parallel_kernel`),
each iteration one part of the work; parts are cut so that each gives the same result as the
whole would (contiguous ranges of documents), so the answer does not depend on the split.

A question asked while another is being answered is not split: the cores are busy already, and
two questions each split in two would keep four threads on two cores, each waiting for the
other's slowest part. ``SEARCH_THREADS=1`` never splits, nor does a process without a thread-safe
threading layer or forked from one that uses GNU OpenMP (see :func:`retrieval.compiled.may_split`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .compiled import may_split


class Workers:
    """Up to *threads* threads for a question that is the only one in progress (1: never split)."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, int(threads))
        self._lock = threading.Lock()
        self._in_progress = 0

    @contextmanager
    def turn(self) -> Iterator[int]:
        """One question's turn: yields how many threads it may split its work between."""
        with self._lock:
            self._in_progress += 1
            alone = self._in_progress == 1
        try:
            yield self.threads if alone and may_split() else 1
        finally:
            with self._lock:
                self._in_progress -= 1


def parts(threads: int, n: int, smallest: int) -> int:
    """How many parts to cut *n* items into, for *threads* threads, so that none is under *smallest* items."""
    return max(1, min(threads, n // max(smallest, 1)))


def cuts(n: int, parts: int) -> list[tuple[int, int]]:
    """*n* items cut into *parts* contiguous ranges of nearly equal size, as (start, stop)."""
    parts = max(1, min(parts, n)) if n else 1
    bounds = [n * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))
