"""Keeping a long sync's resident memory flat. glibc gives each thread that allocates its own
malloc arena, and raises its mmap threshold after big frees, so page-sized buffers (1-4 MB of
JSON per page) freed by one of the fetch threads stay in that thread's arena: with connectors
and partitions side by side the process grew by tens of megabytes it never used again
(bench figures in issue #7). Capping the arenas and keeping big buffers in mmap returns that
memory. A no-op where glibc's ``mallopt`` is not available."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """Apply the settings; True when they took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((_M_ARENA_MAX, 2), (_M_MMAP_THRESHOLD, 256 * 1024), (_M_TRIM_THRESHOLD, 1 << 20))
    return all([int(mallopt(option, value)) == 1 for option, value in settings])
