"""Exports from a store filled over real HTTP: every OCSF event validates against the official
1.8.0 schema offline (with the declared profiles), the changes bookmark never skips or repeats,
CSV round-trips through the stdlib reader, Parquet reads back with typed columns."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from s1uvm.connectors import make
from s1uvm.export import ExportError, export
from s1uvm.s1 import ApiToken, RateLimiter, RetryPolicy, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import Store, open_store
from s1uvm.sync import run_connector

SCHEMA = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.8.0"))
_validators: dict[tuple[int, tuple[str, ...]], jsonschema.Draft202012Validator] = {}


def validate(event: dict[str, Any]) -> None:
    key = (event["class_uid"], tuple(event["metadata"]["profiles"]))
    if key not in _validators:
        name = SCHEMA.lookup_class_name_from_uid(class_uid=key[0])
        _validators[key] = jsonschema.Draft202012Validator(
            SCHEMA.get_class_schema(class_name=name, profiles=list(key[1]))
        )
    errors = [e.message for e in _validators[key].iter_errors(event)]
    assert errors == [], (key, errors[:3])


class World:
    def __init__(self, tmp: Path, faults: str = "") -> None:
        self.console = Console(SimConfig(seed=17, agents=150, faults=faults))
        self.server = SimulatorServer(self.console).start()
        self.client = S1Client(
            self.server.url,
            ApiToken(self.console.token),
            retry=RetryPolicy(attempts=8, base=0.01, cap=0.05),
            limiter=RateLimiter(),
        )
        self.store = open_store(tmp / "s.db")

    def sync(self) -> None:
        for name in ("assets", "threats", "vulnerabilities"):
            run_connector(self.store, self.client, make(name), "sim")

    def advance(self, hours: int) -> None:
        httpx2.post(f"{self.server.url}/_sim/advance", json={"hours": hours}).raise_for_status()

    def close(self) -> None:
        self.store.close()
        self.client.close()
        self.server.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    w.sync()
    yield w
    w.close()


def lines(store: Store, **kw: Any) -> list[dict[str, Any]]:
    buf = io.StringIO()
    export(store, stdout=buf, **kw)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def history_count(store: Store) -> int:
    n: int = store.conn.execute("SELECT count(*) FROM finding_history").fetchone()[0]
    return n


def test_every_state_event_validates_against_ocsf_1_8_0(world: World) -> None:
    events = lines(world.store, fmt="ocsf", mode="state")
    classes = {e["class_uid"] for e in events}
    assert classes == {2002, 2004, 5001}
    for event in events:
        validate(event)
        assert event["metadata"]["version"] == "1.8.0"
    findings = [e for e in events if e["class_uid"] != 5001]
    assert {e["finding_info"]["uid"] for e in findings} == {
        f["finding_id"] for f in world.store.query_findings()
    }
    sample = next(e for e in findings if e["class_uid"] == 2002)
    assert isinstance(sample["time"], int)
    assert isinstance(sample["finding_info"]["uid_alt"], str)
    assert sample["vulnerabilities"][0]["cve"]["uid"].startswith("CVE-")


def test_changes_after_each_advance_are_exactly_the_new_history(world: World) -> None:
    first = lines(world.store, fmt="ocsf", bookmark="siem")
    assert len(first) == history_count(world.store)
    assert lines(world.store, fmt="ocsf", bookmark="siem") == []  # nothing new, nothing again
    seen = {e["metadata"]["uid"] for e in first}
    for hours in (24, 48, 12):
        before = history_count(world.store)
        world.advance(hours)
        world.sync()
        new = lines(world.store, fmt="ocsf", bookmark="siem")
        assert len(new) == history_count(world.store) - before > 0
        uids = {e["metadata"]["uid"] for e in new}
        assert not uids & seen, "no event repeated"
        seen |= uids
        for event in new:
            validate(event)
        assert {e["activity_id"] for e in new} <= {1, 2, 3}
    closes = [e for e in lines(world.store, fmt="ocsf", mode="state") if e.get("status_id") == 4]
    assert closes, "fixed findings appear as Resolved"


@pytest.mark.system
def test_a_fault_injected_multi_advance_dataset_validates(tmp_path: Path) -> None:
    w = World(tmp_path, faults="503:0.1,truncate:0.05,repeat-cursor:0.05,empty-page:0.05")
    try:
        w.sync()
        for hours in (12, 24):
            w.advance(hours)
            w.sync()
        events = lines(w.store, fmt="ocsf", mode="changes")
        assert events
        for event in events:
            validate(event)
    finally:
        w.close()


def test_csv_round_trips_ids_and_timestamps(world: World, tmp_path: Path) -> None:
    out = tmp_path / "findings.csv"
    export(world.store, fmt="csv", mode="state", out=str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    stored = {f["finding_id"]: f for f in world.store.query_findings()}
    assert {r["finding_id"] for r in rows} == set(stored)
    for r in rows:
        s = stored[r["finding_id"]]
        assert r["source_id"] == s["source_id"]
        assert r["agent_id"] == s["agent_id"]
        assert r["first_seen_at"] == s["first_seen_at"]
        assert r["app_version"] == ", ".join(s["app_version"] or [])
    assets = list(csv.DictReader(io.StringIO(_csv(world.store, kind="asset"))))
    assert {a["agent_id"] for a in assets} == {a["agent_id"] for a in world.store.query_assets()}


def _csv(store: Store, **kw: Any) -> str:
    buf = io.StringIO()
    export(store, fmt="csv", mode="state", stdout=buf, **kw)
    return buf.getvalue()


def test_parquet_reads_back_with_typed_columns(world: World, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    out = tmp_path / "findings.parquet"
    result = export(world.store, fmt="parquet", mode="state", out=str(out))
    con = duckdb.connect()
    rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(out)]).fetchall()
    types = {r[0]: r[1] for r in rows}
    count = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()[0]
    assert count == result.records == len(list(world.store.query_findings()))
    assert types["cvss_score"] == "DOUBLE"
    assert types["app_version"] == "VARCHAR[]"
    assert types["finding_id"] == "VARCHAR"
    assert types["source_id"] == "VARCHAR"  # ids stay text


def test_usage_errors(world: World) -> None:
    with pytest.raises(ExportError, match="Parquet cannot stream"):
        export(world.store, fmt="parquet", out="-")
    with pytest.raises(ExportError, match="CSV holds one table"):
        export(world.store, fmt="csv", mode="state", kind="asset,threat", stdout=io.StringIO())
    with pytest.raises(ExportError, match="unknown --kind"):
        export(world.store, fmt="jsonl", kind="cves", stdout=io.StringIO())


def test_change_events_describe_the_finding_as_the_change_left_it(world: World) -> None:
    from s1uvm.export import ocsf

    for hours in (48, 72):
        world.advance(hours)
        world.sync()
    history = {
        ocsf.event_uid(r[1], r[0]): r
        for r in world.store.conn.execute(
            "SELECT event_id, finding_id, at, event_type, old_state, new_state FROM finding_history"
        )
    }
    now = {f["finding_id"]: f["state"] for f in world.store.query_findings()}
    events = lines(world.store, fmt="ocsf")
    assert len(events) == len(history)
    closes = {"fixed", "archived", "suppressed"}
    created_then_fixed = 0
    for event in events:
        validate(event)
        _, finding, at, kind, old, new = history[event["metadata"]["uid"]]
        assert event["time"] == ocsf.ms(at)
        assert event["activity_id"] == (1 if kind == "created" else 3 if kind in closes else 2)
        assert event["unmapped"]["s1uvm_state"] == new
        assert event["unmapped"]["s1uvm_event"] == kind
        assert event["unmapped"].get("s1uvm_previous_state") == old
        if event["class_uid"] == 2002 or event.get("status_id") != 2:
            assert event["status_id"] == ocsf.STATUS_ID[new], (kind, new, event["status"])
        assert event["is_alert"] == (new in ("open", "reopened"))
        if kind == "created" and new == "open" and now[finding] == "fixed":
            assert (event["activity_name"], event["status"]) == ("Create", "New")
            created_then_fixed += 1
    assert created_then_fixed > 0, "the advances fixed findings that were created open"
    fixed = [e for e in events if e["unmapped"]["s1uvm_event"] == "fixed"]
    assert fixed and all(e["status"] == "Resolved" for e in fixed)
    assert all(e["activity_name"] == "Close" for e in fixed)


def test_device_inventory_is_never_last_seen_before_first_seen(world: World) -> None:
    devices = [e for e in lines(world.store, fmt="ocsf", mode="state") if e["class_uid"] == 5001]
    assert len(devices) == len(list(world.store.query_assets()))
    registered = {a["agent_id"]: a["raw"]["registeredAt"] for a in world.store.query_assets()}
    for event in devices:
        device = event["device"]
        assert device["first_seen_time"] <= device["last_seen_time"]
        assert device["first_seen_time"] <= ms_of(registered[device["uid"]])


def ms_of(ts: str) -> int:
    from s1uvm.export.ocsf import ms

    value = ms(ts)
    assert value is not None
    return value
