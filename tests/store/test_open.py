"""Opening a database: created private, migrated once, and every problem refused up front
with one line that says what to fix — leaving the file as it was."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from s1uvm.model import finding_key
from s1uvm.store import StoreError, open_store
from s1uvm.store import _sqlite as sqlite_module
from s1uvm.store._dialect import SQLITE
from s1uvm.store._migrations import (
    LATEST,
    MIGRATIONS,
    SCHEMA_VERSION,
    _agent_prefix_v1,
    _cluster_finding_ids,
    run_step,
)
from tests.store.plans import plan_of
from tests.store.rows import asset, threat, vuln

CONTRACT_TABLES = {
    "assets",
    "findings",
    "finding_history",
    "sync_runs",
    "checkpoints",
    "rejected_records",
    "schema_version",
}


def versions(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def one_line_error(target: Path | str) -> str:
    with pytest.raises(StoreError) as info:
        open_store(target)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


def build_old(db: Path, upto: int) -> None:
    """A database as an older s1uvm (schema ``upto``) left it, with one asset in it."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(SQLITE.ddl(SCHEMA_VERSION))
        for version in range(1, upto + 1):
            for step in MIGRATIONS[version - 1]:
                run_step(step, conn, SQLITE)
            conn.execute("INSERT INTO schema_version VALUES (?, 'then')", (version,))
        conn.execute(
            "INSERT INTO assets (asset_id, console, agent_id, lifecycle, first_seen_at, "
            "last_seen_at) VALUES ('a1', 'c1', '0000000000004733528', 'active', 't', 't')"
        )
    conn.close()


