"""A sliding-window limit per key, without third-party services: per client address for the public form,
per account and per address for the staff's failed sign-ins (``webhooks.staff.auth``).

Kept in the web process's memory: with several web workers each counts on its own, so the effective
limit is ``limit × workers``; enough against a script flooding the form or guessing passwords, and it
holds no personal data beyond the window.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class RateLimiter:
    def __init__(self, limit: int, window: float, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    @classmethod
    def from_setting(cls, text: object) -> RateLimiter:
        """``"count/seconds"``, e.g. ``"5/3600"``."""
        count, _, seconds = str(text).partition("/")
        return cls(int(count), float(seconds or 3600))

    def _trim(self, key: str, now: float) -> deque[float]:
        hits = self._hits[key]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            self._hits.pop(key, None)
        return hits

    def try_hit(self, key: str) -> bool:
        """Count one more for ``key`` if the window has room. Checked and counted under one lock, so
        parallel requests cannot all pass the check before any of them is counted."""
        with self._lock:
            now = self.clock()
            if len(self._trim(key, now)) >= self.limit:
                return False
            self._hits[key].append(now)
            return True

    def give_back(self, key: str) -> None:
        """Undo a ``try_hit`` for ``key`` (a submission that was refused, not registered)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()
            if not hits:
                self._hits.pop(key, None)
