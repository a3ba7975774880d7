"""Workers sharing consoles through one database: three workers and six simulated consoles sync
each console exactly once per cycle; a worker SIGKILLed mid-sync is replaced by another once
its lease expires, with nothing lost or duplicated; SIGTERM ends a worker at a page boundary
with the console handed back. Real processes, real HTTP, real databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from s1uvm.s1 import ApiToken, RateLimiter, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import Store, open_store
from tests.databases import BACKENDS, PG_URL, database, need_postgres, postgres_schema
from tests.truth import machine_keys, open_machine_keys, served

pytestmark = pytest.mark.system

CONNECTORS = ("assets", "threats", "vulnerabilities")


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as where:
        yield where


class Fleet:
    """Simulated consoles, the config file naming them, and worker processes."""

    def __init__(self, tmp_path: Path, db: str, consoles: list[Console]) -> None:
        self.db = db
        self.stack = ExitStack()
        self.servers = [self.stack.enter_context(SimulatorServer(c)) for c in consoles]
        self.consoles = consoles
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
        lines = []
        for i, (console, server) in enumerate(zip(consoles, self.servers, strict=True)):
            self.env[f"S1_TOKEN_{i}"] = console.token
            lines += [
                "[[console]]",
                f'name = "c{i}"',
                f'url = "{server.url}"',
                f'token_env = "S1_TOKEN_{i}"',
                "",
            ]
        self.config = tmp_path / "s1uvm.toml"
        self.config.write_text("\n".join(lines))
        self.procs: list[subprocess.Popen[str]] = []

    def worker(self, name: str, *extra: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "s1uvm", "worker", "--config", str(self.config)),
                *("--db", self.db, "--id", name, "--poll", "0.2s", *extra),
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.stack.close()


def status(fleet: Fleet, target: str) -> str:
    """What ``s1uvm status`` prints about the consoles and their workers."""
    done = subprocess.run(
        [sys.executable, "-m", "s1uvm", "status", "--db", target],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def wait_for(what: Callable[[], bool], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {why}")
        time.sleep(0.2)


def consoles_row(db: str) -> dict[str, dict[str, Any]]:
    store = open_store(db)
    try:
        return {c["console"]: c for c in store.consoles()}
    finally:
        store.close()


def counts(db: str) -> dict[str, Any]:
    """What the store holds right now (another process is writing it)."""
    store = open_store(db)
    try:
        return store.counts()
    finally:
        store.close()


def all_succeeded(db: str, names: list[str]) -> bool:
    rows = consoles_row(db)
    return all(rows.get(n, {}).get("last_success_at") for n in names)


def check_truth(store: Store, name: str, url: str, token: str) -> None:
    """The store holds exactly what console ``name`` serves: every record once."""
    with S1Client(url, ApiToken(token), limiter=RateLimiter()) as c:
        agents = {a["id"] for a in served(c, "/agents", isDecommissioned="true,false")}
        threats = {t["id"] for t in served(c, "/threats")}
        risks = served(c, "/application-management/risks")
    assets = list(store.query_assets(console=name))
    assert {a["agent_id"] for a in assets} == agents
    mine = list(store.query_findings(console=name))
    assert {f["source_id"] for f in mine if f["kind"] == "threat"} == threats
    open_vulns = open_machine_keys(mine)
    assert len(open_vulns) == len(set(open_vulns)), "one finding per machine + CVE + product"
    assert set(open_vulns) == machine_keys(risks, {a["agent_id"]: a["asset_id"] for a in assets})
    created = Counter(
        h["finding_id"]
        for f in mine
        for h in store.history(f["finding_id"])
        if h["event_type"] == "created"
    )
    assert set(created.values()) == {1}  # created once, never twice


def test_three_workers_sync_six_consoles_exactly_once_per_cycle(
    tmp_path: Path, target: str
) -> None:
    consoles = [Console(SimConfig(seed=100 + i, agents=60 + 20 * i)) for i in range(6)]
    fleet = Fleet(tmp_path, target, consoles)
    names = [f"c{i}" for i in range(6)]
    try:
        workers = [fleet.worker(f"w{i}", "--every", "1h", "--lease", "20s") for i in range(3)]
        wait_for(lambda: all_succeeded(target, names), 240, "every console to sync once")
        time.sleep(1.0)  # a second cycle must not start within the hour
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=60) for w in workers]
        assert [w.returncode for w in workers] == [0, 0, 0], outputs
        check_cycle(target, names, fleet)
        shown = status(fleet, target)
        assert shown.count(", next due ") == 6 and "held by" not in shown
    finally:
        fleet.close()


def check_cycle(target: str, names: list[str], fleet: Fleet) -> None:
    store = open_store(target)
    try:
        runs = Counter((r["console"], r["connector"], r["outcome"]) for r in store.runs(limit=999))
        assert runs == Counter({(n, c, "success"): 1 for n in names for c in CONNECTORS})
        rows = {c["console"]: c for c in store.consoles()}
        for i, name in enumerate(names):
            row = rows[name]
            assert row["lease_owner"] is None and row["last_outcome"] == "success"
            assert row["last_worker"] in ("w0", "w1", "w2")
            assert row["next_run_at"] > row["last_success_at"]  # due again in an hour
            check_truth(store, name, fleet.servers[i].url, fleet.consoles[i].token)
    finally:
        store.close()


def test_a_killed_workers_console_is_taken_over_with_nothing_lost(
    tmp_path: Path, target: str
) -> None:
    console = Console(SimConfig(seed=7, agents=2500, risks_per_agent=16))
    fleet = Fleet(tmp_path, target, [console])
    try:
        first = fleet.worker("doomed", "--lease", "3s")

        wait_for(
            lambda: sum(counts(target)["vulnerabilities"].values()) > 0,
            120,
            "the first worker to write some vulnerability pages",
        )
        first.send_signal(signal.SIGKILL)
        first.communicate()
        held = consoles_row(target)["c0"]
        assert held["lease_owner"] == "doomed" and held["last_success_at"] is None
        shown = status(fleet, target)
        assert "c0: " in shown and "last success never, held by doomed until" in shown
        rescuers = [fleet.worker(f"r{i}", "--lease", "3s") for i in range(2)]
        wait_for(lambda: all_succeeded(target, ["c0"]), 240, "another worker to finish c0")
        for w in rescuers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=60) for w in rescuers]
        assert [w.returncode for w in rescuers] == [0, 0], outputs
        store = open_store(target)
        try:
            row = store.consoles()[0]
            assert row["last_worker"] in ("r0", "r1") and row["last_outcome"] == "success"
            runs = store.runs(limit=999)
            # The runs the kill cut short (the connectors run side by side) are on record as
            # aborted; the rescuer's runs of every connector succeeded.
            aborted = [r["connector"] for r in runs if r["outcome"] == "aborted"]
            assert aborted and set(aborted) <= set(CONNECTORS)
            assert len(aborted) == len(set(aborted))
            last = {r["connector"]: r for r in reversed(runs)}
            assert {c: r["outcome"] for c, r in last.items()} == dict.fromkeys(
                CONNECTORS, "success"
            )
            check_truth(store, "c0", fleet.servers[0].url, console.token)
        finally:
            store.close()
    finally:
        fleet.close()


def test_sigterm_stops_at_a_page_boundary_and_hands_the_console_back(
    tmp_path: Path, target: str
) -> None:
    console = Console(SimConfig(seed=8, agents=2500, risks_per_agent=16))
    fleet = Fleet(tmp_path, target, [console])
    try:
        worker = fleet.worker("polite", "--connectors", "vulnerabilities")

        wait_for(
            lambda: counts(target)["findings_total"] > 0, 120, "the worker to write some pages"
        )
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert "stopping after the current page" in err
        store = open_store(target)
        try:
            (run,) = store.runs()
            assert run["outcome"] == "partial" and "stopped before the end" in run["error"]
            assert not run["complete_snapshot"]
            assert run["records"] > 0 and run["records"] % 1000 == 0  # whole pages only
            row = store.consoles()[0]
            assert row["lease_owner"] is None and row["last_outcome"] == "stopped"
            assert row["last_success_at"] is None
        finally:
            store.close()
        # Due at once: the next worker picks it up and completes it.
        again = fleet.worker("next", "--connectors", "vulnerabilities", "--once")
        _, err = again.communicate(timeout=240)
        assert again.returncode == 0, err
    finally:
        fleet.close()
    assert consoles_row(target)["c0"]["last_outcome"] == "success"


def test_a_worker_survives_its_database_connections_being_cut(tmp_path: Path) -> None:
    """PostgreSQL restarts and failovers cut connections: the worker reconnects and goes on
    syncing on schedule instead of exiting."""
    need_postgres()
    import psycopg

    with postgres_schema() as target:
        fleet = Fleet(tmp_path, target, [Console(SimConfig(seed=9, agents=40))])
        try:
            worker = fleet.worker("steady", "--every", "2s")
            wait_for(lambda: all_succeeded(target, ["c0"]), 120, "the first sync")
            first = consoles_row(target)["c0"]["last_success_at"]
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                cut = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 's1uvm' AND pid <> pg_backend_pid()"
                ).fetchone()
            assert cut is not None and cut[0] >= 1
            wait_for(
                lambda: consoles_row(target)["c0"]["last_success_at"] > first,
                120,
                "a sync after the connections were cut",
            )
            assert worker.poll() is None, "the worker is still running"
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            assert "reconnecting" in err
        finally:
            fleet.close()


def test_a_worker_restarted_with_a_new_every_reschedules(tmp_path: Path) -> None:
    target = str(tmp_path / "s.db")
    fleet = Fleet(tmp_path, target, [Console(SimConfig(seed=10, agents=20))])
    try:
        daily = fleet.worker("daily", "--every", "1d", "--once")
        _, err = daily.communicate(timeout=120)
        assert daily.returncode == 0, err
        assert "stopped after 1 console run(s)" in err
        first = consoles_row(target)["c0"]
        # Under the daily schedule c0 is due tomorrow; restarted with --every 1s it is due a
        # second after that run finished, so a worker started now (--once) runs it again.
        time.sleep(1.2)
        hourly = fleet.worker("often", "--every", "1s", "--once")
        _, err = hourly.communicate(timeout=120)
        assert hourly.returncode == 0, err
        assert "stopped after 1 console run(s)" in err
        assert consoles_row(target)["c0"]["last_finished_at"] > first["last_finished_at"]
    finally:
        fleet.close()