def test_a_new_database_and_its_folder_are_private(db: Path) -> None:
    store = open_store(db)
    try:
        run = store.start_run("c1", "assets", "full")
        store.write_page(run, "c1", "assets", assets=[asset("1" * 18)])
        wal = Path(f"{db}-wal")
        assert wal.exists()
        for path in (db, wal, Path(f"{db}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
        assert store.location == str(db)
    finally:
        store.close()


def test_the_connection_is_set_up_for_one_writer_and_many_readers(db: Path) -> None:
    store = open_store(db)
    try:
        pragma = {
            name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in (
                "journal_mode",
                "foreign_keys",
                "synchronous",
                "busy_timeout",
                "wal_autocheckpoint",
            )
        }
    finally:
        store.close()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,  # NORMAL
        "busy_timeout": sqlite_module.BUSY_TIMEOUT_MS,
        "wal_autocheckpoint": sqlite_module.WAL_CHECKPOINT_PAGES,
    }


def test_writers_in_one_process_take_turns_without_the_busy_handler(db: Path) -> None:
    """Connectors side by side each have a connection; the second writer waits for the
    first's commit on the process's lock — so even with no busy timeout at all it is never
    told the database is locked."""
    first, second = open_store(db), open_store(db)
    second.conn.execute("PRAGMA busy_timeout = 0")  # SQLite itself would refuse at once
    outcome: list[BaseException | int] = []

    def write_second() -> None:
        try:
            run = second.start_run("c1", "assets", "full")
            outcome.append(second.write_page(run, "c1", "assets", assets=[asset("2" * 18)]).created)
        except BaseException as exc:
            outcome.append(exc)

    try:
        with first._transaction():  # hold the database's write lock
            first._x(
                "INSERT INTO export_bookmarks (name, event_id, updated_at) "
                "VALUES ('held', 0, 'now')"
            )
            waiting = threading.Thread(target=write_second)
            waiting.start()
            waiting.join(0.3)
            assert waiting.is_alive() and not outcome  # its turn has not come
        waiting.join(10)
        assert outcome == [1]
    finally:
        first.close()
        second.close()


def _queue_up(
    lock: sqlite_module.TurnLock, body: Callable[[], object], name: str | None = None
) -> threading.Thread:
    """A thread that waits its turn at ``lock`` (returned once it holds a ticket)."""
    issued = lock._issued

    def run() -> None:
        with contextlib.suppress(KeyboardInterrupt), lock:
            body()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    while lock._issued == issued:
        time.sleep(0.001)
    return thread


def test_writers_take_their_turns_in_arrival_order() -> None:
    lock = sqlite_module.TurnLock()
    order: list[int] = []
    with lock:
        threads = [_queue_up(lock, functools.partial(order.append, i)) for i in range(5)]
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_a_writer_that_stops_waiting_gives_its_turn_up() -> None:
    lock = sqlite_module.TurnLock()
    order: list[str] = []

    class Turns(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            # Named before it starts, so its very first wait is the one interrupted.
            if threading.current_thread().name == "quitter":
                raise KeyboardInterrupt  # e.g. interrupted while queued
            return super().wait(timeout)

    lock._turns = Turns()
    with lock:
        first = _queue_up(lock, lambda: order.append("first"))
        # This one is interrupted in its wait: it must not block the one behind it.
        second = _queue_up(lock, lambda: order.append("never"), name="quitter")
        third = _queue_up(lock, lambda: order.append("third"))
    for t in (first, second, third):
        t.join(5)
        assert not t.is_alive()
    assert order == ["first", "third"]


def test_migrations_apply_once_and_reopening_changes_nothing(db: Path) -> None:
    open_store(db).close()
    assert versions(db) == list(range(1, LATEST + 1))
    with sqlite3.connect(db) as conn:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY 2").fetchall()
    conn.close()
    assert {name for kind, name, _ in schema if kind == "table"} >= CONTRACT_TABLES
    for _ in range(2):
        open_store(db).close()
    assert versions(db) == list(range(1, LATEST + 1))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY 2").fetchall() == (
            schema
        )
    conn.close()


def test_an_older_database_is_brought_forward_with_its_data(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    build_old(db, 1)
    store = open_store(db)
    try:
        (a,) = store.query_assets()
        assert a["agent_id"] == "0000000000004733528"
        assert a["superseded_by"] is None  # a column a later migration added
    finally:
        store.close()
    assert versions(db) == list(range(1, LATEST + 1))


# The migration that rewrote finding ids; the test undoes it and every one after it.
CLUSTERED_IDS = 1 + next(i for i, m in enumerate(MIGRATIONS) if _cluster_finding_ids in m)


def _first_form(agent_id: str | None, kind: str, natural: str) -> str:
    """A finding id as s1uvm wrote it before ids began with their agent's digits."""
    text = f"v1|c1|{agent_id or ''}|{kind}|{natural}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def test_the_id_migration_computes_its_prefixes_itself() -> None:
    """Pinned bytes: the migration must rewrite an old database the same way whatever the
    live model's id functions become."""
    assert _agent_prefix_v1("acme", "1234567890") == "78925c15"
    assert _agent_prefix_v1("acme", "") == "2c4215ce"  # a finding without an agent


def test_finding_ids_of_the_first_form_are_rewritten_with_their_history(target: str) -> None:
    orphan = msgspec.structs.replace(
        threat("0", "777"), agent_id=None, finding_id=finding_key("c1", None, "threat", "777")
    )
    rows = [vuln("11", "CVE-2024-1"), vuln("12", "CVE-2024-2"), threat("11", "555"), orphan]
    old = [
        _first_form("11", "vulnerability", "CVE-2024-1|acme|app"),
        _first_form("12", "vulnerability", "CVE-2024-2|acme|app"),
        _first_form("11", "threat", "555"),
        _first_form(None, "threat", "777"),
    ]
    store = open_store(target)
    try:
        run = store.start_run("c1", "vulnerabilities", "snapshot")
        store.write_page(run, "c1", "vulnerabilities", findings=rows)
        with store._transaction():  # as an s1uvm before the migration left the data
            for row, first in zip(rows, old, strict=True):
                assert row.finding_id[8:] == first[:24] and row.finding_id != first
                for update in (
                    "UPDATE findings SET finding_id = ? WHERE finding_id = ?",
                    "UPDATE finding_history SET finding_id = ? WHERE finding_id = ?",
                ):
                    store._x(update, (first, row.finding_id))
            store._x("DELETE FROM schema_version WHERE version >= ?", (CLUSTERED_IDS,))
    finally:
        store.close()

    store = open_store(target)
    try:
        found = {f["finding_id"] for f in store.query_findings()}
        assert found == {r.finding_id for r in rows}
        for row in rows:
            assert [h["event_type"] for h in store.history(row.finding_id)] == ["created"]
        run = store.start_run("c1", "vulnerabilities", "snapshot")
        store.write_page(run, "c1", "vulnerabilities", findings=rows)  # the same findings again
        assert store.counts()["findings_total"] == len(rows)  # matched, not duplicated
        for row in rows:
            assert [h["event_type"] for h in store.history(row.finding_id)] == ["created"]
    finally:
        store.close()


def test_a_newer_schema_is_refused_and_left_alone(db: Path) -> None:
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'x')", (LATEST + 1,))
    conn.close()
    before = db.read_bytes()
    message = one_line_error(db)
    assert "newer s1uvm" in message and "upgrade s1uvm" in message
    assert db.read_bytes() == before


def test_a_garbage_file_is_refused_and_left_alone(db: Path) -> None:
    db.parent.mkdir(parents=True)
    garbage = b"this is not a database" * 100
    db.write_bytes(garbage)
    message = one_line_error(db)
    assert f"{db} is not an s1uvm database or is damaged" in message
    assert "move it aside or point --db elsewhere" in message
    assert db.read_bytes() == garbage
    assert not Path(f"{db}-wal").exists()


def test_a_damaged_database_is_refused(db: Path) -> None:
    open_store(db).close()  # closing the last connection folds the WAL into the file
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1 after the header: the schema's root
    db.write_bytes(bytes(data))
    message = one_line_error(db)
    assert "is not an s1uvm database or is damaged" in message
    assert db.read_bytes() == bytes(data)


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.close()
    message = one_line_error(db)
    assert "is not an s1uvm database (it holds other tables: invoices)" in message
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    conn.close()
    assert tables == ["invoices"]


def test_an_empty_file_becomes_a_database(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.touch()
    open_store(db).close()
    assert versions(db) == list(range(1, LATEST + 1))


def test_a_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    message = one_line_error(tmp_path / "plain-file" / "s1uvm.db")
    assert message.startswith("cannot create the folder for the database")
    assert "choose another --db" in message


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    message = one_line_error(tmp_path)
    assert "is a folder; point --db at a file" in message


def test_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if not os.access(locked, os.W_OK):
            message = one_line_error(locked / "s1uvm.db")
            assert "not writable by you" in message and "choose another --db" in message
            assert list(locked.iterdir()) == []
            return
    finally:
        os.chmod(locked, 0o700)
    # Permissions do not stop this user (root): use a folder the kernel refuses to anyone.
    if not Path("/sys/kernel").is_dir():
        pytest.skip("running as a user who can write anywhere, and no sysfs")
    message = one_line_error("/sys/s1uvm-test/s1uvm.db")
    assert message.startswith("cannot create the folder for the database /sys/s1uvm-test")


def test_a_read_only_database_file_is_refused(db: Path) -> None:
    open_store(db).close()
    os.chmod(db, 0o400)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        message = one_line_error(db)
        assert "is not readable and writable by you" in message
    finally:
        os.chmod(db, 0o600)


def test_an_old_sqlite_is_refused(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 22, 0))
    message = one_line_error(db)
    assert "s1uvm needs 3.24.0 or newer" in message
    assert not db.exists()


def test_an_up_to_date_database_opens_while_another_process_writes(db: Path) -> None:
    open_store(db).close()
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO sync_runs (console, connector, mode, started_at, outcome) "
            "VALUES ('c1', 'assets', 'full', 't', 'running')"
        )
        reader = open_store(db)  # needs no write lock: nothing to migrate
        try:
            assert reader.runs() == []  # the writer has not committed yet
        finally:
            reader.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_database_locked_during_its_migration_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "old.db"
    build_old(db, LATEST - 1)
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 50)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        message = one_line_error(db)
        assert "is locked by another process" in message and "run again" in message
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert versions(db) == list(range(1, LATEST))  # nothing half-applied
    open_store(db).close()
    assert versions(db) == list(range(1, LATEST + 1))


