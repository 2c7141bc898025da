"""A sliding-window limit per client address for the public form, without third-party services.

Kept in the web process's memory: with several web workers each counts on its own, so the effective
limit is ``limit × workers``; enough against a script flooding the form, and it holds no personal data
beyond the window.
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

    def _trim(self, key: str, now: float) -> deque[float]:
        hits = self._hits[key]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            self._hits.pop(key, None)
        return hits

    def allowed(self, key: str) -> bool:
        with self._lock:
            return len(self._trim(key, self.clock())) < self.limit

    def hit(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            self._trim(key, now)
            self._hits[key].append(now)
