"""When to try a request again, and how long to wait: capped, jittered exponential backoff
that honours ``Retry-After`` when the console sends one (it may not: s1-api.md §6)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    base: float = 0.5  # seconds before the first retry, before jitter
    cap: float = 30.0  # longest backoff between two tries
    retry_after_cap: float = 120.0  # a console asking for longer is believed only this far
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap)
        ceiling = min(self.cap, self.base * 2.0 ** (attempt - 1))
        # "Equal jitter": at least half the backoff, so retries never bunch at zero.
        jitter: float = self.rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form; dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
