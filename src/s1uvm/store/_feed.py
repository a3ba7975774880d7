"""The change feed behind ``export --mode changes``: ``finding_history`` read so that an event
is delivered to each bookmark exactly once however writers and exports interleave, the
bookmarks themselves, and the lock that lets one export at a time use a bookmark.

Why a position is not simply "the last ``event_id`` delivered": ``event_id`` is handed out
when a row is inserted, but a row becomes visible when its transaction commits. On
PostgreSQL, writers run side by side, so a transaction that took id 100 may commit after
one that took id 101; an export in between sees 101, and a bookmark at 101 would pass 100
for good. So on PostgreSQL every history row records the transaction that wrote it
(``txid``, an ``xid8`` filled by ``pg_current_xact_id()``), each export reads in one
``REPEATABLE READ`` snapshot, and the bookmark stores that snapshot. The next export takes
exactly the rows its own snapshot sees and the stored one did not
(``NOT pg_visible_in_snapshot(txid, stored)``): every transaction committed between the two
snapshots, whatever its id, and nothing else. Transactions still running are in neither
snapshot's visible set, so they arrive with a later export; snapshots follow commit order, so
a finding's later change is never delivered before its earlier one.

On SQLite one writer at a time holds the database's write lock from ``BEGIN IMMEDIATE`` to
``COMMIT``, and ``AUTOINCREMENT`` never reuses an id, so ids become visible in increasing
order: a bookmark on ``event_id`` is exact. Each export still reads in one transaction and
bounds its read by the largest id that transaction sees, so what it reads and where its
bookmark moves are the same set.

Rows written before ``txid`` existed carry ``txid`` 1 (visible in every snapshot); a bookmark
stored before then has no snapshot, and its first export takes every row after its
``event_id``, as it always did, then goes on by snapshot."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from s1uvm.store._dialect import utcnow

if TYPE_CHECKING:
    from s1uvm.store._store import Store

POLL_S = 0.1  # how often a waiting export tries the bookmark's lock again
_CHANGES = (
    "SELECT h.event_id, h.run_id, h.at AS event_at, h.event_type, h.old_state, "
    "h.new_state, h.changed, f.*, a.hostname, a.agent_uuid, a.domain, a.os_type, "
    "a.os_name, a.os_version, a.machine_type, a.ipv4 AS a_ipv4, a.mac AS a_mac, "
    "a.account_id, a.account_name, a.site_id, a.site_name, a.agent_version "
    "FROM finding_history h JOIN findings f ON f.finding_id = h.finding_id "
    "LEFT JOIN assets a ON a.console = f.console AND a.agent_id = f.agent_id"
)


class FeedError(Exception):
    """A bookmark's position cannot be used (one line: what happened, what to do)."""


class BookmarkBusy(Exception):
    """Another export holds the bookmark, and the caller chose not to wait."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a bookmark stands: on SQLite the last ``event_id`` delivered; on PostgreSQL the
    snapshot the last export read in (``event_id`` then only serves bookmarks stored before
    snapshots existed, until their first export)."""

    event_id: int = 0
    snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class Bookmark:
    name: str
    position: Position
    filters: str | None = None  # the filters of the export that last moved it
    updated_at: str | None = None  # when it last moved; None: never used


@dataclass(slots=True)
class Batch:
    """The rows of one read, and the position that marks them all delivered."""

    rows: Iterator[dict[str, Any]]
    position: Position
    last_event: int | None = None  # the last row read, once read


