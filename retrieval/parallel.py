"""Threads that share the work of one question.

At a million sentences one question reads a few megabytes of postings and scores a thousand
candidates, and that work is memory-bound: two cores do it in little more than half the time.
The kernels are numba functions that release the GIL, so plain threads run them side by side.
Parts are cut so that each gives the same result as the whole would (contiguous ranges of
documents), and the caller's thread always runs the first part itself, so a question makes
progress even when every worker is busy; several questions at once share the workers (a part
may then wait its turn). A kernel can also divide its work as it goes (:meth:`Workers.share`).
``SEARCH_THREADS=1`` runs everything on the caller's thread.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Workers:
    """Runs the parts of one piece of work on up to *threads* threads (1: all on the caller's)."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, int(threads))
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def parts(self, n: int, smallest: int) -> int:
        """How many parts to cut *n* items into so that none is under *smallest* items."""
        return max(1, min(self.threads, n // max(smallest, 1)))

    def run(self, func: Callable[..., T], arguments: Sequence[tuple]) -> list[T]:
        """``[func(*a) for a in arguments]``, the first on this thread and the others on workers."""
        if len(arguments) <= 1 or self.threads == 1:
            return [func(*a) for a in arguments]
        executor = self._pool()
        futures = [executor.submit(func, *a) for a in arguments[1:]]
        try:
            first = func(*arguments[0])
        finally:
            # Never return while a worker still writes into arrays the caller will reuse.
            results = [f.result() for f in futures]
        return [first, *results]

    def share(self, func: Callable[..., object], arguments: tuple, helpers: int) -> None:
        """Runs ``func(*arguments)`` on this thread and on up to *helpers* workers, for a kernel
        whose simultaneous calls divide its work among themselves (they take runs of it from a
        shared counter, see :func:`retrieval.compiled.fetch_add`).

        This thread starts at once and, with the others' runs taken, finishes what is left: a
        worker that has not started by then (busy with another question) is cancelled rather
        than waited for.
        """
        helpers = min(helpers, self.threads - 1)
        if helpers <= 0:
            func(*arguments)
            return
        pool = self._pool()
        futures = [pool.submit(func, *arguments) for _ in range(helpers)]
        try:
            func(*arguments)
        finally:
            # Never return while a worker still writes into arrays the caller will read.
            for future in futures:
                if not future.cancel():
                    future.result()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="sanad-search")
            return self._executor


def cuts(n: int, parts: int) -> list[tuple[int, int]]:
    """*n* items cut into *parts* contiguous ranges of nearly equal size, as (start, stop)."""
    parts = max(1, min(parts, n)) if n else 1
    bounds = [n * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))
