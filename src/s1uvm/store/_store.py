"""The store: current state of assets and findings, their history, the run ledger and the
checkpoints. A page of rows and its checkpoint are written in one transaction, so a crash at
any moment leaves either both or neither. Queries stream rows from the cursor; nothing loads a
table at once. SQL is written once, with ``?`` placeholders, and passed through the dialect."""

from __future__ import annotations

import contextlib
import json
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import msgspec

from s1uvm import lifecycle
from s1uvm.lifecycle import AgentRecord, serial_key
from s1uvm.model import (
    AssetRow,
    FindingRow,
    Kind,
    Rejected,
    State,
    asset_key,
    finding_key,
    product_key,
)
from s1uvm.store._dialect import SQLITE, TS_FORMAT, Connection, Dialect, json_text, raw_text, utcnow
from s1uvm.store._errors import LeaseLost
from s1uvm.store._feed import Feed
from s1uvm.store._leases import Leases, default_owner
from s1uvm.store._migrations import migrate
from s1uvm.store._rejects import write_rejected


class PageResult(msgspec.Struct):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    fixed: int = 0
    reopened: int = 0
    stale: int = 0
    archived: int = 0


ASSET_COLUMNS = (
    "asset_id",
    "console",
    "agent_id",
    "agent_uuid",
    "hostname",
    "domain",
    "os_type",
    "os_name",
    "os_version",
    "machine_type",
    "serial_number",
    "ipv4",
    "ipv6",
    "mac",
    "external_ip",
    "account_id",
    "account_name",
    "site_id",
    "site_name",
    "group_id",
    "group_name",
    "agent_version",
    "is_active",
    "is_decommissioned",
    "is_uninstalled",
    "lifecycle",
    "last_active_at",
    "source_updated_at",
    "first_seen_at",
    "last_seen_at",
    "last_run_id",
    "raw",
)
# Columns whose change makes an asset "updated" (heartbeat-only moves do not count).
ASSET_MATERIAL = tuple(
    c
    for c in ASSET_COLUMNS
    if c
    not in (
        "asset_id",
        "console",
        "agent_id",
        "first_seen_at",
        "last_seen_at",
        "last_run_id",
        "raw",
        "last_active_at",
        "source_updated_at",
    )
)
THREAT_COLUMNS = (
    "threat_name",
    "classification",
    "confidence",
    "analyst_verdict",
    "incident_status",
    "mitigation_status",
    "file_path",
    "sha1",
    "sha256",
)
FINDING_COLUMNS = (
    "finding_id",
    "kind",
    "console",
    "asset_id",
    "agent_id",
    "source_id",
    "title",
    "severity",
    "state",
    "first_seen_at",
    "last_seen_at",
    "fixed_at",
    "source_updated_at",
    "cve_id",
    "cvss_score",
    "app_name",
    "app_vendor",
    "app_version",
    "last_scan_at",
    *THREAT_COLUMNS,
    "created_at",
    "updated_at",
    "last_run_id",
    "raw",
)
# What a page writes: the contract's columns plus our bookkeeping ones outside it.
# ``seen_at``: when a run last wrote the finding, by this machine's clock — what tells a
# snapshot whether anything has seen a finding since the snapshot began.
FINDING_WRITE = (*FINDING_COLUMNS, "reopen_count", "seen_at")
# A vulnerability's threat columns are always empty: its rows leave them out of the statement
# instead of binding nine NULLs each: every bound NULL goes through sqlite3's adapter look-up,
# under the write lock, and a large snapshot writes millions of vulnerability rows.
VULNERABILITY_WRITE = tuple(c for c in FINDING_WRITE if c not in THREAT_COLUMNS)
_VULNERABILITY_PICK = operator.itemgetter(*map(FINDING_WRITE.index, VULNERABILITY_WRITE))
# Columns whose change is a real change of the finding, recorded in finding_history.
FINDING_MATERIAL = (
    "severity",
    "state",
    "title",
    "cvss_score",
    "app_version",
    "incident_status",
    "analyst_verdict",
    "mitigation_status",
    "classification",
    "confidence",
    "fixed_at",
)
# Positions in an "existing finding" row: finding_id, *FINDING_MATERIAL, then these.
_STATE = 1 + FINDING_MATERIAL.index("state")
_VERSIONS = 1 + FINDING_MATERIAL.index("app_version")
_FIXED_AT = 1 + FINDING_MATERIAL.index("fixed_at")
_UPDATED = 1 + len(FINDING_MATERIAL)
_LAST_RUN = 2 + len(FINDING_MATERIAL)
_REOPENS = 3 + len(FINDING_MATERIAL)
_SOURCE_UPDATED = 4 + len(FINDING_MATERIAL)
# How values come back from the database (by column name, whatever the table).
JSON_COLUMNS = frozenset(("ipv4", "ipv6", "mac", "app_version", "a_ipv4", "a_mac", "raw"))
BOOL_COLUMNS = frozenset(("is_active", "is_decommissioned", "is_uninstalled", "complete_snapshot"))
_CHUNK = 900  # bound parameters per IN (…) list: under SQLite's historic limit of 999
HISTORY_COLUMNS = ("finding_id", "run_id", "at", "event_type", "old_state", "new_state", "changed")


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Store:
    """One database. Not shared across threads; open one per worker."""

    def __init__(
        self,
        conn: Connection,
        location: str,
        dialect: Dialect = SQLITE,
        *,
        write_lock: AbstractContextManager[Any] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.conn = conn
        # Writers of this process to the same database take turns here (see _sqlite.Writers).
        self._write_lock = write_lock or contextlib.nullcontext()
        self._on_close = on_close
        self.location = location
        self.dialect = dialect
        migrate(conn, dialect, location)
        # finding id → (run, its versions before the run, its state): see _write_findings.
        self._versions_before: dict[str, tuple[int, Any, str]] = {}
        self._checkpoint_upsert = dialect.upsert(
            "checkpoints",
            ("console", "connector", "scope", "value", "run_id", "updated_at"),
            ("console", "connector", "scope"),
        )

    # -- plumbing ------------------------------------------------------------------------------
    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.dialect.sql(sql), params)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: committed whole, or rolled back whole on any error."""
        with self._write_lock:
            self.conn.execute(self.dialect.begin_write)
            try:
                yield
                self.conn.commit()
            except BaseException:
                with contextlib.suppress(Exception):  # the original error is the one to report
                    self.conn.rollback()
                raise

    def close(self) -> None:
        self.conn.close()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _insert_many(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Append rows: COPY on PostgreSQL, one prepared INSERT per row on SQLite."""
        if not rows:
            return
        copy = getattr(self.conn, "copy_rows", None)
        if copy is not None:
            copy(table, columns, rows)
            return
        marks = ", ".join("?" for _ in columns)
        self.conn.executemany(
            self.dialect.sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"), rows
        )

    def _upsert_many(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        rows: list[tuple[Any, ...]],
        *,
        keep: Sequence[str] = (),
        earliest: Sequence[str] = (),
    ) -> None:
        """Insert or update rows by ``key`` (``Dialect.upsert``'s rules). On SQLite, one
        prepared statement per row; on PostgreSQL the page is COPYed into a staging table and
        upserted by one statement — which may touch a row once, so repeated keys collapse to
        their last row (``earliest`` columns keeping their earliest value), as sequential
        upserts would."""
        if not rows:
            return
        stage = getattr(self.conn, "stage", None)
        if stage is None:
            self.conn.executemany(
                self.dialect.upsert(table, columns, key, keep=keep, earliest=earliest), rows
            )
            return
        staging = stage(table)
        self._insert_many(staging, columns, _collapse(rows, columns, key, earliest))
        self.conn.execute(
            self.dialect.upsert(table, columns, key, keep=keep, earliest=earliest, source=staging)
        )
        self.conn.execute(f"DELETE FROM {staging}")

    # -- runs and checkpoints -----------------------------------------------------------------
    def start_run(self, console: str, connector: str, mode: str, owner: str | None = None) -> int:
        """A new ledger row, committed at once, owned by ``owner`` (default: this process,
        host:pid). A row still 'running' for this connector is a run that was killed (the
        caller holds the console's lease, so nothing else runs it): it becomes 'aborted'."""
        now = utcnow()
        insert = (
            "INSERT INTO sync_runs (console, connector, mode, started_at, outcome, owner) "
            "VALUES (?, ?, ?, ?, 'running', ?)"
        )
        with self._transaction():
            self._x(
                "UPDATE sync_runs SET outcome = 'aborted', finished_at = ?, error = "
                "'interrupted (the process stopped before the run finished)' WHERE console = ? "
                "AND connector = ? AND outcome = 'running'",
                (now, console, connector),
            )
            params = (console, connector, mode, now, owner or default_owner())
            if self.dialect.lastrowid:
                run_id = int(self._x(insert, params).lastrowid or 0)
            else:
                run_id = int(self._x(insert + " RETURNING run_id", params).fetchone()[0])
        return run_id

    def abandon_runs(self, owner: str | None = None) -> None:
        """Record the runs of ``owner`` (default: this process) still going as aborted, and
        hand back the consoles it holds: the process is about to end without finishing them."""
        me = owner or default_owner()
        with self._transaction():
            self._x(
                "UPDATE sync_runs SET outcome = 'aborted', finished_at = ?, error = "
                "'stopped at once (interrupted twice)' WHERE owner = ? AND outcome = 'running'",
                (utcnow(), me),
            )
            self._x(
                "UPDATE consoles SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE lease_owner = ?",
                (me,),
            )

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        counts: Mapping[str, int],
        complete_snapshot: bool,
        error: str | None,
    ) -> None:
        """Close the ledger row: the outcome, every count as JSON, the main counts as columns."""
        if any(run == run_id for run, _, _ in self._versions_before.values()):
            with self._transaction():  # a run that ended without closing anything
                self._flush_versions(run_id)
        self._x(
            "UPDATE sync_runs SET finished_at = ?, outcome = ?, complete_snapshot = ?, "
            "records = ?, created = ?, updated = ?, unchanged = ?, rejected = ?, counts = ?, "
            "error = ? WHERE run_id = ?",
            (
                utcnow(),
                outcome,
                bool(complete_snapshot),
                counts.get("records", 0),
                counts.get("created", 0),
                counts.get("updated", 0),
                counts.get("unchanged", 0),
                counts.get("rejected", 0),
                json_text(dict(counts)),
                error,
                run_id,
            ),
        )

    def get_checkpoint(
        self, console: str, connector: str, scope: str = ""
    ) -> dict[str, Any] | None:
        row = self._x(
            "SELECT value FROM checkpoints WHERE console = ? AND connector = ? AND scope = ?",
            (console, connector, scope),
        ).fetchone()
        if row is None:
            return None
        value: dict[str, Any] = self.dialect.json_out(row[0])
        return value

    def record_console(
        self,
        console: str,
        url: str,
        token_expires_at: str | None,
        scope: str | None,
        role: str | None,
        *,
        scope_ids: str | None = None,
        scope_filter: str | None = None,
    ) -> None:
        """What the last sync learnt about the console and its token (never the token): its
        identity (``identity``) and the token's role and expiry."""
        with self._transaction():
            self.conn.execute(
                self.dialect.upsert(
                    "consoles",
                    (
                        "console",
                        "url",
                        "token_expires_at",
                        "scope",
                        "role",
                        "scope_ids",
                        "scope_filter",
                        "updated_at",
                    ),
                    ("console",),
                ),
                (console, url, token_expires_at, scope, role, scope_ids, scope_filter, utcnow()),
            )

    def console_identity(self, console: str) -> dict[str, Any] | None:
        """The console's row as recorded (URL, scope, filter, role …), None if it has none."""
        cur = self._x("SELECT * FROM consoles WHERE console = ?", (console,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

    @property
    def leases(self) -> Leases:
        """How workers share the consoles (see ``_leases``)."""
        return Leases(self)

    def consoles(self) -> list[dict[str, Any]]:
        return list(self._rows("SELECT * FROM consoles ORDER BY console", []))

    # -- the write path ------------------------------------------------------------------------
    def write_page(
        self,
        run_id: int,
        console: str,
        connector: str,
        *,
        assets: Sequence[AssetRow] = (),
        findings: Sequence[FindingRow] = (),
        rejected: Sequence[Rejected] = (),
        checkpoint: dict[str, Any] | None = None,
        scope: str = "",
        fence: str | None = None,
    ) -> PageResult:
        """One page in one transaction: assets, findings and their history, rejected records
        and the checkpoint that follows them — all of it, or (on any error) none of it. With
        ``fence`` (the lease holder the run belongs to), only while that holder still holds
        the console's lease: else ``LeaseLost`` and nothing is written."""
        result = PageResult(rejected=len(rejected))
        now = utcnow()
        with self._transaction():
            if fence is not None:
                self._check_fence(console, fence)
            if assets:
                self._write_assets(run_id, console, assets, now, result)
            if findings:
                self._write_findings(run_id, console, findings, now, result)
            if rejected:
                write_rejected(self.conn, self.dialect, run_id, rejected, now)
            if checkpoint is not None:
                self.conn.execute(
                    self._checkpoint_upsert,
                    (console, connector, scope, json_text(checkpoint), run_id, now),
                )
        return result

    def _check_fence(self, console: str, owner: str) -> None:
        """In a write transaction: the console's lease is still ``owner``'s. On PostgreSQL the
        row is share-locked until commit, so a take-over waits for this page instead of
        slipping in between the check and the commit (SQLite's one writer does the same)."""
        lock = " FOR SHARE" if self.dialect.name == "postgresql" else ""
        row = self._x(
            f"SELECT lease_owner FROM consoles WHERE console = ?{lock}", (console,)
        ).fetchone()
        if row is None or row[0] != owner:
            holder = row[0] if row is not None and row[0] else "nobody"
            raise LeaseLost(
                f"console {console!r} is now held by {holder}: this run stopped without "
                "writing its last page (the run holding the console goes on)"
            )

    def _existing(
        self, sql: str, head: Sequence[Any], keys: Sequence[str]
    ) -> dict[str, tuple[Any, ...]]:
        """Stored rows for ``keys`` (the first column is the key), a few hundred per query."""
        out: dict[str, tuple[Any, ...]] = {}
        plain = self.dialect.native_json or self.dialect.native_timestamps
        for chunk in _chunks(keys):
            marks = ", ".join("?" for _ in chunk)
            for row in self._x(sql.replace("{marks}", marks), (*head, *chunk)):
                out[row[0]] = tuple(map(_plain, row)) if plain else tuple(row)
        return out

    def _write_assets(
        self, run_id: int, console: str, rows: Sequence[AssetRow], now: str, result: PageResult
    ) -> None:
        material = ", ".join(ASSET_MATERIAL)
        existing = self._existing(
            f"SELECT agent_id, asset_id, {material}, source_updated_at, superseded_by, "
            "last_run_id FROM assets WHERE console = ? AND agent_id IN ({marks})",
            (console,),
            list(dict.fromkeys(r.agent_id for r in rows)),
        )
        fresh = list({r.agent_id: r for r in rows if r.agent_id not in existing}.values())
        resolved, pairs = self._resolve(console, fresh) if fresh else ({}, [])
        params = []
        tail = 2 + len(ASSET_MATERIAL)  # source_updated_at, superseded_by, last_run_id
        for r in rows:
            old = existing.get(r.agent_id)
            if old is not None and not lifecycle.replaces(
                old[tail], r.source_updated_at, stored_this_run=old[tail + 2] == run_id
            ):
                result.unchanged += 1
                continue
            superseded_by = old[tail + 1] if old is not None else None
            values = {
                "asset_id": old[1] if old else resolved[r.agent_id],
                "console": console,
                "agent_id": r.agent_id,
                "agent_uuid": r.agent_uuid,
                "hostname": r.hostname,
                "domain": r.domain,
                "os_type": r.os_type,
                "os_name": r.os_name,
                "os_version": r.os_version,
                "machine_type": r.machine_type,
                "serial_number": r.serial_number,
                "ipv4": json_text(r.ipv4),
                "ipv6": json_text(r.ipv6),
                "mac": json_text(r.mac),
                "external_ip": r.external_ip,
                "account_id": r.account_id,
                "account_name": r.account_name,
                "site_id": r.site_id,
                "site_name": r.site_name,
                "group_id": r.group_id,
                "group_name": r.group_name,
                "agent_version": r.agent_version,
                "is_active": r.is_active,
                "is_decommissioned": r.is_decommissioned,
                "is_uninstalled": r.is_uninstalled,
                "lifecycle": "superseded" if superseded_by else r.lifecycle,
                "last_active_at": r.last_active_at,
                "source_updated_at": r.source_updated_at,
                "first_seen_at": now,
                "last_seen_at": now,
                "last_run_id": run_id,
                "raw": raw_text(r.raw),
            }
            if old is None:
                result.created += 1
            elif any(not _same(values[col], old[i + 2]) for i, col in enumerate(ASSET_MATERIAL)):
                result.updated += 1
            else:
                result.unchanged += 1
            # A second record of the same agent later in this page compares with this one.
            existing[r.agent_id] = (
                r.agent_id,
                values["asset_id"],
                *(values[c] for c in ASSET_MATERIAL),
                r.source_updated_at,
                superseded_by,
                run_id,
            )
            params.append(tuple(values[col] for col in ASSET_COLUMNS))
        self._upsert_many(
            "assets",
            ASSET_COLUMNS,
            ("console", "agent_id"),
            params,
            keep=("asset_id", "first_seen_at"),
        )
        # A re-imaged host joined an older asset: findings stored before this agent record
        # arrived carry the default id and follow it. Batched: one round trip, not one per row.
        moved = [
            (asset_id, console, agent_id)
            for agent_id, asset_id in resolved.items()
            if asset_id != asset_key(console, agent_id)
        ]
        d = self.dialect
        if moved:
            self.conn.executemany(
                d.sql("UPDATE findings SET asset_id = ? WHERE console = ? AND agent_id = ?"), moved
            )
        if pairs:
            self.conn.executemany(
                d.sql(
                    "UPDATE assets SET superseded_by = ?, lifecycle = 'superseded' "
                    "WHERE console = ? AND agent_id = ?"
                ),
                [(newer, console, older) for older, newer in pairs],
            )
            # The record that stands for the machine again (rarely one that was superseded
            # before): its own lifecycle back, as far as its stored fields tell; the next
            # full refresh of the agents brings back "inactive" where that applies.
            self.conn.executemany(
                d.sql(
                    "UPDATE assets SET superseded_by = NULL, lifecycle = CASE WHEN lifecycle "
                    "<> 'superseded' THEN lifecycle WHEN is_decommissioned OR is_uninstalled "
                    "THEN 'retired' ELSE 'active' END WHERE console = ? AND agent_id = ?"
                ),
                [(console, newer) for _, newer in pairs],
            )

    def _resolve(
        self, console: str, rows: Sequence[AssetRow]
    ) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Asset ids for agents we have not seen: a re-imaged host (new agent id, same serial
        number, or same hostname and a shared MAC) joins its existing asset (model.md §6.2),
        and the older agent record is marked superseded by the newer one."""
        serials = sorted({k for r in rows if (k := serial_key(r.serial_number))})
        hosts = sorted({r.hostname.lower() for r in rows if r.hostname})
        known: list[AgentRecord] = []
        by_serial: dict[str, list[int]] = {}  # positions in known, so a page is not O(n²)
        by_host: dict[str, list[int]] = {}

        def remember(k: AgentRecord) -> None:
            if k.serial:
                by_serial.setdefault(k.serial, []).append(len(known))
            if k.host:
                by_host.setdefault(k.host, []).append(len(known))
            known.append(k)

        for column, values in (("lower(trim(serial_number))", serials), ("lower(hostname)", hosts)):
            for chunk in _chunks(values):
                marks = ", ".join("?" for _ in chunk)
                for agent_id, asset_id, serial, host, mac, life, active in self._x(
                    "SELECT agent_id, asset_id, serial_number, hostname, mac, lifecycle, "
                    f"last_active_at FROM assets WHERE console = ? AND {column} IN ({marks})",
                    (console, *chunk),
                ):
                    remember(
                        AgentRecord(
                            agent_id,
                            asset_id,
                            serial_key(serial),
                            (host or "").lower(),
                            set(self.dialect.json_out(mac) or ()),
                            life == "retired",
                            self.dialect.ts_out(active) or "",
                        )
                    )
        out: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        for r in rows:
            me = AgentRecord(
                r.agent_id,
                "",
                serial_key(r.serial_number),
                (r.hostname or "").lower(),
                set(r.mac),
                r.lifecycle == "retired",
                r.last_active_at or "",
            )
            near = {
                *(by_serial.get(me.serial, ()) if me.serial else ()),
                *(by_host.get(me.host, ()) if me.host else ()),
            }
            match = next(
                (k for k in (known[i] for i in sorted(near)) if lifecycle.same_machine(me, k)),
                None,
            )  # the first known record wins
            me.asset_id = match.asset_id if match else asset_key(console, r.agent_id)
            out[r.agent_id] = me.asset_id
            if match is not None:
                group = [k for k in known if k.asset_id == me.asset_id] + [me]
                current = lifecycle.current_record(group)
                pairs.extend((k.agent_id, current.agent_id) for k in group if k is not current)
            remember(me)
        return out, pairs

    def _write_findings(
        self, run_id: int, console: str, rows: Sequence[FindingRow], now: str, result: PageResult
    ) -> None:
        """One SELECT of the stored rows for the page's ids and one of their endpoints' asset
        ids; the history diff is computed here; then one bulk upsert and one bulk insert."""
        material = ", ".join(FINDING_MATERIAL)
        existing = self._existing(
            f"SELECT finding_id, {material}, updated_at, last_run_id, reopen_count, "
            "source_updated_at FROM findings WHERE finding_id IN ({marks})",
            (),
            list(dict.fromkeys(r.finding_id for r in rows)),
        )
        agents = sorted({r.agent_id for r in rows if r.agent_id})
        endpoints = self._existing(
            "SELECT agent_id, asset_id, superseded_by FROM assets"
            f"{self.dialect.indexed_by('assets_agent_current')} WHERE console = ? AND agent_id "
            "IN ({marks})",
            (console,),
            agents,
        )
        asset_ids = {k: v[1] for k, v in endpoints.items()}
        current = {k: v[2] for k, v in endpoints.items() if v[2]}
        for superseded, survivor in current.items():
            asset_ids.setdefault(survivor, asset_ids[superseded])  # one machine, one asset
        if current:
            # A re-imaged host is one machine: a vulnerability reported by its superseded agent
            # record is the current record's finding (one per asset + CVE + product).
            rows = [_rekeyed(r, current.get(r.agent_id or "")) for r in rows]
            existing.update(
                self._existing(
                    f"SELECT finding_id, {material}, updated_at, last_run_id, reopen_count, "
                    "source_updated_at FROM findings WHERE finding_id IN ({marks})",
                    (),
                    [r.finding_id for r in rows if r.finding_id not in existing],
                )
            )
        params: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        version_texts: dict[tuple[str, ...], str] = {}  # most pages repeat a few version lists
        for r in rows:
            old = existing.get(r.finding_id)
            if old is not None and not lifecycle.replaces(
                old[_SOURCE_UPDATED], r.source_updated_at, stored_this_run=old[_LAST_RUN] == run_id
            ):
                result.unchanged += 1
                continue
            old_state = old[_STATE] if old else None
            state = lifecycle.state_on_sight(r.kind, r.state, old_state)
            versions = r.app_version
            if old is not None and old[_LAST_RUN] == run_id and r.kind == "vulnerability":
                # Several risk records of one finding in one snapshot: keep every version.
                versions = [*_decode_list(old[_VERSIONS]), *versions]
            key = tuple(sorted(set(versions)))
            app_version = version_texts.get(key)
            if app_version is None:
                app_version = version_texts[key] = json_text(list(key))
            reopens = (old[_REOPENS] or 0) if old is not None else 0
            if state == State.REOPENED and old_state != State.REOPENED:
                reopens += 1
            fixed_at: str | None = None
            if state in (State.FIXED, State.SUPPRESSED):
                # The source's time; else when it was first stored closed — not "now" again at
                # every re-read, which would be a change each time.
                fixed_at = (
                    r.fixed_at
                    or (old[_FIXED_AT] if old is not None and old_state == state else None)
                    or now
                )
            agent = r.agent_id
            asset_id = None
            if agent:
                asset_id = asset_ids.get(agent)
                if asset_id is None:  # its asset has not arrived: the id it will get
                    asset_id = asset_ids[agent] = asset_key(console, agent)
            diff = (
                r.severity,
                state,
                r.title,
                r.cvss_score,
                app_version,
                r.incident_status,
                r.analyst_verdict,
                r.mitigation_status,
                r.classification,
                r.confidence,
                fixed_at,
            )  # in FINDING_MATERIAL's order
            updated_at = now
            if old is None:
                result.created += 1
                history.append((r.finding_id, run_id, now, "created", None, state, None))
            else:
                changed = (
                    {}
                    if diff == old[1:_UPDATED]  # the common case, decided at once
                    else {
                        col: _shown(col, old[i + 1], new)
                        for i, (col, new) in enumerate(zip(FINDING_MATERIAL, diff, strict=True))
                        if new != old[i + 1] and not _same(new, old[i + 1])
                    }
                )
                if changed.keys() <= {"app_version"} and old[_LAST_RUN] == run_id:
                    # Another record of a finding this snapshot already wrote (the product in
                    # a second version): one moment's truth, not a change of the finding.
                    result.unchanged += 1
                elif changed.keys() == {"app_version"} and r.kind == Kind.VULNERABILITY:
                    # The first record of the finding in this snapshot: later ones may bring
                    # the other versions back (a product installed twice, a re-imaged
                    # machine's two agent records). Whether its versions changed is told once
                    # the run has read them all (``_flush_versions``).
                    self._versions_before.setdefault(r.finding_id, (run_id, old[_VERSIONS], state))
                    result.unchanged += 1
                elif changed:
                    result.updated += 1
                    event = lifecycle.event(old_state, state)
                    if event == "fixed":
                        result.fixed += 1
                    elif event == "reopened":
                        result.reopened += 1
                    history.append(
                        (r.finding_id, run_id, now, event, old_state, state, json_text(changed))
                    )
                else:
                    result.unchanged += 1
                    updated_at = old[_UPDATED]  # nothing changed
            # A second record of the same finding later in this page compares with this one.
            existing[r.finding_id] = (
                r.finding_id,
                *diff,
                updated_at,
                run_id,
                reopens,
                r.source_updated_at,
            )
            params.append(
                (
                    r.finding_id,
                    r.kind,
                    console,
                    asset_id,
                    agent,
                    r.source_id,
                    r.title,
                    r.severity,
                    state,
                    r.first_seen_at or now,
                    r.last_seen_at or now,
                    fixed_at,
                    r.source_updated_at,
                    r.cve_id,
                    r.cvss_score,
                    r.app_name,
                    r.app_vendor,
                    app_version,
                    r.last_scan_at,
                    r.threat_name,
                    r.classification,
                    r.confidence,
                    r.analyst_verdict,
                    r.incident_status,
                    r.mitigation_status,
                    r.file_path,
                    r.sha1,
                    r.sha256,
                    now,  # created_at: kept by the upsert for a stored finding
                    updated_at,
                    run_id,
                    raw_text(r.raw),
                    reopens,
                    now,
                )  # in FINDING_WRITE's order
            )
        vulnerabilities = [_VULNERABILITY_PICK(p) for p in params if p[1] == Kind.VULNERABILITY]
        threats = [p for p in params if p[1] != Kind.VULNERABILITY]
        for columns, batch in ((VULNERABILITY_WRITE, vulnerabilities), (FINDING_WRITE, threats)):
            self._upsert_many(
                "findings",
                columns,
                ("finding_id",),
                batch,
                keep=("created_at",),
                earliest=("first_seen_at",),
            )
        self._insert_many("finding_history", HISTORY_COLUMNS, history)

    def close_missing(
        self,
        run_id: int,
        console: str,
        scope: Mapping[str, str] | None = None,
        fence: str | None = None,
    ) -> PageResult:
        """After a complete vulnerability snapshot: each open, reopened or stale finding of
        this console that the snapshot did not contain takes the state ``lifecycle.on_absence``
        gives it. Only ever called for a complete snapshot: a failed or partial run closes
        nothing. With a ``scope`` filter (``siteIds`` / ``accountIds``) the snapshot covered
        only those endpoints, so only their findings are considered.

        Whatever else runs at the same time (a second sync, a worker whose lease expired, a
        process that bypassed the lease), a finding is closed only if no run has written it
        since this one started (``seen_at``), checked again when the update is made."""
        now = utcnow()
        result = PageResult()
        archive_before = datetime.fromtimestamp(
            datetime.now(UTC).timestamp() - lifecycle.STALE_TO_ARCHIVED_DAYS * 86400, UTC
        ).strftime(TS_FORMAT)
        updates: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        ts = self.dialect.ts_out
        covered, covered_ids = "", []
        for key, column in (("siteIds", "a.site_id"), ("accountIds", "a.account_id")):
            ids = [i for i in str((scope or {}).get(key, "")).split(",") if i]
            if ids:
                covered += f" AND {column} IN ({', '.join('?' for _ in ids)})"
                covered_ids += ids
        with self._transaction():
            if fence is not None:
                self._check_fence(console, fence)
            # Pages of findings and of agents are written side by side: a page of findings
            # may have looked up an agent's asset id just before a re-image joined that agent
            # to another asset (on PostgreSQL, neither sees the other's uncommitted rows).
            # What this run wrote follows its agents' asset ids now.
            self._x(
                "UPDATE findings SET asset_id = (SELECT a.asset_id FROM assets a WHERE "
                "a.console = findings.console AND a.agent_id = findings.agent_id) "
                "WHERE console = ? AND last_run_id = ? AND EXISTS (SELECT 1 FROM assets a "
                "WHERE a.console = findings.console AND a.agent_id = findings.agent_id "
                "AND a.asset_id <> findings.asset_id)",
                (console, run_id),
            )
            self._flush_versions(run_id)
            started = self._x(
                "SELECT started_at FROM sync_runs WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            rows = self._x(
                "SELECT f.finding_id, f.state, f.last_scan_at, f.last_seen_at, a.agent_id, "
                "a.lifecycle, a.last_active_at, ev.scan, a.superseded_by, "
                "f.cve_id, f.app_vendor, f.app_name FROM findings f "
                "LEFT JOIN assets a ON a.console = f.console AND a.agent_id = f.agent_id "
                "LEFT JOIN (SELECT console, agent_id, max(last_scan_at) AS scan FROM findings "
                "  WHERE kind = 'vulnerability' AND last_run_id = ? GROUP BY console, agent_id) ev "
                "  ON ev.console = f.console AND ev.agent_id = f.agent_id "
                "WHERE f.kind = 'vulnerability' AND f.console = ? AND f.last_run_id <> ? "
                "AND (f.seen_at IS NULL OR f.seen_at < ?) "
                "AND f.state IN ('open', 'reopened', 'stale')" + covered,
                (run_id, console, run_id, started, *covered_ids),
            )
            for (
                fid,
                state,
                scanned_at,
                seen_at,
                agent,
                endpoint_lifecycle,
                active_at,
                rescan_at,
                superseded_by,
                cve,
                vendor,
                app,
            ) in rows:
                absence = lifecycle.Absence(
                    state=state,
                    endpoint_known=agent is not None,
                    endpoint_lifecycle=endpoint_lifecycle,
                    scanned_at=ts(scanned_at),
                    seen_at=ts(seen_at),
                    endpoint_active_at=ts(active_at),
                    rescan_at=ts(rescan_at),
                )
                decided = lifecycle.on_absence(absence, now, archive_before)
                if decided is None:
                    continue
                new, fixed_at = decided
                setattr(result, new, getattr(result, new) + 1)
                updates.append((new, fixed_at, now, fid, state, started))
                changed: dict[str, Any] = {"state": [state, new]}
                if superseded_by and cve:
                    changed["reason"] = lifecycle.SUPERSEDED
                    changed["folded_into"] = finding_key(
                        console,
                        superseded_by,
                        Kind.VULNERABILITY,
                        f"{cve}|{product_key(vendor, app)}",
                    )
                history.append((fid, run_id, now, new, state, new, json_text(changed)))
            self.conn.executemany(
                self.dialect.sql(
                    "UPDATE findings SET state = ?, fixed_at = ?, updated_at = ? "
                    "WHERE finding_id = ? AND state = ? AND (seen_at IS NULL OR seen_at < ?)"
                ),
                updates,
            )
            self._insert_many("finding_history", HISTORY_COLUMNS, history)
            result.archived += self._fold_superseded(run_id, console, now)
        return result

    def _flush_versions(self, run_id: int) -> None:
        """One history row for each finding whose versions the run changed, now that the run
        has read all of its records (in the caller's transaction)."""
        pending = {
            fid: (old, state)
            for fid, (run, old, state) in self._versions_before.items()
            if run == run_id
        }
        if not pending:
            return
        now_versions = self._existing(
            "SELECT finding_id, app_version FROM findings WHERE finding_id IN ({marks})",
            (),
            sorted(pending),
        )
        now = utcnow()
        rows = []
        for fid, (old, state) in pending.items():
            new = now_versions.get(fid, (fid, old))[1]
            if not _same(new, old):
                changed = {"app_version": _shown("app_version", old, new)}
                rows.append((fid, run_id, now, "updated", state, state, json_text(changed)))
        self._insert_many("finding_history", HISTORY_COLUMNS, rows)
        for fid in pending:
            del self._versions_before[fid]

    def _fold_superseded(self, run_id: int, console: str, now: str) -> int:
        """Findings this run saw on an agent record that, meanwhile, turned out to be
        superseded by a re-image (the agents were synced alongside) are archived into the
        current record's finding — one finding per machine + CVE + product, as the next run
        would key them anyway, so a repeat run with nothing changed changes nothing. Where the
        current record has no such finding yet it is made, a copy under the current record;
        where it has one that is closed, nothing is folded now (the next snapshot says which
        is true). Returns how many were folded."""
        rows = self._x(
            "SELECT f.finding_id, f.state, f.cve_id, f.app_vendor, f.app_name, f.first_seen_at, "
            "a.superseded_by FROM findings f JOIN assets a ON a.console = f.console "
            "AND a.agent_id = f.agent_id WHERE f.console = ? AND f.kind = 'vulnerability' "
            "AND f.last_run_id = ? AND f.state IN ('open', 'reopened') "
            "AND a.superseded_by IS NOT NULL",
            (console, run_id),
        ).fetchall()
        survivors = {
            fid: finding_key(console, newer, Kind.VULNERABILITY, f"{cve}|{product_key(v, app)}")
            for fid, _, cve, v, app, _, newer in rows
            if cve
        }
        known = self._existing(
            "SELECT finding_id, state FROM findings WHERE finding_id IN ({marks})",
            (),
            sorted(set(survivors.values())),
        )
        missing = {fid: survivors[fid] for fid, *_ in rows if survivors.get(fid, "") not in known}
        copy = [c for c in FINDING_WRITE if c not in ("finding_id", "agent_id", "created_at")]
        made: set[str] = set()
        for (fid, state, _, _, _, _, newer), survivor in (
            (r, missing[r[0]]) for r in rows if r[0] in missing
        ):
            if survivor in made:  # two records of the product on the superseded agent
                continue
            made.add(survivor)
            self._x(
                f"INSERT INTO findings (finding_id, agent_id, created_at, {', '.join(copy)}) "
                f"SELECT ?, ?, ?, {', '.join(copy)} FROM findings WHERE finding_id = ?",
                (survivor, newer, now, fid),
            )
            self._insert_many(
                "finding_history",
                HISTORY_COLUMNS,
                [
                    (
                        survivor,
                        run_id,
                        now,
                        "created",
                        None,
                        state,
                        json_text({"folded_from": fid}),
                    )
                ],
            )
        open_now = {k for k, v in known.items() if v[1] in ("open", "reopened")} | set(
            missing.values()
        )
        folded = [r for r in rows if survivors.get(r[0]) in open_now]
        self.conn.executemany(
            self.dialect.sql(
                "UPDATE findings SET state = 'archived', updated_at = ? WHERE finding_id = ?"
            ),
            [(now, r[0]) for r in folded],
        )
        self.conn.executemany(
            self.dialect.sql(
                "UPDATE findings SET first_seen_at = ? WHERE finding_id = ? AND first_seen_at > ?"
            ),
            [(r[5], survivors[r[0]], r[5]) for r in folded if r[5] is not None],
        )
        self._insert_many(
            "finding_history",
            HISTORY_COLUMNS,
            [
                (
                    fid,
                    run_id,
                    now,
                    "archived",
                    state,
                    "archived",
                    json_text(
                        {
                            "state": [state, "archived"],
                            "reason": lifecycle.SUPERSEDED,
                            "folded_into": survivors[fid],
                        }
                    ),
                )
                for fid, state, *_ in folded
            ],
        )
        return len(folded)

    def archive_out_of_scope(self, console: str, sites: Sequence[str]) -> int:
        """After the console's scope was changed on purpose (``sync --rescope``): every open
        finding of an endpoint outside ``sites`` is archived with the reason ``out of scope``
        (never fixed: nothing says it was remediated), and the console's checkpoints are
        dropped so the next runs read the new scope whole. Returns how many were archived."""
        now = utcnow()
        inside = set(sites)
        with self._transaction():
            rows = self._x(
                "SELECT f.finding_id, f.state, a.site_id FROM findings f LEFT JOIN assets a "
                "ON a.console = f.console AND a.agent_id = f.agent_id WHERE f.console = ? "
                "AND f.state IN ('open', 'reopened', 'stale')",
                (console,),
            ).fetchall()
            gone = [(fid, st) for fid, st, site in rows if site is not None and site not in inside]
            self.conn.executemany(
                self.dialect.sql(
                    "UPDATE findings SET state = 'archived', updated_at = ? WHERE finding_id = ?"
                ),
                [(now, fid) for fid, _ in gone],
            )
            reason = {"reason": lifecycle.OUT_OF_SCOPE}
            self._insert_many(
                "finding_history",
                HISTORY_COLUMNS,
                [
                    (
                        fid,
                        None,
                        now,
                        "archived",
                        state,
                        "archived",
                        json_text({"state": [state, "archived"], **reason}),
                    )
                    for fid, state in gone
                ],
            )
            self._x("DELETE FROM checkpoints WHERE console = ?", (console,))
        return len(gone)

    # -- reading -------------------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[dict[str, Any]]:
        """Rows as dicts, straight from the cursor (never fetchall): JSON columns decoded,
        booleans as bool, timestamps as text."""
        stream = getattr(self.conn, "stream", None)  # PostgreSQL: a server-side cursor
        rows: Iterator[Any]
        if stream is not None:
            rows = stream(self.dialect.sql(sql), params)
            names: list[str] = next(rows)
        else:
            cur = self._x(sql, params)
            names, rows = [d[0] for d in cur.description], cur
        d = self.dialect
        convert: list[tuple[str, Callable[[Any], Any]]] = [
            (n, d.json_out) for n in names if n in JSON_COLUMNS
        ] + [(n, d.bool_out) for n in names if n in BOOL_COLUMNS]
        if d.native_timestamps:
            convert += [(n, d.ts_out) for n in names if n == "at" or n.endswith("_at")]
        for row in rows:
            out = dict(zip(names, row, strict=True))
            for name, fn in convert:
                out[name] = fn(out[name])
            yield out

    def runs(
        self, console: str | None = None, connector: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Ledger rows, newest first, counts decoded."""
        where, params = _where([("console = ?", console), ("connector = ?", connector)])
        out = list(
            self._rows(
                f"SELECT * FROM sync_runs{where} ORDER BY run_id DESC LIMIT ?", [*params, limit]
            )
        )
        for run in out:
            run["counts"] = self.dialect.json_out(run["counts"]) or {}
        return out

    def last_runs(self) -> list[dict[str, Any]]:
        """The newest run of each (console, connector), with its checkpoint: what status shows."""
        out = list(
            self._rows(
                "SELECT r.* FROM sync_runs r JOIN (SELECT console, connector, "
                "max(run_id) AS run_id FROM sync_runs GROUP BY console, connector) last "
                "ON last.run_id = r.run_id "
                "ORDER BY r.console, r.connector",
                [],
            )
        )
        for run in out:
            run["counts"] = self.dialect.json_out(run["counts"]) or {}
            run["checkpoint"] = self.get_checkpoint(run["console"], run["connector"])
        return out

    def query_assets(
        self,
        *,
        console: str | None = None,
        host: str | None = None,
        lifecycle: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Assets by hostname; ``host`` is a case-insensitive substring, ``lifecycle`` a
        comma list. Streams."""
        where, params = _where(
            [
                ("console = ?", console),
                *_contains("hostname", host),
                *_any("lifecycle", lifecycle),
            ]
        )
        tail = " LIMIT ?" if limit is not None else ""
        return self._rows(
            f"SELECT * FROM assets{where} ORDER BY hostname, agent_id{tail}",
            [*params, *([limit] if limit is not None else [])],
        )

    def query_findings(
        self,
        *,
        kind: str | None = None,
        state: str | None = None,
        severity: str | None = None,
        host: str | None = None,
        cve: str | None = None,
        console: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Findings with their endpoint's hostname. ``kind``, ``state`` and ``severity`` are
        comma lists; ``host`` a case-insensitive substring of the hostname; ``cve`` exact,
        any case. Streams."""
        where, params = _where(
            [
                *_any("f.kind", kind),
                *_any("f.state", state),
                *_any("f.severity", severity),
                *_contains("a.hostname", host),
                # Stored upper-case (as SentinelOne sends it, and the connector makes sure), so the
                # comparison can use findings_cve instead of reading every finding.
                ("f.cve_id = ?", cve.strip().upper() if cve else None),
                ("f.console = ?", console),
            ]
        )
        tail = " LIMIT ?" if limit is not None else ""
        return self._rows(
            "SELECT f.*, a.hostname FROM findings f LEFT JOIN assets a ON a.console = f.console "
            f"AND a.agent_id = f.agent_id{where} ORDER BY f.kind, f.first_seen_at, f.finding_id"
            f"{tail}",
            [*params, *([limit] if limit is not None else [])],
        )

    @property
    def feed(self) -> Feed:
        """The change feed of ``export --mode changes`` and its bookmarks (see ``_feed``)."""
        return Feed(self)

    def findings_with_assets(
        self,
        *,
        kind: str | None = None,
        state: str | None = None,
        severity: str | None = None,
        since: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every current finding with its endpoint's fields: ``export --mode state``."""
        where, params = _where(
            [
                *_any("f.kind", kind),
                *_any("f.state", state),
                *_any("f.severity", severity),
                ("f.last_seen_at >= ?", since),
            ]
        )
        return self._rows(
            "SELECT f.*, (SELECT count(*) FROM finding_history h WHERE h.finding_id = "
            "f.finding_id) AS history_rows, a.hostname, a.agent_uuid, a.domain, a.os_type, "
            "a.os_name, a.os_version, a.machine_type, a.ipv4 AS a_ipv4, a.mac AS a_mac, "
            "a.account_id, a.account_name, a.site_id, a.site_name, a.agent_version "
            "FROM findings f LEFT JOIN assets a ON a.console = f.console AND "
            f"a.agent_id = f.agent_id{where} ORDER BY f.finding_id",
            params,
        )

    def history(self, finding_id: str) -> list[dict[str, Any]]:
        """A finding's history, oldest first, ``changed`` decoded."""
        rows = list(
            self._rows(
                "SELECT * FROM finding_history WHERE finding_id = ? ORDER BY event_id", [finding_id]
            )
        )
        for row in rows:
            row["changed"] = self.dialect.json_out(row["changed"])
            row.pop("txid", None)  # the change feed's bookkeeping (PostgreSQL), not history
        return rows

    def counts(self) -> dict[str, Any]:
        """What is stored: assets by lifecycle, findings of each kind by state, totals, runs."""

        def one(sql: str) -> int:
            return int(self._x(sql).fetchone()[0])

        def grouped(sql: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in self._x(sql)}

        assets = grouped("SELECT lifecycle, count(*) FROM assets GROUP BY lifecycle ORDER BY 1")
        vulnerabilities = grouped(
            "SELECT state, count(*) FROM findings WHERE kind = 'vulnerability' GROUP BY state "
            "ORDER BY 1"
        )
        threats = grouped(
            "SELECT state, count(*) FROM findings WHERE kind = 'threat' GROUP BY state ORDER BY 1"
        )
        return {
            "assets": assets,
            "vulnerabilities": vulnerabilities,
            "threats": threats,
            "assets_total": sum(assets.values()),
            "findings_total": sum(vulnerabilities.values()) + sum(threats.values()),
            "runs": one("SELECT count(*) FROM sync_runs"),
            "rejected_records": one("SELECT count(*) FROM rejected_records"),
        }


def _rekeyed(row: FindingRow, agent_id: str | None) -> FindingRow:
    """A vulnerability of a superseded agent record, as the finding of the record that
    superseded it (``agent_id``); anything else as it is."""
    if agent_id is None or row.kind != Kind.VULNERABILITY or row.cve_id is None:
        return row
    natural = f"{row.cve_id}|{product_key(row.app_vendor, row.app_name)}"
    return msgspec.structs.replace(
        row,
        finding_id=finding_key(row.console, agent_id, Kind.VULNERABILITY, natural),
        agent_id=agent_id,
    )


def _same(new: Any, old: Any) -> bool:
    if isinstance(new, bool) or isinstance(old, bool):
        return (None if new is None else bool(new)) == (None if old is None else bool(old))
    if isinstance(new, float) or isinstance(old, float):
        return new == old or (new is not None and old is not None and abs(new - old) < 1e-9)
    return bool(new == old)


def _collapse(
    rows: list[tuple[Any, ...]], columns: Sequence[str], key: Sequence[str], earliest: Sequence[str]
) -> list[tuple[Any, ...]]:
    """One row per key, the last one; ``earliest`` columns take the earliest non-null value
    any of that key's rows had."""
    at = [columns.index(k) for k in key]
    early = [columns.index(c) for c in earliest]
    out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        k = tuple(row[i] for i in at)
        before = out.get(k)
        if before is not None and early:
            merged = list(row)
            for i in early:
                values = [v for v in (before[i], row[i]) if v is not None]
                merged[i] = min(values) if values else None
            row = tuple(merged)
        out[k] = row
    return list(out.values())


def _plain(value: Any) -> Any:
    """A stored value in the form this module writes (for drivers that decode JSON and
    timestamps themselves), so comparisons with a new row's values are like for like."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(TS_FORMAT)
    if isinstance(value, list | dict):
        return json_text(value)
    return value


def _decode_list(text: Any) -> list[Any]:
    value = json.loads(text) if isinstance(text, str) else text
    return list(value) if isinstance(value, list) else []


def _shown(column: str, old: Any, new: Any) -> list[Any]:
    """One entry of a history row's ``changed``: [old, new], lists as lists."""
    if column == "app_version":
        return [_decode_list(old), _decode_list(new)]
    return [old, new]


def _contains(column: str, text: str | None) -> list[tuple[str, Any]]:
    """A case-insensitive substring match; ``%`` and ``_`` in the text match themselves."""
    if not text:
        return []
    pattern = text.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return [(f"lower({column}) LIKE ? ESCAPE '!'", f"%{pattern}%")]


def _any(column: str, values: str | None) -> list[tuple[str, Any]]:
    if not values:
        return []
    items = [v.strip().lower() for v in values.split(",") if v.strip()]
    marks = ", ".join("?" for _ in items)
    return [(f"{column} IN ({marks})", items)]


def _where(conditions: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in conditions:
        if value is None:
            continue
        clauses.append(clause)
        params.extend(value if isinstance(value, list) else [value])
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
