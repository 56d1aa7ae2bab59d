"""Per-user rate limiting shared by every adapter."""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable


class Admission(enum.Enum):
    ALLOWED = "allowed"
    LIMITED_NOTIFY = "limited_notify"  # over the limit: tell the user once
    LIMITED_SILENT = "limited_silent"  # still over the limit, already told


class RateLimiter:
    """Sliding one-minute window per user; memory stays bounded by pruning idle users."""

    def __init__(self, per_minute: int, *, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._notified: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> Admission:
        """Count one request by *key* and say whether it may proceed."""
        if self.per_minute <= 0:
            return Admission.ALLOWED
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) < self.per_minute:
                hits.append(now)
                self._notified.pop(key, None)
                self._maybe_prune(now)
                return Admission.ALLOWED
            if key in self._notified:
                return Admission.LIMITED_SILENT
            self._notified[key] = now
            return Admission.LIMITED_NOTIFY

    def _maybe_prune(self, now: float) -> None:
        if len(self._hits) < 10_000:
            return
        for key in [k for k, q in self._hits.items() if not q or now - q[-1] >= self.window]:
            self._hits.pop(key, None)
            self._notified.pop(key, None)