_OPEN_AT = """
import sys, time
from s1uvm.store import StoreError, open_store
start = float(sys.argv[2])
while time.time() < start:
    pass
try:
    open_store(sys.argv[1]).close()
    print("ok")
except StoreError as exc:
    print(exc)
"""


@pytest.mark.system
def test_processes_creating_one_database_together_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "locked" at once rather than waiting; several
    syncs started together on a new database must still all open it."""
    for round_ in range(6):
        target = tmp_path / f"new{round_}.db"
        start = str(time.time() + 1.0)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, str(target), start],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        assert [p.communicate(timeout=60)[0].strip() for p in procs] == ["ok"] * 3
        assert versions(target) == list(range(1, LATEST + 1))


# 100 pages of 40 findings with 2 KB of raw JSON each: an 18 MB database.
PAGES, PER_PAGE, RAW_BYTES = 100, 40, 2100


def _largest_wal(db: Path) -> tuple[sqlite_module.Writers, int]:
    """Write ``PAGES`` page transactions of findings, watching the WAL file's size."""
    size = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal size
        while not stop.is_set():
            with contextlib.suppress(OSError):
                size = max(size, os.path.getsize(f"{db}-wal"))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    store = open_store(db)
    writers = sqlite_module._writers[os.path.realpath(db)]
    try:
        run = store.start_run("c1", "vulnerabilities", "snapshot")
        for p in range(PAGES):
            raw = msgspec.Raw(msgspec.json.encode({"pad": "x" * (RAW_BYTES - 100), "page": p}))
            store.write_page(
                run,
                "c1",
                "vulnerabilities",
                findings=[vuln(f"{p:018d}", f"CVE-2024-{i}", raw=raw) for i in range(PER_PAGE)],
            )
    finally:
        store.close()
        stop.set()
        watcher.join()
    return writers, size


