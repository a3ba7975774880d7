"""Numbered schema migrations, applied in order inside one transaction and recorded in
``schema_version``. Migration 1 is design.md's data contract; later ones add, or rewrite
what is there into its current form, so a file written by an older s1uvm is brought forward
on open, and one written by a newer s1uvm is refused rather than misread. Statements name
types as ``{text}``, ``{ts}``, ``{json}`` … and the dialect fills them in. A step that SQL
alone cannot say is a function of the connection and the dialect, run in the same
transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from s1uvm.store._dialect import Connection, Dialect, utcnow
from s1uvm.store._errors import StoreError

Step = str | Callable[[Connection, Dialect], None]

SCHEMA_VERSION = (
    "CREATE TABLE IF NOT EXISTS schema_version (version {int} NOT NULL PRIMARY KEY, "
    "applied_at {ts} NOT NULL)"
)


def _agent_prefix_v1(console: str, agent_id: str) -> str:
    """The 8 leading digits migration 7 gives an agent's finding ids. A copy, not an import of
    ``model.finding_key_prefix``: a migration must rewrite a database the same way forever,
    whatever the live model computes later (a new id form is a new migration)."""
    return hashlib.sha256(f"v1|{console}|{agent_id}".encode()).hexdigest()[:8]


def _dedupe_rejected_records(conn: Connection, dialect: Dialect) -> None:
    """Add ``raw_hash`` (sha256 of the raw text, hex), keep the newest copy of each reject,
    and make the key unique. The hash is spelled here, not imported: a migration must mean
    the same whatever later code does (the write path computes the same one)."""
    columns = conn.execute("SELECT * FROM rejected_records LIMIT 0").description
    if "raw_hash" not in {str(c[0]) for c in columns}:  # rerun over a database that has it
        conn.execute(dialect.ddl("ALTER TABLE rejected_records ADD COLUMN raw_hash {text}"))
    rows = conn.execute(
        "SELECT id, console, connector, raw FROM rejected_records ORDER BY id DESC"
    ).fetchall()
    seen: set[tuple[str, str, str]] = set()
    hashes: list[tuple[str, int]] = []
    older: list[tuple[int]] = []
    for rid, console, connector, raw in rows:
        digest = hashlib.sha256(str(raw or "").encode("utf-8", "surrogatepass")).hexdigest()
        key = (str(console), str(connector), digest)
        if key in seen:
            older.append((int(rid),))
        else:
            seen.add(key)
            hashes.append((digest, int(rid)))
    conn.executemany(dialect.sql("DELETE FROM rejected_records WHERE id = ?"), older)
    conn.executemany(dialect.sql("UPDATE rejected_records SET raw_hash = ? WHERE id = ?"), hashes)
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS rejected_records_once ON rejected_records "
        "(console, connector, raw_hash)"
    )


def _cluster_finding_ids(conn: Connection, dialect: Dialect) -> None:
    """Finding ids of the first form (32 digits of the finding's hash) become the current
    form (``model.finding_key``): the source agent's 8 digits, then the first 24 of the old
    id — exactly what a sync computes for the same finding now. History first, while the
    findings still hold the old ids it is matched by."""
    conn.execute(
        dialect.ddl(
            "CREATE TEMPORARY TABLE finding_id_prefix (console {text} NOT NULL, "
            "agent_id {text} NOT NULL, prefix {text} NOT NULL, PRIMARY KEY (console, agent_id))"
        )
    )
    agents = conn.execute(
        "SELECT DISTINCT console, coalesce(agent_id, '') FROM findings"
    ).fetchall()
    conn.executemany(
        dialect.sql("INSERT INTO finding_id_prefix VALUES (?, ?, ?)"),
        [(console, agent, _agent_prefix_v1(console, agent)) for console, agent in agents],
    )
    prefix_of = (
        "(SELECT p.prefix FROM finding_id_prefix p WHERE p.console = f.console "
        "AND p.agent_id = coalesce(f.agent_id, ''))"
    )
    conn.execute(
        "UPDATE finding_history SET finding_id = (SELECT "
        f"{prefix_of} || substr(f.finding_id, 1, 24) FROM findings f "
        "WHERE f.finding_id = finding_history.finding_id) "
        "WHERE EXISTS (SELECT 1 FROM findings f WHERE f.finding_id = finding_history.finding_id)"
    )
    conn.execute(
        f"UPDATE findings AS f SET finding_id = {prefix_of} || substr(f.finding_id, 1, 24)"
    )
    conn.execute("DROP TABLE finding_id_prefix")


def _add_column(table: str, definition: str) -> Step:
    """``ALTER TABLE … ADD COLUMN`` that is harmless when the column is there already (a
    migration rerun over a database that has it, as tests of older migrations do)."""

    def step(conn: Connection, dialect: Dialect) -> None:
        cur = conn.execute(f"SELECT * FROM {table} LIMIT 0")
        if definition.split()[0] not in {d[0] for d in cur.description}:
            conn.execute(dialect.ddl(f"ALTER TABLE {table} ADD COLUMN {definition}"))

    return step


def _feed_positions(conn: Connection, dialect: Dialect) -> None:
    """Exact change feed (see ``_feed``): a bookmark keeps the snapshot its last export read
    in, and the filters it was moved with; on PostgreSQL each history row keeps the
    transaction that wrote it. Rows already there get transaction 1, which every snapshot
    sees: they reach a bookmark through its ``event_id``, as before. A constant default adds
    the column without rewriting the table; the live default applies from then on. Each step
    checks first, so running the migration again over its own result changes nothing."""
    pg = dialect.name == "postgresql"

    def columns(table: str) -> set[str]:
        if pg:
            sql = (
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s"
            )
            return {str(r[0]) for r in conn.execute(sql, (table,))}
        return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}

    have = columns("export_bookmarks")
    for column in ("snapshot", "filters"):
        if column not in have:
            conn.execute(dialect.ddl(f"ALTER TABLE export_bookmarks ADD COLUMN {column} {{text}}"))
    if not pg:
        return
    if "txid" not in columns("finding_history"):
        conn.execute("ALTER TABLE finding_history ADD COLUMN txid xid8 NOT NULL DEFAULT '1'")
    conn.execute("ALTER TABLE finding_history ALTER COLUMN txid SET DEFAULT pg_current_xact_id()")
    conn.execute("CREATE INDEX IF NOT EXISTS finding_history_txid ON finding_history (txid)")


MIGRATIONS: tuple[tuple[Step, ...], ...] = (
    (
        """CREATE TABLE assets (
            asset_id {text} NOT NULL,
            console {text} NOT NULL,
            agent_id {text} NOT NULL,
            agent_uuid {text}, hostname {text}, domain {text},
            os_type {text}, os_name {text}, os_version {text}, machine_type {text},
            serial_number {text}, ipv4 {json}, ipv6 {json}, mac {json}, external_ip {text},
            account_id {text}, account_name {text}, site_id {text}, site_name {text},
            group_id {text}, group_name {text}, agent_version {text},
            is_active {bool}, is_decommissioned {bool}, is_uninstalled {bool},
            lifecycle {text} NOT NULL,
            last_active_at {ts}, source_updated_at {ts},
            first_seen_at {ts} NOT NULL, last_seen_at {ts} NOT NULL,
            last_run_id {int},
            raw {json},
            PRIMARY KEY (console, agent_id)
        )""",
        "CREATE INDEX assets_asset_id ON assets (asset_id)",
        "CREATE INDEX assets_hostname ON assets (hostname)",
        """CREATE TABLE findings (
            finding_id {text} PRIMARY KEY,
            kind {text} NOT NULL,
            console {text} NOT NULL,
            asset_id {text},
            agent_id {text},
            source_id {text} NOT NULL,
            title {text} NOT NULL,
            severity {text} NOT NULL,
            state {text} NOT NULL,
            first_seen_at {ts}, last_seen_at {ts}, fixed_at {ts}, source_updated_at {ts},
            cve_id {text}, cvss_score {real}, app_name {text}, app_vendor {text},
            app_version {json}, last_scan_at {ts},
            threat_name {text}, classification {text}, confidence {text},
            analyst_verdict {text}, incident_status {text}, mitigation_status {text},
            file_path {text}, sha1 {text}, sha256 {text},
            created_at {ts} NOT NULL, updated_at {ts} NOT NULL, last_run_id {int},
            raw {json}
        )""",
        "CREATE INDEX findings_kind_state ON findings (kind, state, severity)",
        "CREATE INDEX findings_asset ON findings (asset_id)",
        "CREATE INDEX findings_agent ON findings (console, agent_id)",
        "CREATE INDEX findings_cve ON findings (cve_id)",
        """CREATE TABLE finding_history (
            event_id {serial},
            finding_id {text} NOT NULL,
            run_id {int},
            at {ts} NOT NULL,
            event_type {text} NOT NULL,
            old_state {text}, new_state {text},
            changed {json}
        )""",
        "CREATE INDEX finding_history_finding ON finding_history (finding_id)",
        """CREATE TABLE sync_runs (
            run_id {serial},
            console {text} NOT NULL,
            connector {text} NOT NULL,
            mode {text} NOT NULL,
            started_at {ts} NOT NULL,
            finished_at {ts},
            outcome {text} NOT NULL,
            complete_snapshot {bool} NOT NULL DEFAULT FALSE,
            records {int}, created {int}, updated {int}, unchanged {int}, rejected {int},
            counts {json},
            error {text}
        )""",
        "CREATE INDEX sync_runs_connector ON sync_runs (console, connector, run_id)",
        """CREATE TABLE checkpoints (
            console {text} NOT NULL,
            connector {text} NOT NULL,
            scope {text} NOT NULL,
            value {json} NOT NULL,
            run_id {int},
            updated_at {ts} NOT NULL,
            PRIMARY KEY (console, connector, scope)
        )""",
        """CREATE TABLE rejected_records (
            id {serial},
            run_id {int},
            console {text} NOT NULL,
            connector {text} NOT NULL,
            source_id {text},
            reason {text} NOT NULL,
            raw {text},  -- as received: may not even be JSON
            at {ts} NOT NULL
        )""",
    ),
    (
        """CREATE TABLE consoles (
            console {text} PRIMARY KEY,
            url {text} NOT NULL,
            token_expires_at {ts},
            scope {text},
            role {text},
            updated_at {ts} NOT NULL
        )""",
    ),
    (
        "ALTER TABLE assets ADD COLUMN superseded_by {text}",
        "ALTER TABLE findings ADD COLUMN reopen_count {int} NOT NULL DEFAULT 0",
        "CREATE INDEX assets_serial ON assets (console, serial_number)",
    ),
    (
        """CREATE TABLE export_bookmarks (
            name {text} PRIMARY KEY,
            event_id {int} NOT NULL,
            updated_at {ts} NOT NULL
        )""",
    ),
    (
        # Re-image resolution looks assets up by normalised serial and hostname on every page.
        "CREATE INDEX assets_serial_key ON assets (console, lower(trim(serial_number)))",
        "CREATE INDEX assets_hostname_key ON assets (console, lower(hostname))",
    ),
    (
        # Workers share the consoles through these: who holds each one and until when, when
        # it is next due, and how its last run went.
        "ALTER TABLE consoles ADD COLUMN lease_owner {text}",
        "ALTER TABLE consoles ADD COLUMN lease_expires_at {ts}",
        "ALTER TABLE consoles ADD COLUMN heartbeat_at {ts}",
        "ALTER TABLE consoles ADD COLUMN next_run_at {ts}",
        "ALTER TABLE consoles ADD COLUMN last_started_at {ts}",
        "ALTER TABLE consoles ADD COLUMN last_finished_at {ts}",
        "ALTER TABLE consoles ADD COLUMN last_success_at {ts}",
        "ALTER TABLE consoles ADD COLUMN last_outcome {text}",
        "ALTER TABLE consoles ADD COLUMN last_worker {text}",
    ),
    (
        # Finding ids that begin with their agent's digits, so an agent's findings share
        # index pages; ids written before are rewritten to match.
        _cluster_finding_ids,
    ),
    (
        # Every page of findings looks up its endpoints' asset ids: from this index alone,
        # without reading the agents' 4 KB rows, which would otherwise be read under the
        # write lock for every page. IF NOT EXISTS: a migration rerun
        # over a database that has it (as tests of older migrations do) is harmless.
        "CREATE INDEX IF NOT EXISTS assets_agent_asset ON assets (console, agent_id, asset_id)",
    ),
    (
        # A console's identity: its URL (already kept) plus the token's scope and the
        # configured scope filter; a sync whose identity differs from the record is refused.
        _add_column("consoles", "scope_ids {text}"),
        _add_column("consoles", "scope_filter {text}"),
        # Who runs each run (host:pid), so status can tell a live run from a dead one.
        _add_column("sync_runs", "owner {text}"),
        # Pages of findings look up their endpoints' asset ids and, for re-imaged hosts,
        # which agent record supersedes them, from one covering index.
        "DROP INDEX IF EXISTS assets_agent_asset",
        "CREATE INDEX IF NOT EXISTS assets_agent_current ON assets (console, agent_id, asset_id, "
        "superseded_by)",
        # When a run last wrote each finding (this machine's clock): a snapshot closes only
        # what nothing has written since it began.
        _add_column("findings", "seen_at {ts}"),
        # A superseded agent record has that lifecycle (it used to keep its own).
        "UPDATE assets SET lifecycle = 'superseded' WHERE superseded_by IS NOT NULL",
    ),
    (
        # An exact change feed on both backends, whatever order writers commit in.
        _feed_positions,
    ),
    (
        # A rejected record is kept once, however many runs meet it again: keyed by a hash
        # of its raw text, each console and connector apart.
        _dedupe_rejected_records,
    ),
)

LATEST = len(MIGRATIONS)


def run_step(step: Step, conn: Connection, dialect: Dialect) -> None:
    """One step of a migration: a statement in this dialect's types, or a function."""
    if callable(step):
        step(conn, dialect)
    else:
        conn.execute(dialect.ddl(step))


def migrate(conn: Connection, dialect: Dialect, location: str) -> int:
    """Bring the schema to ``LATEST``; return the version found on opening. An up-to-date
    database is only read, so opening it never waits for a running sync's write lock."""
    found = _version(conn, dialect, location)
    if found == LATEST:
        return found
    conn.execute(dialect.begin_write)
    try:
        if dialect.migration_lock:
            conn.execute(dialect.migration_lock)
        conn.execute(dialect.ddl(SCHEMA_VERSION))
        current = _version(conn, dialect, location)  # again, now that we hold the lock
        for version in range(current + 1, LATEST + 1):
            for step in MIGRATIONS[version - 1]:
                run_step(step, conn, dialect)
            conn.execute(
                dialect.sql("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"),
                (version, utcnow()),
            )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return found


def _version(conn: Connection, dialect: Dialect, location: str) -> int:
    tables = {str(r[0]) for r in conn.execute(dialect.list_tables)}
    if "schema_version" not in tables:
        if tables:
            shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
            raise StoreError(
                f"{location} is not an s1uvm database (it holds other tables: {shown}); "
                "move it aside or point --db elsewhere"
            )
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    version = int(row[0] or 0)
    if version > LATEST:
        raise StoreError(
            f"{location} was written by a newer s1uvm (schema version {version}; this "
            f"version knows up to {LATEST}); upgrade s1uvm or point --db elsewhere"
        )
    return version
