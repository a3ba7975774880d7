"""``sync``, ``status``, ``assets``, ``findings`` and ``demo`` as a user runs them: exit codes,
one-line errors, and the real fixtures carried through the simulator into the store."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s1uvm.config import console_name
from s1uvm.s1._retry import BASE_ENV
from s1uvm.simulator import Console, SimConfig, SimulatorServer, TokenSpec
from s1uvm.simulator.timefmt import US_PER_DAY, now_us
from s1uvm.store import open_store
from tests.cli.test_check import no_traceback, run
from tests.connectors.real import REAL


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SimulatorServer, Console]]:
    console = Console(SimConfig(seed=12, agents=80))
    with SimulatorServer(console) as running:
        yield running, console


def test_sync_then_query(server: tuple[SimulatorServer, Console], tmp_path: Path) -> None:
    srv, console = server
    db = str(tmp_path / "s.db")
    env = {"S1_API_TOKEN": console.token, "S1UVM_DB": db}
    p = run("sync", "--url", srv.url, env=env)
    assert p.returncode == 0, p.stderr
    for name in ("assets", "threats", "vulnerabilities"):
        assert f"{console_name(srv.url)}/{name}: success" in p.stdout
    again = run("sync", "--url", srv.url, env=env)
    assert again.returncode == 0
    assert "0 new, 0 changed" in again.stdout

    status = json.loads(run("status", "--json", env={"S1UVM_DB": db}).stdout)
    assert status["database"] == db
    assert {r["connector"] for r in status["runs"]} == {"assets", "threats", "vulnerabilities"}
    assert all(r["outcome"] == "success" for r in status["runs"])
    (recorded,) = status["consoles"]
    assert recorded["url"] == srv.url
    assert recorded["token_expires_at"].endswith("Z")
    assert (recorded["scope"], recorded["role"]) == ("tenant", "Viewer")
    text = run("status", env={"S1UVM_DB": db}).stdout
    assert "token valid until" in text
    assert f"{console_name(srv.url)}/vulnerabilities: success (snapshot)" in text

    found = json.loads(
        run("findings", "--kind", "threat", "--format", "json", env={"S1UVM_DB": db}).stdout
    )
    assert len(found) == console.state()["counts"]["threats"]
    assert all(f["kind"] == "threat" and f["asset_id"] for f in found)
    table = run("findings", "--severity", "critical", "--limit", "5", env={"S1UVM_DB": db})
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["kind", "severity", "state"]
    rows = list(
        csv.DictReader(io.StringIO(run("assets", "--format", "csv", env={"S1UVM_DB": db}).stdout))
    )
    assert len(rows) == console.state()["counts"]["agents"]
    assert all(r["agent_id"].isdigit() for r in rows)
    assert console.token not in (p.stdout + p.stderr + again.stdout + table.stdout)
    assert console.token.encode() not in Path(db).read_bytes()


def test_sync_warns_about_a_token_close_to_expiry(
    server: tuple[SimulatorServer, Console], tmp_path: Path
) -> None:
    srv, console = server
    soon = console.add_token(TokenSpec(expires_us=now_us() + 3 * US_PER_DAY))
    p = run(
        "sync",
        "--url",
        srv.url,
        "--db",
        str(tmp_path / "s.db"),
        "--connectors",
        "threats",
        env={"S1_API_TOKEN": soon.value},
    )
    assert p.returncode == 0
    assert f"warning: {console_name(srv.url)}: the API token expires" in p.stderr
    status = run("status", "--db", str(tmp_path / "s.db")).stdout
    assert "the API token expires" in status


def test_sync_with_a_wrong_token_exits_3(
    server: tuple[SimulatorServer, Console], tmp_path: Path
) -> None:
    srv, _ = server
    p = run(
        "sync",
        "--url",
        srv.url,
        "--db",
        str(tmp_path / "s.db"),
        env={"S1_API_TOKEN": "bad-token-12345678901234567890"},
    )
    assert p.returncode == 3
    # One line for the console, not one per connector.
    (line,) = p.stderr.splitlines()
    assert "rejected the API token" in line and p.stdout == ""
    no_traceback(p)


def test_sync_against_an_unreachable_host_exits_4(tmp_path: Path) -> None:
    p = run(
        "sync",
        "--url",
        "http://127.0.0.1:9",
        "--db",
        str(tmp_path / "s.db"),
        "--connectors",
        "threats",
        # Short backoff: the test is about the exit code, not the retry schedule.
        env={"S1_API_TOKEN": "x" * 30, BASE_ENV: "0.01"},
        timeout=60,
    )
    assert p.returncode == 4
    (line,) = p.stderr.splitlines()
    assert "cannot reach" in line and p.stdout == ""
    no_traceback(p)


def test_a_connector_that_cannot_read_is_reported_and_the_others_run(tmp_path: Path) -> None:
    console = Console(SimConfig(seed=12, agents=40, vulnerabilities_licensed=False))
    db = tmp_path / "s.db"
    with SimulatorServer(console) as srv:
        p = run("sync", "--url", srv.url, "--db", str(db), env={"S1_API_TOKEN": console.token})
    assert p.returncode == 1
    assert f"{console_name(srv.url)}/vulnerabilities: failed" in p.stdout
    assert f"{console_name(srv.url)}/threats: success" in p.stdout
    store = open_store(db)
    try:
        assert store.counts()["assets"]
        assert store.counts()["threats"]
    finally:
        store.close()


def test_a_damaged_database_exits_2(
    server: tuple[SimulatorServer, Console], tmp_path: Path
) -> None:
    srv, console = server
    db = tmp_path / "s.db"
    db.write_bytes(b"garbage" * 1000)
    p = run("sync", "--url", srv.url, "--db", str(db), env={"S1_API_TOKEN": console.token})
    assert p.returncode == 2
    assert "is not an s1uvm database or is damaged" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == b"garbage" * 1000


def test_the_real_fixtures_through_the_simulator_into_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(REAL / "agents_v21_cribl_2025.json", data / "agents.json")
    shutil.copy(REAL / "threats_v21_elastic.json", data / "threats.json")
    shutil.copy(REAL / "app_mgmt_risks_elastic_2025.json", data / "risks.json")
    console = Console(SimConfig(data_dir=data))
    db = tmp_path / "s.db"
    with SimulatorServer(console) as srv:
        p = run("sync", "--url", srv.url, "--db", str(db), env={"S1_API_TOKEN": console.token})
    assert p.returncode == 0, p.stdout + p.stderr
    store = open_store(db)
    try:
        (agent,) = store.query_assets()
        assert (agent["agent_id"], agent["hostname"], agent["mac"], agent["site_id"]) == (
            "0000000000004733528",
            "AccountName-S1",
            ["bc:24:11:b4:ad:14"],
            "0000000000000081821",
        )
        assert agent["raw"]["uuid"] == "f455a172b0ff454096d36ec84e9ddc6a"
        threats = {f["source_id"]: f for f in store.query_findings(kind="threat")}
        assert set(threats) == {"1234567890123456789", "2120407777501474123"}
        assert threats["1234567890123456789"]["severity"] == "critical"
        assert threats["2120407777501474123"]["sha256"].startswith("49280a15")
        vulns = {f["cve_id"]: f for f in store.query_findings(kind="vulnerability")}
        assert set(vulns) == {
            "CVE-2025-0411",
            "CVE-2024-29057",
            "CVE-2024-26247",
            "CVE-2022-22977",
            "CVE-2024-31497",
        }
        seven = vulns["CVE-2025-0411"]
        assert (
            seven["cvss_score"],
            seven["severity"],
            seven["app_version"],
            seven["agent_id"],
        ) == (7.0, "high", ["22.01"], "2162143406517023959")
        assert seven["first_seen_at"] == "2025-06-02T04:46:51.710569Z"
    finally:
        store.close()


def test_demo_runs_end_to_end_in_well_under_a_minute(tmp_path: Path) -> None:
    started = time.monotonic()
    p = run("demo", "--db", str(tmp_path / "demo.db"), timeout=120)
    elapsed = time.monotonic() - started
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"^127\.0\.0\.1:\d+/vulnerabilities: success", p.stdout, re.M)
    assert "Try next:" in p.stdout
    assert elapsed < 60


def test_the_inactivity_threshold_is_configurable(tmp_path: Path) -> None:
    console = Console(SimConfig(seed=13, agents=600))
    inactive: dict[int, int] = {}
    with SimulatorServer(console) as srv:
        for days in (30, 1):
            db = tmp_path / f"{days}.db"
            p = run(
                "sync",
                "--url",
                srv.url,
                "--db",
                str(db),
                "--connectors",
                "assets",
                "--inactive-days",
                str(days),
                env={"S1_API_TOKEN": console.token},
            )
            assert p.returncode == 0, p.stderr
            store = open_store(db)
            try:
                inactive[days] = store.counts()["assets"].get("inactive", 0)
            finally:
                store.close()
    assert inactive[1] > inactive[30] > 0


def test_export_from_the_command_line(
    server: tuple[SimulatorServer, Console], tmp_path: Path
) -> None:
    srv, console = server
    db = str(tmp_path / "s.db")
    assert (
        run("sync", "--url", srv.url, "--db", db, env={"S1_API_TOKEN": console.token}).returncode
        == 0
    )
    first = run("export", "--db", db, "--format", "ocsf")
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    assert events
    assert {e["class_uid"] for e in events} == {2002, 2004}
    again = run("export", "--db", db, "--format", "ocsf")
    assert again.stdout == ""  # the bookmark moved: nothing new
    out = tmp_path / "assets.csv"
    p = run(
        "export",
        "--db",
        db,
        "--format",
        "csv",
        "--mode",
        "state",
        "--kind",
        "asset",
        "--out",
        str(out),
    )
    assert p.returncode == 0
    assert "records written" in p.stderr
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == len(
        console.world.agents if console.world else []
    )
    bad = run("export", "--db", db, "--format", "parquet")
    assert bad.returncode == 2
    assert "Parquet cannot stream to stdout" in bad.stderr
    bad = run("export", "--db", db, "--format", "jsonl", "--since", "yesterday")
    assert bad.returncode == 2
