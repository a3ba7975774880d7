"""Per-token, per-endpoint token buckets with the figures of s1-api.md §6.

The buckets run on real (monotonic) time, not simulated time: rate limits are about how fast
a client talks to the console now.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# endpoint key → (requests per second, burst). /application-management/risks is not in the
# published table; s1-api.md §6 says to assume about the /threats rate.
LIMITS: dict[str, tuple[float, float]] = {
    "threats": (10.0, 50.0),
    "risks": (10.0, 50.0),
    "agents": (25.0, 1.0),
    "sites": (100.0, 100.0),
    "accounts": (100.0, 100.0),
    "groups": (100.0, 100.0),
    "users": (40.0, 40.0),
    "user": (2.0, 2.0),
    "system/status": (2.0, 2.0),
    "system/info": (10.0, 10.0),
}
DEFAULT_LIMIT = (10.0, 10.0)


@dataclass(slots=True)
class Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take one token; return 0 on success, else seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    def __init__(
        self,
        limits: dict[str, tuple[float, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(LIMITS if limits is None else limits)
        self._clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()

    def check(self, token: str, endpoint: str) -> int | None:
        """None when the request may proceed, else the whole seconds to wait (Retry-After)."""
        rate, burst = self.limits.get(endpoint, DEFAULT_LIMIT)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get((token, endpoint))
            if bucket is None:
                bucket = Bucket(rate, max(1.0, burst), max(1.0, burst), now)
                self._buckets[(token, endpoint)] = bucket
            wait = bucket.take(now)
        if wait == 0.0:
            return None
        return max(1, math.ceil(wait))
