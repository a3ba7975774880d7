"""The change feed is exact on both backends: exports running while writers commit out of
order (a slow writer holds its transaction open after taking lower event ids) deliver every
event exactly once, in order per finding; one export at a time uses a bookmark."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest

from s1uvm.connectors import make
from s1uvm.export import ExportBusy, export
from s1uvm.s1 import ApiToken, RateLimiter, RetryPolicy, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import Store, open_store
from s1uvm.sync import run_connector
from tests.databases import BACKENDS, database
from tests.store.rows import vuln

AGENT = "100000000000000001"


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as where:
        yield where


def all_events(store: Store) -> list[tuple[int, str]]:
    rows = store.conn.execute(
        "SELECT event_id, finding_id FROM finding_history ORDER BY event_id"
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def jsonl(store: Store, **kw: Any) -> list[dict[str, Any]]:
    buf = io.StringIO()
    export(store, fmt="jsonl", stdout=buf, **kw)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def hold_history(store: Store, inserted: threading.Event, release: threading.Event) -> None:
    """Make ``store`` a slow writer: after inserting its history rows, its transaction stays
    open until ``release`` is set."""
    insert = store._insert_many

    def held(table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        insert(table, columns, rows)
        if table == "finding_history":
            inserted.set()
            release.wait(30)

    store._insert_many = held  # type: ignore[method-assign]


def in_thread(fn: Callable[[], Any]) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def test_a_transaction_that_commits_late_is_delivered_later_not_skipped(target: str) -> None:
    """The gap of a bookmark on ``event_id``: a writer takes an id, another takes a higher one
    and commits first, an export runs, the first commits. The late event must come next."""
    stores = [open_store(target) for _ in range(3)]
    slow, fast, reader = stores
    try:
        run = fast.start_run("c1", "vulnerabilities", "snapshot")
        inserted, release = threading.Event(), threading.Event()
        hold_history(slow, inserted, release)
        late = vuln(AGENT, "CVE-2024-0001")
        early = vuln(AGENT, "CVE-2024-0002")
        slow_writer = in_thread(
            lambda: slow.write_page(run, "c1", "vulnerabilities", findings=[late])
        )
        assert inserted.wait(10)
        fast_writer = in_thread(
            lambda: fast.write_page(run, "c1", "vulnerabilities", findings=[early])
        )
        fast_writer.join(1.0)
        first = [e["finding_id"] for e in jsonl(reader, bookmark="siem")]
        if target.startswith("postgresql"):
            # Writers run side by side: the later id is visible first.
            assert not fast_writer.is_alive()
            assert first == [early.finding_id]
        else:
            # One writer at a time: the second waits for the first to commit.
            assert fast_writer.is_alive()
            assert first == []
        release.set()
        slow_writer.join(10)
        fast_writer.join(10)
        second = [e["finding_id"] for e in jsonl(reader, bookmark="siem")]
        if target.startswith("postgresql"):
            (late_id,), (early_id,) = (
                [e for e, f in all_events(reader) if f == fid]
                for fid in (late.finding_id, early.finding_id)
            )
            assert late_id < early_id  # the window in which an id bookmark loses an event
            assert second == [late.finding_id]
        else:
            assert second == [late.finding_id, early.finding_id]
        delivered = first + second
        assert sorted(delivered) == sorted([late.finding_id, early.finding_id])
        assert jsonl(reader, bookmark="siem") == []
    finally:
        for s in stores:
            s.close()


class Sim:
    def __init__(self, db: str) -> None:
        self.console = Console(SimConfig(seed=29, agents=40))
        self.server = SimulatorServer(self.console).start()
        self.db = db

    def client(self) -> S1Client:
        return S1Client(
            self.server.url,
            ApiToken(self.console.token),
            retry=RetryPolicy(attempts=8, base=0.01, cap=0.05),
            limiter=RateLimiter(),
        )

    def advance(self, hours: int) -> None:
        httpx2.post(f"{self.server.url}/_sim/advance", json={"hours": hours}).raise_for_status()

    def close(self) -> None:
        self.server.stop()


def test_exports_during_concurrent_writers_deliver_every_event_once_in_order(
    target: str,
) -> None:
    sim = Sim(target)
    done = threading.Event()
    errors: list[BaseException] = []
    shared = io.StringIO()  # both exporters write here, in turn (the bookmark's lock)
    exports: list[int] = []

    def guard(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)

        return run

    def syncer() -> None:
        store, client = open_store(target), sim.client()
        try:
            for hours in (0, 24, 48, 24):
                if hours:
                    sim.advance(hours)
                for name in ("assets", "threats", "vulnerabilities"):
                    run_connector(store, client, make(name), "sim")
        finally:
            client.close()
            store.close()

    def slow_writer() -> None:
        """Findings of a console of its own, each change in a transaction held open for a
        moment after its history rows took their ids: created, fixed, reopened, fixed …"""
        store = open_store(target)
        insert = store._insert_many

        def held(table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
            insert(table, columns, rows)
            if table == "finding_history":
                time.sleep(0.15)

        store._insert_many = held  # type: ignore[method-assign]
        try:
            run = store.start_run("c1", "vulnerabilities", "snapshot")
            cves = [f"CVE-2025-{n:04d}" for n in range(12)]
            for state in ("open", "fixed", "reopened", "fixed", "reopened", "fixed"):
                for i in range(0, len(cves), 4):
                    rows = [vuln(AGENT, c, state=state) for c in cves[i : i + 4]]
                    store.write_page(run, "c1", "vulnerabilities", findings=rows)
        finally:
            store.close()

    def exporter() -> None:
        store = open_store(target)
        try:
            while not done.is_set():
                result = export(store, fmt="jsonl", bookmark="feed", stdout=shared)
                exports.append(result.records)
                time.sleep(0.02)
        finally:
            store.close()

    writers = [in_thread(guard(syncer)), in_thread(guard(slow_writer))]
    readers = [in_thread(guard(exporter)) for _ in range(2)]
    try:
        for t in writers:
            t.join(300)
        done.set()
        for t in readers:
            t.join(60)
        assert errors == []
        store = open_store(target)
        try:
            export(store, fmt="jsonl", bookmark="feed", stdout=shared)  # what came after
            expected = all_events(store)
        finally:
            store.close()
    finally:
        done.set()
        sim.close()
    delivered = [json.loads(line) for line in shared.getvalue().splitlines()]
    ids = [e["event_id"] for e in delivered]
    assert len(ids) == len(set(ids)), "an event delivered twice"
    assert sorted(ids) == [e for e, _ in expected], "an event never delivered"
    by_finding: dict[str, list[int]] = {}
    for e in delivered:
        by_finding.setdefault(e["finding_id"], []).append(e["event_id"])
    for events in by_finding.values():
        assert events == sorted(events), "a finding's changes out of order"
    assert sum(1 for n in exports if n) >= 3, "exports ran while the writers were writing"
    slow = [e for e in delivered if e["console"] == "c1"]
    assert len(slow) == 12 * 6
    assert {e["event_type"] for e in slow} == {"created", "fixed", "reopened"}


def test_a_second_export_of_a_bookmark_waits_or_refuses(target: str) -> None:
    stores = [open_store(target) for _ in range(2)]
    first, second = stores
    try:
        run = first.start_run("c1", "vulnerabilities", "snapshot")
        first.write_page(run, "c1", "vulnerabilities", findings=[vuln(AGENT, "CVE-2024-0001")])
        waited: list[str] = []
        out: list[list[dict[str, Any]]] = []
        with first.feed.lock("siem"):
            with pytest.raises(ExportBusy, match="another export is using bookmark 'siem'"):
                jsonl(second, bookmark="siem", wait=False)
            # Another bookmark is free.
            assert len(jsonl(second, bookmark="other", wait=False)) == 1
            waiting = in_thread(
                lambda: out.append(jsonl(second, bookmark="siem", on_wait=waited.append))
            )
            waiting.join(0.5)
            assert waiting.is_alive() and waited == ["siem"]
        waiting.join(10)
        assert [len(o) for o in out] == [1]
        assert jsonl(first, bookmark="siem", wait=False) == []
    finally:
        for s in stores:
            s.close()


HOLDER = """
import sys, time
from s1uvm.store import open_store
s = open_store(sys.argv[1])
with s.feed.lock(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_another_process_holding_the_bookmark_makes_no_wait_exit_1(
    target: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from s1uvm.cli.main import cli

    open_store(target).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, target, "jsonl:-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = CliRunner().invoke(
            cli, ["export", "--db", target, "--format", "jsonl", "--no-wait"]
        )
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [
            "s1uvm: another export is using bookmark 'jsonl:-'; run again when it has "
            "finished, or without --no-wait to wait for it"
        ]
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    result = CliRunner().invoke(cli, ["export", "--db", target, "--format", "jsonl", "--no-wait"])
    assert result.exit_code == 0, result.stderr
    assert "no events yet" in result.stderr


def test_a_bookmark_from_another_servers_count_is_refused(target: str) -> None:
    if not target.startswith("postgresql"):
        pytest.skip("transaction ids are PostgreSQL's")
    from s1uvm.export import ExportError
    from s1uvm.store._feed import Position

    store = open_store(target)
    try:
        run = store.start_run("c1", "vulnerabilities", "snapshot")
        store.write_page(run, "c1", "vulnerabilities", findings=[vuln(AGENT, "CVE-2024-0001")])
        assert len(jsonl(store, bookmark="lake")) == 1
        # As after a restore into a server whose count is far below the bookmark's.
        store.feed.save("lake", Position(1, "90000000000:90000000000:"), "")
        with pytest.raises(ExportError, match="restored into another server"):
            jsonl(store, bookmark="lake")
    finally:
        store.close()
