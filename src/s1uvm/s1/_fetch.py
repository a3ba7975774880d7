"""Fetching ahead: cursor walks run in background threads and hand their pages over through a
small queue, so the next page is on the wire while the caller decodes and writes the current
one. Several walks (independent partitions of one snapshot) run side by side, as many at once
as ``workers`` allows, all under the client's shared rate limiter. One walk keeps its page
order; pages of different walks interleave.

An error in a walk is handed over in sequence, after the pages before it, and raised in the
caller's thread; the other walks are then cancelled. The queue is bounded, so memory holds at
most ``depth`` pages however fast the console answers."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Generator, Sequence

from s1uvm.s1._paging import Page, Walk

log = logging.getLogger("s1uvm.s1")

DEPTH = 2  # pages waiting for the caller at most (each is about 1-2 MB of raw records)
JOIN_SECONDS = 5.0  # how long close() waits for a walk stuck in a request before leaving it


class _Done:
    """A walk thread has no more work."""


class Fetcher:
    def __init__(self, walks: Sequence[Walk], *, workers: int = 1, depth: int = DEPTH) -> None:
        self.walks = list(walks)
        self._todo = list(reversed(self.walks))
        self._todo_lock = threading.Lock()
        self._queue: queue.Queue[Page | BaseException | _Done] = queue.Queue(maxsize=depth)
        self._cancel = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"fetch-{i}", daemon=True)
            for i in range(max(1, min(workers, len(self.walks))))
        ]
        self._started = False

    # -- state after (or during) the walks -----------------------------------------------------
    @property
    def complete(self) -> bool:
        """Every walk ended on its last page."""
        return all(w.complete for w in self.walks)

    @property
    def end(self) -> str | None:
        """How the first incomplete walk ended (``last-page`` when all are complete)."""
        for w in self.walks:
            if not w.complete:
                return w.end
        return "last-page"

    @property
    def total(self) -> int | None:
        """Records the console announced, summed over the walks that have said."""
        totals = [w.total for w in self.walks if w.total is not None]
        return sum(totals) if totals else None

    # -- the background side -------------------------------------------------------------------
    def _put(self, item: Page | BaseException | _Done) -> bool:
        while not self._cancel.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _next_walk(self) -> Walk | None:
        with self._todo_lock:
            return self._todo.pop() if self._todo and not self._cancel.is_set() else None

    def _work(self) -> None:
        try:
            while (walk := self._next_walk()) is not None:
                for page in walk:
                    if not self._put(page):
                        return
        except BaseException as exc:  # handed to the caller, raised there
            self._put(exc)
        finally:
            self._put(_Done())

    # -- the caller's side ---------------------------------------------------------------------
    def __iter__(self) -> Generator[Page, None, None]:
        if self._started:
            raise RuntimeError("a Fetcher is iterated once")
        self._started = True
        for t in self._threads:
            t.start()
        running = len(self._threads)
        try:
            while running:
                item = self._queue.get()
                if isinstance(item, _Done):
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the walks (a request in flight finishes first) and let their threads end."""
        self._cancel.set()
        while True:  # unblock a thread waiting to put
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for t in self._threads:
            if t.is_alive():
                t.join(JOIN_SECONDS)