class Feed:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pg = store.dialect.name == "postgresql"

    # -- bookmarks -----------------------------------------------------------------------------
    def bookmark(self, name: str) -> Bookmark:
        row = self._store._x(
            "SELECT event_id, snapshot, filters, updated_at FROM export_bookmarks WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return Bookmark(name, Position())
        return Bookmark(
            name,
            Position(int(row[0]), row[1]),
            row[2],
            self._store.dialect.ts_out(row[3]),
        )

    def save(self, name: str, position: Position, filters: str | None) -> None:
        """Move the bookmark (call only once the output is complete)."""
        s = self._store
        s.conn.execute(
            s.dialect.upsert(
                "export_bookmarks",
                ("name", "event_id", "snapshot", "filters", "updated_at"),
                ("name",),
            ),
            (name, position.event_id, position.snapshot, filters, utcnow()),
        )

    # -- reading -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def read(
        self,
        after: Position,
        *,
        kind: str | None = None,
        state: str | None = None,
        severity: str | None = None,
        since: str | None = None,
    ) -> Iterator[Batch]:
        """The changes after ``after``, oldest first, each with its finding's current row and
        endpoint fields, read in one transaction that ends with the block (so end it before
        writing to the store). ``Batch.position`` covers exactly the rows read, filtered out
        or not: a filtered export has a bookmark of its own."""
        from s1uvm.store._store import _any, _where

        s = self._store
        filters = [
            *_any("f.kind", kind),
            *_any("h.new_state", state),
            *_any("f.severity", severity),
            ("h.at >= ?", since),
        ]
        if self._pg:
            s.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            s.conn.execute("BEGIN")  # deferred: one read snapshot from the first SELECT on
        try:
            if self._pg:
                snapshot, behind = s._x(
                    "SELECT pg_current_snapshot()::text, pg_snapshot_xmax(pg_current_snapshot()) "
                    "< pg_snapshot_xmin(?::pg_snapshot)",
                    (after.snapshot or "1:1:",),
                ).fetchone()
                if behind:
                    raise FeedError(
                        "the PostgreSQL server's transaction count is behind the bookmark's "
                        "(was the database restored into another server?); its position cannot "
                        "be compared: export with a new --bookmark, which starts from the first "
                        "event"
                    )
                if after.snapshot is None:
                    span: list[tuple[str, Any]] = [("h.event_id > ?", after.event_id)]
                else:
                    span = [
                        ("h.txid >= pg_snapshot_xmin(?::pg_snapshot)", after.snapshot),
                        ("NOT pg_visible_in_snapshot(h.txid, ?::pg_snapshot)", after.snapshot),
                    ]
                position = Position(after.event_id, str(snapshot))
            else:
                top = int(
                    s._x("SELECT coalesce(max(event_id), 0) FROM finding_history").fetchone()[0]
                )
                span = [("h.event_id > ?", after.event_id), ("h.event_id <= ?", top)]
                position = Position(max(top, after.event_id))
            where, params = _where([*span, *filters])
            batch = Batch(iter(()), position)
            rows = s._rows(f"{_CHANGES}{where} ORDER BY h.event_id", params)
            batch.rows = self._decoded(rows, batch)
            try:
                yield batch
            finally:
                # A cursor left half-read by a failed export, closed while its transaction lasts.
                cast(Generator[Any, None, None], rows).close()
        finally:
            s.conn.rollback()  # a read-only transaction: nothing to keep

    def _decoded(self, rows: Iterator[dict[str, Any]], batch: Batch) -> Iterator[dict[str, Any]]:
        json_out = self._store.dialect.json_out
        for row in rows:
            row["changed"] = json_out(row["changed"])
            batch.last_event = row["event_id"]
            yield row

    # -- one export per bookmark ---------------------------------------------------------------
    @contextlib.contextmanager
    def lock(
        self, name: str, *, wait: bool = True, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """Hold ``name`` for one export: across processes and machines on PostgreSQL (an
        advisory lock, released with the session if the process dies), across processes on
        SQLite (a lock on one byte of a file beside the database, released by the kernel if
        the process dies). A second export waits, polling, or raises ``BookmarkBusy``."""
        take, give = self._pg_lock(name) if self._pg else self._file_lock(name)
        told = False
        while not take():
            if not wait:
                raise BookmarkBusy(name)
            if not told and on_wait is not None:
                on_wait()
                told = True
            time.sleep(POLL_S)
        try:
            yield
        finally:
            give()

    def _key(self, name: str, scope: str) -> int:
        digest = hashlib.sha256(f"s1uvm-export\0{scope}\0{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _pg_lock(self, name: str) -> tuple[Callable[[], bool], Callable[[], None]]:
        s = self._store
        # Advisory locks are per database, not per schema: the schema keeps two stores in
        # one database from sharing a lock.
        key = self._key(name, str(s._x("SELECT current_schema()").fetchone()[0]))

        def take() -> bool:
            return bool(s._x("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0])

        def give() -> None:
            s._x("SELECT pg_advisory_unlock(?)", (key,))

        return take, give

    def _file_lock(self, name: str) -> tuple[Callable[[], bool], Callable[[], None]]:
        path = os.path.realpath(self._store.location) + ".exports.lock"
        # A byte per bookmark (at an offset from its name's hash) of one file: POSIX record
        # locks belong to the process, so threads of one process also take an in-process lock.
        offset = self._key(name, path) & 0x3FFF_FFFF_FFFF_FFFF
        local = _local_lock(path, offset)
        fd = -1

        def take() -> bool:
            nonlocal fd
            if not local.acquire(blocking=False):
                return False
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except BlockingIOError:
                os.close(fd)
                local.release()
                return False
            except BaseException:
                if fd >= 0:
                    os.close(fd)
                local.release()
                raise
            return True

        def give() -> None:
            try:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
            finally:
                os.close(fd)
                local.release()

        return take, give


_local: dict[tuple[str, int], threading.Lock] = {}
_local_guard = threading.Lock()


def _local_lock(path: str, offset: int) -> threading.Lock:
    with _local_guard:
        return _local.setdefault((path, offset), threading.Lock())