def test_the_wal_is_copied_back_by_its_own_thread_and_stays_small(db: Path) -> None:
    """Writers never wait for the WAL's copy into the file (a thread does it, between their
    turns), and the WAL still starts over every few commits instead of growing with the
    sync."""
    writers, size = _largest_wal(db)
    assert writers.checkpoints >= PAGES // sqlite_module.CHECKPOINT_EVERY_COMMITS - 1
    # Started over every 16 to 32 commits, it never holds half of the load.
    assert 0 < size < os.path.getsize(db) / 2
    assert not [t for t in threading.enumerate() if t.name == "wal-checkpoint"]  # stopped
    assert os.path.realpath(db) not in sqlite_module._writers


def test_without_its_checkpoint_thread_the_wal_would_hold_the_whole_load(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter-test of the one above: the bound is the thread's doing."""
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY_COMMITS", 10**9)
    writers, size = _largest_wal(db)
    assert writers.checkpoints == 0
    assert size > os.path.getsize(db)  # every page of the load, some several times (32 MB)


def test_a_page_finds_its_endpoints_asset_ids_in_an_index_alone(db: Path) -> None:
    """The asset ids a page of findings needs (and which agent record supersedes each) come
    from ``assets_agent_current``, without reading the agents' (large) rows."""
    store = open_store(db)
    try:
        run = store.start_run("c1", "assets", "full")
        store.write_page(run, "c1", "assets", assets=[asset("1" * 18)])
        plan = plan_of(
            store,
            lambda: store.write_page(
                run, "c1", "vulnerabilities", findings=[vuln("1" * 18, "CVE-2024-1")]
            ),
            "SELECT agent_id, asset_id, superseded_by FROM",
        )
    finally:
        store.close()
    assert "COVERING INDEX assets_agent_current" in plan, plan
