"""How often Python hands its interpreter lock between threads. A sync's writer thread drops
the lock for every row SQLite writes and every page the socket reads, and wants it back at once;
with the default interval (5 ms) it waits behind whichever decode thread took it meanwhile, and
it does so while holding the database's one write lock, so every connector waits with it.
A shorter interval hands the lock back sooner, so the writer (and the lock) is held up less;
the extra switches cost little because the other threads mostly wait on sockets."""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.0005


def tune_threads() -> None:
    """Set the interval for this process (once, at start-up)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
