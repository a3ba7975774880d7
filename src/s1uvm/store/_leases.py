"""Console leases: how workers on one or many machines share the consoles through the database
alone. A worker takes a due console whose lease is free or expired — on PostgreSQL with
``FOR UPDATE SKIP LOCKED``, so two workers never wait on or take the same row; on SQLite the
single writer lock does the same — renews the lease while it works, and hands it back with the
time the console is next due. A worker that dies simply stops renewing: once its lease expires
another worker takes the console and resumes from the checkpoints.

Times come from the workers' clocks (UTC); a lease of minutes tolerates ordinary NTP skew."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from s1uvm.store._dialect import TS_FORMAT

if TYPE_CHECKING:
    from s1uvm.store._store import Store


def at(seconds_from_now: float = 0.0) -> str:
    """A time in the store's text form, ``seconds_from_now`` ahead."""
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).strftime(TS_FORMAT)


def _text(value: object) -> str:
    """A stored time as the text ``at`` makes (PostgreSQL hands back datetimes)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(TS_FORMAT)
    return "" if value is None else str(value)


def _pid_namespace() -> str:
    """This process's pid namespace (Linux), so a pid is only ever compared with pids of the
    same namespace: containers on one host share its name but not their pids."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def default_owner() -> str:
    """This process, as lease holders and run owners are named: host:pid, and the pid
    namespace after an ``@`` where there is one."""
    ns = _pid_namespace()
    return f"{socket.gethostname()}:{os.getpid()}" + (f"@{ns}" if ns else "")


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` is provably a process of this machine, in this pid namespace,
    that has ended (a name this process would give itself: host:pid@namespace). Any other
    holder — another machine, another container, a worker's own ``--id`` — is alive until its
    lease expires."""
    name, _, ns = owner.partition("@")
    host, _, pid = name.rpartition(":")
    if not ns or ns != _pid_namespace() or host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class Holder:
    owner: str  # host:pid, or a worker's --id
    since: str | None  # when it took the console


class Leases:
    def __init__(self, store: Store) -> None:
        self._store = store

    def register(self, consoles: Sequence[tuple[str, str]]) -> None:
        """Make sure each (name, url) has a row to lease; existing rows are left as they are."""
        s = self._store
        insert = s.dialect.upsert(
            "consoles", ("console", "url", "updated_at"), ("console",), keep=("url", "updated_at")
        )
        with s._transaction():
            s.conn.executemany(insert, [(name, url, at()) for name, url in consoles])

    def acquire(self, owner: str, names: Sequence[str], lease_seconds: float) -> str | None:
        """Lease one of ``names`` that is due and not held (or whose holder stopped renewing),
        the longest-waiting first; None when there is none."""
        if not names:
            return None
        s = self._store
        now = at()
        marks = ", ".join("?" for _ in names)
        with s._transaction():
            row = s._x(
                f"SELECT console FROM consoles WHERE console IN ({marks}) "
                "AND (lease_owner IS NULL OR lease_expires_at < ?) "
                "AND (next_run_at IS NULL OR next_run_at <= ?) "
                "ORDER BY next_run_at IS NOT NULL, next_run_at, console LIMIT 1"
                + s.dialect.skip_locked,
                (*names, now, now),
            ).fetchone()
            if row is None:
                return None
            name = str(row[0])
            s._x(
                "UPDATE consoles SET lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, "
                "last_started_at = ?, last_worker = ? WHERE console = ?",
                (owner, at(lease_seconds), now, now, owner, name),
            )
        return name

    def take(self, owner: str, name: str, url: str, lease_seconds: float) -> Holder | None:
        """Lease the console ``name`` whether due or not (a sync someone asked for); None
        when it is ours now, else who holds it. A holder on this machine whose process is
        gone (killed) does not hold it, whatever its lease says."""
        s = self._store
        now = at()
        self.register([(name, url)])
        with s._transaction():
            row = s._x(
                "SELECT lease_owner, lease_expires_at, last_started_at FROM consoles "
                "WHERE console = ?",
                (name,),
            ).fetchone()
            holder = Holder(str(row[0]), _text(row[2])) if row and row[0] else None
            if holder is not None and _text(row[1]) >= now and owner_alive(holder.owner):
                return holder
            cur = s._x(
                "UPDATE consoles SET lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, "
                "last_started_at = ? WHERE console = ? AND (lease_owner IS NULL OR "
                "lease_owner = ?)",
                (owner, at(lease_seconds), now, now, name, holder.owner if holder else owner),
            )
            if cur.rowcount != 1:  # taken by someone else between our look and our update
                return holder or Holder("another process", None)
        return None

    def holder(self, name: str) -> Holder | None:
        """Who holds the console now (a live holder), or None."""
        s = self._store
        row = s._x(
            "SELECT lease_owner, lease_expires_at, last_started_at FROM consoles WHERE console = ?",
            (name,),
        ).fetchone()
        if row is None or not row[0] or _text(row[1]) < at() or not owner_alive(str(row[0])):
            return None
        return Holder(str(row[0]), _text(row[2]))

    def renew(self, owner: str, name: str, lease_seconds: float) -> bool:
        """Extend the lease; False when it is no longer ours (it expired and was taken)."""
        s = self._store
        with s._transaction():
            cur = s._x(
                "UPDATE consoles SET lease_expires_at = ?, heartbeat_at = ? "
                "WHERE console = ? AND lease_owner = ?",
                (at(lease_seconds), at(), name, owner),
            )
            return bool(cur.rowcount == 1)

    def release(self, owner: str, name: str, *, next_in: float | None, outcome: str) -> None:
        """Hand the console back, due again in ``next_in`` seconds (None: when it was due
        before — a sync someone asked for does not move the workers' schedule)."""
        s = self._store
        now = at()
        with s._transaction():
            s._x(
                "UPDATE consoles SET lease_owner = NULL, lease_expires_at = NULL, "
                "next_run_at = CASE WHEN ? THEN ? ELSE next_run_at END, last_finished_at = ?, "
                "last_outcome = ?, last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END "
                "WHERE console = ? AND lease_owner = ?",
                (
                    next_in is not None,
                    at(next_in or 0.0),
                    now,
                    outcome,
                    outcome == "success",
                    now,
                    name,
                    owner,
                ),
            )

    def reschedule(self, names: Sequence[str], every: float, retry_failed: float) -> int:
        """Due times as this worker's ``every`` sets them, for consoles not held: a worker
        restarted with a new interval must not keep the old one's due times (a day away when
        the new interval is an hour). Due again ``every`` after the last run finished
        (``retry_failed``, if sooner, after a failed one). Returns how many moved."""
        if not names:
            return 0
        s = self._store
        marks = ", ".join("?" for _ in names)
        moved = 0
        with s._transaction():
            rows = s._x(
                "SELECT console, last_finished_at, last_outcome, next_run_at FROM consoles "
                f"WHERE console IN ({marks}) AND lease_owner IS NULL AND next_run_at IS NOT NULL",
                tuple(names),
            ).fetchall()
            for name, finished, outcome, due in rows:
                finished, due = s.dialect.ts_out(finished), s.dialect.ts_out(due)
                if not finished or outcome == "stopped":
                    continue  # due at once already, or never finished: nothing to move
                wait = every if outcome == "success" else min(every, retry_failed)
                start = datetime.strptime(str(finished), TS_FORMAT).replace(tzinfo=UTC)
                wanted = start + timedelta(seconds=wait)
                current = datetime.strptime(str(due), TS_FORMAT).replace(tzinfo=UTC)
                if abs((wanted - current).total_seconds()) > 1.0:  # release's own rounding
                    wanted_text = wanted.strftime(TS_FORMAT)
                    s._x(
                        "UPDATE consoles SET next_run_at = ? WHERE console = ? "
                        "AND lease_owner IS NULL",
                        (wanted_text, name),
                    )
                    moved += 1
        return moved
