"""Client-side pacing: one token bucket per (token, endpoint), shared by every connector that
uses the same token, so together they stay inside SentinelOne's per-endpoint limits
(s1-api.md §6). After a 429 an endpoint's rate is halved, then recovers gradually."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# path prefix → (requests per second, burst); the longest matching prefix wins.
LIMITS: dict[str, tuple[float, float]] = {
    "/threats": (10.0, 50.0),
    "/application-management/risks": (10.0, 50.0),  # not published; assumed like /threats
    "/application-management/inventory": (3.0, 3.0),
    "/agents": (25.0, 1.0),
    "/sites": (100.0, 100.0),
    "/accounts": (100.0, 100.0),
    "/groups": (100.0, 100.0),
    "/users": (40.0, 40.0),
    "/user": (2.0, 2.0),
    "/system/status": (2.0, 2.0),
    "/xdr": (25.0, 25.0),
}
DEFAULT = (10.0, 10.0)
# What we leave unused of each published limit. The console's buckets and ours tick on
# different clocks and requests reach it with jitter: pacing at exactly its rate with its
# whole burst spent, the two buckets run empty in lock-step and a request arriving a few ms
# early is refused — and one 429 halves our rate for the next couple of hundred requests,
# which costs far more than the headroom does. A fifth of each burst kept unspent,
# and the rate a little under, leave the console the slack to absorb that.
BURST_HEADROOM = 0.2
RATE_HEADROOM = 0.02
RECOVER_AFTER = 50  # successes at a reduced rate before stepping back up
MIN_RATE = 0.5
_EPSILON = 1e-9


def endpoint_of(path: str) -> str:
    """The rate-limit key of an API path (below ``/web/api/v2.1``)."""
    best = ""
    for prefix in LIMITS:
        if (path == prefix or path.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    return best or path


@dataclass(slots=True)
class _Bucket:
    nominal: float
    rate: float
    capacity: float
    tokens: float
    stamp: float
    successes: int = 0


class RateLimiter:
    """Thread-safe; ``acquire`` blocks until the endpoint may be called."""

    def __init__(
        self,
        limits: dict[str, tuple[float, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = dict(LIMITS if limits is None else limits)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, endpoint: str, now: float) -> _Bucket:
        bucket = self._buckets.get(endpoint)
        if bucket is None:
            rate, burst = self.limits.get(endpoint, DEFAULT)
            rate *= 1.0 - RATE_HEADROOM
            burst = max(1.0, float(int(burst * (1.0 - BURST_HEADROOM))))
            bucket = _Bucket(rate, rate, burst, burst, now)
            self._buckets[endpoint] = bucket
        return bucket

    def acquire(self, endpoint: str) -> None:
        while True:
            with self._lock:
                now = self._clock()
                b = self._bucket(endpoint, now)
                b.tokens = min(b.capacity, b.tokens + (now - b.stamp) * b.rate)
                b.stamp = now
                if b.tokens >= 1.0 - _EPSILON:  # float residue must not stall a waiter
                    b.tokens = max(0.0, b.tokens - 1.0)
                    return
                wait = (1.0 - b.tokens) / b.rate
            self._sleep(wait)

    def success(self, endpoint: str) -> None:
        with self._lock:
            b = self._bucket(endpoint, self._clock())
            if b.rate < b.nominal:
                b.successes += 1
                if b.successes >= RECOVER_AFTER:
                    b.rate = min(b.nominal, b.rate * 1.25)
                    b.successes = 0

    def throttled(self, endpoint: str) -> None:
        """The console said 429: slow this endpoint down and drain its bucket."""
        with self._lock:
            b = self._bucket(endpoint, self._clock())
            b.rate = max(MIN_RATE, b.rate / 2)
            b.tokens = 0.0
            b.successes = 0

    def rate(self, endpoint: str) -> float:
        with self._lock:
            return self._bucket(endpoint, self._clock()).rate


_shared: dict[str, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(token_fingerprint: str) -> RateLimiter:
    """The process-wide limiter for one token: connectors using it share its budget."""
    with _shared_lock:
        limiter = _shared.get(token_fingerprint)
        if limiter is None:
            limiter = _shared[token_fingerprint] = RateLimiter()
        return limiter
