"""Holding a console while its connectors run, so that one run per console and connector
happens at a time across processes and machines: ``sync`` and ``worker`` take the same lease
(``store._leases``), a heartbeat renews it on its own connection, and a holder that stops
renewing (killed, cut off) loses it once it expires — at once when it was a process of this
machine that has ended."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from s1uvm._errors import Error
from s1uvm.store import Store
from s1uvm.store._leases import Holder, default_owner

__all__ = ["ConsoleBusy", "Heartbeat", "Held", "default_owner", "holding"]

log = logging.getLogger("s1uvm.lease")
LEASE_SECONDS = 120.0  # how long a lease lasts without a heartbeat
POLL_SECONDS = 1.0  # how often a waiting sync looks again


class ConsoleBusy(Error):
    """Another run holds the console and the caller would not wait (``--no-wait``): exit 1,
    as for a sync that did not run."""


class Heartbeat(threading.Thread):
    """Renews one lease every third of its length, on its own connection; sets ``lost`` when
    the lease was taken by another holder (ours had expired), so the run stops at its next
    page instead of writing alongside the new holder."""

    def __init__(
        self, open_store: Callable[[], Store], owner: str, console: str, lease: float
    ) -> None:
        super().__init__(name=f"heartbeat-{console}", daemon=True)
        self.open_store, self.owner, self.console, self.lease = open_store, owner, console, lease
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        store = self.open_store()
        try:
            while not self.done.wait(self.lease / 3):
                try:
                    ok = store.leases.renew(self.owner, self.console, self.lease)
                except Exception as exc:  # a database hiccup: try again at the next beat
                    log.warning("%s: heartbeat failed (%s)", self.console, exc)
                    continue
                if not ok:
                    log.warning("%s: lease lost to another run; stopping", self.console)
                    self.lost.set()
                    return
        finally:
            store.close()


@dataclass(slots=True)
class Held:
    """A console held by this process: ``outcome`` is recorded when it is handed back."""

    heartbeat: Heartbeat
    owner: str  # the lease holder's name: the fence every page of its runs is written under
    outcome: str = "failed"

    @property
    def lost(self) -> bool:
        return self.heartbeat.lost.is_set()


@contextlib.contextmanager
def holding(
    open_store: Callable[[], Store],
    console: str,
    url: str,
    *,
    owner: str | None = None,
    wait: bool = True,
    on_wait: Callable[[Holder], None] | None = None,
    stop: Callable[[], bool] | None = None,
    lease: float = LEASE_SECONDS,
    poll: float = POLL_SECONDS,
) -> Iterator[Held | None]:
    """Hold ``console`` for the block: take its lease (waiting for a holder to finish, told
    once through ``on_wait``, unless ``wait`` is False: then ``ConsoleBusy``), renew it while
    the block runs, hand it back after. Yields None when ``stop`` said so while waiting."""
    me = owner or default_owner()
    store = open_store()
    try:
        told = False
        while (holder := store.leases.take(me, console, url, lease)) is not None:
            since = f" at {holder.since}" if holder.since else ""
            if not wait:
                raise ConsoleBusy(
                    f"console {console!r} is being synced by {holder.owner}{since}; "
                    "run again when it has finished (or leave out --no-wait to wait for it)"
                )
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            if stop is not None and stop():
                yield None
                return
            threading.Event().wait(poll)
        beat = Heartbeat(open_store, me, console, lease)
        beat.start()
        held = Held(beat, me)
        try:
            yield held
        finally:
            beat.done.set()
            beat.join()
            store.leases.release(me, console, next_in=None, outcome=held.outcome)
    finally:
        store.close()
