"""How often Python hands its interpreter lock between threads. A sync's writer thread drops
the lock for every row SQLite writes and every page the socket reads, and wants it back at once;
with the default interval (5 ms) it waits behind whichever decode thread took it meanwhile, and
it does so while holding the database's one write lock, so every connector waits with it.
A shorter interval hands the lock back sooner: a large rate-limited sync on a 2-core VM went
from 234 s to 219 s and its CPU time did not grow (issue #7)."""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.0005


def tune_threads() -> None:
    """Set the interval for this process (once, at start-up)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
