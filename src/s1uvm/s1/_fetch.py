"""Fetching ahead: cursor walks run in background threads and hand their pages over through a
queue, so the next page is on the wire while the caller writes the current one. Between them a
``prepare`` thread (the connector's pure transform) turns each page into rows — one page ahead of
the caller, the others wait as JSON, which is smaller than its rows — so three things
overlap: receiving a page, decoding the one before, writing the one before that — the database's
and the socket's time release the GIL, so the transform's Python time hides behind them instead
of adding up. Several walks (independent partitions of one snapshot) run side by side, as many
at once as ``workers`` allows, all under the client's shared rate limiter. One walk keeps its
page order; pages of different walks interleave.

An error in a walk is handed over in sequence, after the pages before it, and raised in the
caller's thread; the other walks are then cancelled.

Read-ahead is bounded in bytes, not pages: a walk starts its next request only while less than
``ahead`` bytes of pages per walk running side by side wait for the caller (so at least one page
is always on its way). Per walk, because each walk has one request in flight: partitions fetched
in parallel need a page each waiting for the next requests to be back before the caller runs
dry — with a slow console, a bound shared by four walks leaves the snapshot's writer idle.
Pages differ a hundredfold in size — a thousand risks are 0.6 MB, a thousand threats 5 MB —
and a count of pages would let the big ones fill memory in a large console, while a small one
never gets that far: a bound in bytes keeps peak memory independent of the console's size."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, TypeVar, overload

from s1uvm.s1._paging import Page, Walk

log = logging.getLogger("s1uvm.s1")

# Raw records waiting for the caller, per walk running at once, before walks pause. With the
# pages of about 1.5 MB the connectors ask for, 1 MB keeps one page ready behind the one being
# written, which is all the writer needs; more would only raise peak memory.
AHEAD_BYTES = 1024 * 1024
JOIN_SECONDS = 5.0  # how long close() waits for a walk stuck in a request before leaving it


T = TypeVar("T")


class _Done:
    """A walk thread has no more work."""


def _as_is(page: Page) -> Page:
    return page


class Fetcher(Generic[T]):
    """Iterate to get each page, or what ``prepare`` made of it, once."""

    @overload
    def __init__(
        self: Fetcher[Page], walks: Sequence[Walk], *, workers: int = ..., ahead: int = ...
    ) -> None: ...

    @overload
    def __init__(
        self,
        walks: Sequence[Walk],
        *,
        workers: int = ...,
        ahead: int = ...,
        prepare: Callable[[Page], T],
    ) -> None: ...

    def __init__(
        self,
        walks: Sequence[Walk],
        *,
        workers: int = 1,
        ahead: int = AHEAD_BYTES,
        prepare: Callable[[Page], Any] = _as_is,
    ) -> None:
        self.walks = list(walks)
        self._walkers = max(1, min(workers, len(self.walks)))
        self.ahead = ahead * self._walkers
        self._prepare = prepare
        self._todo = list(reversed(self.walks))
        self._todo_lock = threading.Lock()
        # walks → prepare: (bytes, page) in walk order, an error, or a walk thread's end
        self._received: queue.Queue[tuple[int, Page] | BaseException | _Done] = queue.Queue()
        # prepare → caller: (bytes, prepared page), an error, or the end of everything
        self._queue: queue.Queue[tuple[int, T] | BaseException | _Done] = queue.Queue()
        self._waiting = 0  # bytes of pages queued and not yet taken by the caller
        self._room = threading.Condition()
        self._cancel = threading.Event()
        # One prepared page waits for the caller at most: rows take two to three times the
        # memory of their page's JSON, so pages read ahead wait as JSON until it is their turn.
        self._prepared_slot = threading.Semaphore(1)
        self._threads = [
            threading.Thread(target=self._work, name=f"fetch-{i}", daemon=True)
            for i in range(self._walkers)
        ]
        self._threads.append(
            threading.Thread(target=self._prepare_all, name="fetch-prepare", daemon=True)
        )
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
    def _wait_for_room(self) -> bool:
        """Block while enough is waiting for the caller; False once cancelled."""
        with self._room:
            while self._waiting >= self.ahead and not self._cancel.is_set():
                self._room.wait(0.1)
        return not self._cancel.is_set()

    def _put(self, page: Page) -> None:
        size = page.size  # counted once, carried along to the caller
        with self._room:
            self._waiting += size
        self._received.put((size, page))

    def _taken(self, size: int) -> None:
        with self._room:
            self._waiting -= size
            self._room.notify_all()

    def _next_walk(self) -> Walk | None:
        with self._todo_lock:
            return self._todo.pop() if self._todo and not self._cancel.is_set() else None

    def _work(self) -> None:
        try:
            while (walk := self._next_walk()) is not None:
                pages = iter(walk)
                while self._wait_for_room():
                    page = next(pages, None)  # the request goes out here
                    if page is None:
                        break
                    self._put(page)
        except BaseException as exc:  # handed to the caller, raised there
            self._received.put(exc)
        finally:
            self._received.put(_Done())

    def _prepare_all(self) -> None:
        """Prepare pages in the order received, passing errors on in sequence."""
        running = self._walkers
        try:
            while running and not self._cancel.is_set():
                try:
                    item = self._received.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(item, _Done):
                    running -= 1
                elif isinstance(item, BaseException):
                    self._queue.put(item)
                else:
                    size, page = item
                    while not self._prepared_slot.acquire(timeout=0.1):
                        if self._cancel.is_set():
                            return
                    self._queue.put((size, self._prepare(page)))
        except BaseException as exc:
            self._queue.put(exc)
        finally:
            self._queue.put(_Done())

    # -- the caller's side ---------------------------------------------------------------------
    def __iter__(self) -> Generator[T, None, None]:
        if self._started:
            raise RuntimeError("a Fetcher is iterated once")
        self._started = True
        for t in self._threads:
            t.start()
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, _Done):
                    return
                elif isinstance(item, BaseException):
                    raise item
                else:
                    size, prepared = item
                    self._taken(size)
                    self._prepared_slot.release()  # the next page may be prepared meanwhile
                    yield prepared
        finally:
            self.close()

    def close(self) -> None:
        """Stop the walks (a request in flight finishes first) and let their threads end."""
        self._cancel.set()
        with self._room:
            self._room.notify_all()
        for t in self._threads:
            if t.is_alive():
                t.join(JOIN_SECONDS)
