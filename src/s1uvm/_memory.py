"""Keeping a long sync's resident memory flat. glibc gives each thread that allocates its own
malloc arena, and raises its mmap threshold after big frees, so page-sized buffers (1-4 MB of
JSON per page) freed by one of the fetch threads stay in that thread's arena: with connectors
and partitions side by side the process grows by tens of megabytes it never uses again.
Capping the arenas and keeping big buffers in mmap returns that memory. A no-op where glibc's
``mallopt`` is not available.

Freed memory in the middle of a heap stays with the process all the same, so it is handed
back at most once a second (``return_free_memory``, called between pages): often enough that
a long sync's resident size falls back after its busiest phase, rarely enough to cost
nothing measurable."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import threading
import time
from collections.abc import Callable

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


TRIM_EVERY_S = 1.0
_trim_guard = threading.Lock()
_last_trim = -TRIM_EVERY_S


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return trim


def tune_malloc() -> bool:
    """Apply the settings; True when they took effect."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((_M_ARENA_MAX, 2), (_M_MMAP_THRESHOLD, 256 * 1024), (_M_TRIM_THRESHOLD, 1 << 20))
    return all([int(mallopt(option, value)) == 1 for option, value in settings])


def return_free_memory(clock: Callable[[], float] = time.monotonic) -> bool:
    """Give the heap's free pages back to the OS, at most once every ``TRIM_EVERY_S`` for the
    whole process (threads call it after every page); True when it ran."""
    global _last_trim
    trim = _malloc_trim()
    if trim is None:
        return False
    with _trim_guard:
        now = clock()
        if now - _last_trim < TRIM_EVERY_S:
            return False
        _last_trim = now
    trim(0)
    return True
