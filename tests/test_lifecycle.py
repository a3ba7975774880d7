"""Lifecycle scenarios: the simulated console moves forward many times, s1uvm syncs after each
step, and after every step the store must equal the console's truth — open findings are the
risks served now, remediated ones are fixed with a date, threat states follow SentinelOne's,
retired assets are the decommissioned agents, and re-imaged hosts keep one asset."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from s1uvm.connectors import make
from s1uvm.model import product_key
from s1uvm.s1 import ApiToken, RateLimiter, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import Store, open_store
from s1uvm.sync import run_connector
from tests.databases import BACKENDS, database
from tests.truth import served
from tests.truth import vuln_key as truth_key

EPOCH = 1_780_000_000_000_000
STEPS = (6, 24, 1, 48, 12, 72, 24, 3)


@pytest.fixture(params=BACKENDS)
def env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Console, SimulatorServer, S1Client, Store]]:
    console = Console(SimConfig(seed=31, agents=160, epoch_us=EPOCH))
    with (
        database(request.param, tmp_path) as target,
        SimulatorServer(console) as server,
        S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as client,
    ):
        store = open_store(target)
        try:
            yield console, server, client, store
        finally:
            store.close()


def vuln_key(r: dict[str, Any]) -> str:
    return truth_key("sim", r)


def sync(store: Store, client: S1Client) -> dict[str, Any]:
    return {
        n: run_connector(store, client, make(n), "sim")
        for n in ("assets", "threats", "vulnerabilities")
    }


def check_truth(store: Store, client: S1Client) -> dict[str, int]:
    agents = {a["id"]: a for a in served(client, "/agents", isDecommissioned="true,false")}
    assets = {a["agent_id"]: a for a in store.query_assets()}
    assert set(assets) == set(agents)
    superseded = {aid for aid, a in assets.items() if a["superseded_by"] is not None}
    assert superseded == {aid for aid, a in assets.items() if a["lifecycle"] == "superseded"}
    retired = {aid for aid, a in assets.items() if a["lifecycle"] == "retired"}
    assert retired == {aid for aid, a in agents.items() if a["isDecommissioned"]} - superseded

    # Open findings are exactly the risks served now, one per machine + CVE + product however
    # many agent records a re-imaged machine has.
    live = {
        (
            assets[r["endpointId"]]["asset_id"],
            r["cveId"],
            product_key(html.unescape(r["applicationVendor"]), html.unescape(r["applicationName"])),
        )
        for r in served(client, "/application-management/risks")
    }
    vulns = {f["finding_id"]: f for f in store.query_findings(kind="vulnerability")}
    open_now = [
        (f["asset_id"], f["cve_id"], product_key(f["app_vendor"], f["app_name"]))
        for f in vulns.values()
        if f["state"] in ("open", "reopened")
    ]
    assert len(open_now) == len(set(open_now)), "one open finding per asset + CVE + product"
    assert set(open_now) == live, "open findings are exactly the risks served now"
    for f in vulns.values():
        if f["state"] == "fixed":
            assert f["fixed_at"], f
        if f["state"] == "stale":  # a stale finding on a retired agent is archived instead
            assert not assets[f["agent_id"]]["is_decommissioned"]
        if f["state"] == "archived":
            agent = agents.get(f["agent_id"])
            assert agent is None or agent["isDecommissioned"] or f["agent_id"] in superseded

    threats = {t["id"]: t["threatInfo"] for t in served(client, "/threats")}
    stored = {f["source_id"]: f for f in store.query_findings(kind="threat")}
    assert set(stored) == set(threats)
    for tid, info in threats.items():
        state = stored[tid]["state"]
        if info["incidentStatus"] == "resolved":
            want = "suppressed" if info["analystVerdict"] == "false_positive" else "fixed"
            assert state == want, (tid, info, state)
        else:
            assert state in ("open", "reopened"), (tid, info, state)
    return {
        s: sum(1 for f in vulns.values() if f["state"] == s)
        for s in ("open", "reopened", "fixed", "stale", "archived")
    }


@pytest.mark.system
def test_the_store_follows_the_console_through_many_steps(
    env: tuple[Console, SimulatorServer, S1Client, Store],
) -> None:
    _console, server, client, store = env
    sync(store, client)
    check_truth(store, client)
    totals: dict[str, int] = {}
    for hours in STEPS:
        httpx2.post(f"{server.url}/_sim/advance", json={"hours": hours}).raise_for_status()
        results = sync(store, client)
        assert all(r.outcome == "success" for r in results.values())
        totals = check_truth(store, client)
        for key in ("fixed", "reopened", "stale", "archived"):
            assert results["vulnerabilities"].counts[key] >= 0
    assert totals["fixed"] > 0, "remediations were seen and closed"
    assert totals["archived"] > 0, "findings on decommissioned agents were archived"


def test_a_partial_snapshot_closes_nothing(
    env: tuple[Console, SimulatorServer, S1Client, Store],
) -> None:
    _, _, _, store = env
    # One site, so the snapshot is one walk of several pages (not per-site partitions of one
    # page each) and a cursor fault can stop it midway.
    console = Console(
        SimConfig(seed=31, agents=160, epoch_us=EPOCH, sites_per_account=1, accounts=1)
    )
    with (
        SimulatorServer(console) as server,
        S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as client,
    ):
        sync(store, client)
        before = {f["finding_id"]: f["state"] for f in store.query_findings(kind="vulnerability")}
        httpx2.post(f"{server.url}/_sim/advance", json={"hours": 72}).raise_for_status()
        console.set_faults("repeat-cursor:1.0:risks")  # the walk cannot finish
        result = run_connector(store, client, make("vulnerabilities"), "sim")
    assert result.outcome == "partial"
    assert not result.complete
    assert result.counts["pages"] >= 1
    after = {f["finding_id"]: f["state"] for f in store.query_findings(kind="vulnerability")}
    assert all(after[k] == v for k, v in before.items()), "no finding was closed"
    (run,) = [r for r in store.last_runs() if r["connector"] == "vulnerabilities"]
    assert run["outcome"] == "partial"
    assert not run["complete_snapshot"]


def test_reimaged_hosts_resolve_to_one_asset(
    env: tuple[Console, SimulatorServer, S1Client, Store],
) -> None:
    console, server, client, store = env
    assert console.world is not None
    sync(store, client)
    for hours in (48, 48, 48):
        httpx2.post(f"{server.url}/_sim/advance", json={"hours": hours}).raise_for_status()
        sync(store, client)
    by_host: dict[int, list[str]] = {}
    for agent in console.world.agents:
        by_host.setdefault(agent.host, []).append(agent.id)
    reimaged = [ids for ids in by_host.values() if len(ids) > 1]
    assert reimaged
    assets = {a["agent_id"]: a for a in store.query_assets()}
    for ids in reimaged:
        assert len({assets[i]["asset_id"] for i in ids}) == 1, ids
        current = [i for i in ids if assets[i]["superseded_by"] is None]
        assert len(current) == 1, ids  # one agent record is current, the others superseded


def test_findings_history_has_one_row_per_real_change(
    env: tuple[Console, SimulatorServer, S1Client, Store],
) -> None:
    _console, server, client, store = env
    sync(store, client)
    sync(store, client)  # nothing changed: no new history
    counts = store.conn.execute(
        "SELECT event_type, count(*) FROM finding_history GROUP BY 1"
    ).fetchall()
    assert dict(counts) == {"created": sum(1 for _ in store.query_findings())}
    httpx2.post(f"{server.url}/_sim/advance", json={"hours": 48}).raise_for_status()
    results = sync(store, client)
    events = dict(
        store.conn.execute("SELECT event_type, count(*) FROM finding_history GROUP BY 1").fetchall()
    )
    v = results["vulnerabilities"].counts
    assert events.get("fixed", 0) >= v["fixed"] > 0
