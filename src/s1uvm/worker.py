"""``s1uvm worker``: a long-running puller. Any number of workers, on one machine or many, share
the configured consoles through the database (see ``store._leases``): each takes a due console,
runs its enabled connectors while a heartbeat renews the lease, hands it back due again after
``every``, and takes the next. Asked to stop (SIGTERM), it finishes the page in hand — committed
with its checkpoint — records the run as partial, hands the console back due at once, and exits.
Knows no SQL: it speaks to the store's public methods."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from s1uvm.config import ConsoleConfig
from s1uvm.identity import IdentityChanged, establish
from s1uvm.lease import Heartbeat, default_owner
from s1uvm.s1 import S1Error
from s1uvm.store import Store, StoreError, open_store
from s1uvm.sync import RunResult, run_console

log = logging.getLogger("s1uvm.worker")
RETRY_FAILED_S = 900.0  # a failed console is tried again after this (or ``every``, if sooner)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    every: float = 3600.0  # seconds between two runs of one console
    lease: float = 120.0  # seconds a lease lasts without a heartbeat
    poll: float = 10.0  # seconds between looks for a due console when none is
    once: bool = False  # run what is due, then exit instead of waiting
    owner: str = field(default_factory=default_owner)
    inactive_days: int = 30


class Worker:
    def __init__(
        self,
        consoles: Sequence[ConsoleConfig],
        db: str,
        options: WorkerOptions,
        *,
        report: Callable[[RunResult], None] = lambda r: None,
    ) -> None:
        self.consoles = {c.name: c for c in consoles}
        self.db = db
        self.options = options
        self.report = report
        self._stop = threading.Event()
        self.runs = 0  # console runs completed by this worker

    def stop(self) -> None:
        """Finish the page in hand, hand the console back, and return from ``run``."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        opts = self.options
        store = open_store(self.db)  # a database we cannot open at all: the caller says so
        names = sorted(self.consoles)
        try:
            store.leases.register([(c.name, c.url) for c in self.consoles.values()])
            store.leases.reschedule(names, opts.every, RETRY_FAILED_S)
            while not self._stop.is_set():
                try:
                    if self._once(store, names):
                        return
                except (StoreError, S1Error):
                    raise
                except Exception as exc:
                    # The database went away (a restart, a failover): the lease we may hold
                    # expires by itself; reconnect and carry on, as a daemon must.
                    log.warning("%s: %s; reconnecting in %gs", opts.owner, exc, opts.poll)
                    with contextlib.suppress(Exception):
                        store.close()
                    store = self._reconnect()
        finally:
            with contextlib.suppress(Exception):
                store.close()

    def _reconnect(self) -> Store:
        """The database again, waiting ``poll`` between tries for as long as it takes."""
        while True:
            self._stop.wait(self.options.poll)
            try:
                return open_store(self.db)
            except StoreError as exc:
                if self._stop.is_set():
                    raise
                log.warning("%s: %s", self.options.owner, exc)

    def _once(self, store: Store, names: list[str]) -> bool:
        """Take one due console and sync it, or wait a little; True when ``--once`` is done."""
        opts = self.options
        name = store.leases.acquire(opts.owner, names, opts.lease)
        if name is None:
            if opts.once:
                return True
            self._stop.wait(opts.poll)
            return False
        outcome = self._run_console(store, self.consoles[name])
        if outcome == "stopped":
            next_in = 0.0  # due at once: another worker (or our restart) resumes it
        elif outcome == "success":
            next_in = opts.every
        else:
            next_in = min(opts.every, RETRY_FAILED_S)
        store.leases.release(opts.owner, name, next_in=next_in, outcome=outcome)
        self.runs += 1
        return False

    def _run_console(self, store: Store, console: ConsoleConfig) -> str:
        beat = Heartbeat(
            lambda: open_store(self.db), self.options.owner, console.name, self.options.lease
        )
        beat.start()
        results: list[RunResult] = []
        try:
            with console.client() as client:
                try:
                    _, warning = establish(store, console, client)
                except IdentityChanged as exc:
                    log.error("%s", exc)
                    return "failed"
            if warning:
                log.warning("%s: %s", console.name, warning)
            results = run_console(
                console.name,
                console.connectors,
                open_store=lambda: open_store(self.db),
                open_client=console.client,
                inactive_days=self.options.inactive_days,
                stop=lambda: self._stop.is_set() or beat.lost.is_set(),
                scope=console.scope,
                fence=self.options.owner,
            )
            for result in results:
                self.report(result)
        finally:
            beat.done.set()
            beat.join()
        if self._stop.is_set() or beat.lost.is_set():
            return "stopped"
        if results and all(r.outcome == "success" for r in results):
            return "success"
        return "failed" if all(r.outcome == "failed" for r in results) else "partial"
