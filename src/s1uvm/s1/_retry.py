"""When to try a request again, and how long to wait: capped, jittered exponential backoff
that honours ``Retry-After`` when the console sends one (it may not: s1-api.md §6)."""

from __future__ import annotations

import functools
import logging
import os
import random
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BASE_ENV = "S1UVM_RETRY_BASE"
DEFAULT_BASE = 0.5
MAX_BASE = 60.0


def base_from_env() -> float:
    """The first backoff in seconds: ``S1UVM_RETRY_BASE`` if set, else the default. Every later
    backoff doubles from it, so this one number shortens or lengthens the whole schedule — the
    test suite makes unreachable-host cases quick with it, and an operator can give a flaky
    link longer. A value that is not a number of seconds in (0, 60] is reported and ignored:
    a typo in a tuning knob should not stop a sync."""
    return _parse_base(os.environ.get(BASE_ENV, "").strip())


@functools.cache  # one warning per value, not one per client
def _parse_base(text: str) -> float:
    if not text:
        return DEFAULT_BASE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if 0 < value <= MAX_BASE:
        return value
    log.warning(
        "%s=%r is not a number of seconds in (0, %g]; using %g",
        BASE_ENV,
        text[:40],
        MAX_BASE,
        DEFAULT_BASE,
    )
    return DEFAULT_BASE


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    base: float = field(default_factory=base_from_env)  # seconds before the first retry
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
