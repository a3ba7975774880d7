"""End to end over real HTTP: the three connectors against the simulated console into SQLite.
After a sync the store holds exactly the console's agents, threats and risks, each finding
joined to its asset; a second sync with nothing changed moves no data and costs few requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s1uvm.connectors import assets, make, threats
from s1uvm.connectors.base import Context
from s1uvm.s1 import ApiToken, RateLimiter, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import Store, open_store
from s1uvm.sync import partitions, run_connector, scope_key
from tests.truth import served, superseding, vuln_key

EPOCH = 1_780_000_000_000_000


@pytest.fixture
def console() -> Console:
    return Console(SimConfig(seed=21, agents=150, epoch_us=EPOCH))


@pytest.fixture
def server(console: Console) -> Iterator[SimulatorServer]:
    with SimulatorServer(console) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer, console: Console) -> Iterator[S1Client]:
    with S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "s1uvm.db")
    yield s
    s.close()


def sync_all(store: Store, client: S1Client, full: bool = False) -> dict[str, Any]:
    return {
        name: run_connector(store, client, make(name), "sim", full=full)
        for name in ("assets", "threats", "vulnerabilities")
    }


def test_sync_stores_exactly_what_the_console_serves(store: Store, client: S1Client) -> None:
    results = sync_all(store, client)
    assert all(r.outcome == "success" for r in results.values()), results
    assert results["vulnerabilities"].complete

    agents = served(client, "/agents", isDecommissioned="true,false")
    assets = list(store.query_assets())
    assert sorted(a["agent_id"] for a in assets) == sorted(a["id"] for a in agents)

    threats = served(client, "/threats")
    stored_threats = list(store.query_findings(kind="threat"))
    assert sorted(f["source_id"] for f in stored_threats) == sorted(t["id"] for t in threats)

    risks = served(client, "/application-management/risks")
    current = superseding(assets)
    keys = {vuln_key("sim", r, current) for r in risks}
    stored_vulns = list(store.query_findings(kind="vulnerability"))
    assert {f["finding_id"] for f in stored_vulns} == keys
    assert {f["source_id"] for f in stored_vulns} <= {r["id"] for r in risks}

    by_agent = {a["agent_id"]: a["asset_id"] for a in assets}
    for f in stored_threats + stored_vulns:
        assert f["asset_id"] == by_agent[f["agent_id"]], f  # every finding joined to its asset


def test_a_second_sync_with_nothing_changed_writes_nothing(store: Store, client: S1Client) -> None:
    sync_all(store, client)
    again = sync_all(store, client)
    for name in ("assets", "threats"):
        r = again[name]
        assert r.mode == "incremental"
        assert r.counts["created"] == 0
        assert r.counts["updated"] == 0
        assert r.counts["requests"] <= 2, (name, r.counts)
    assert again["vulnerabilities"].counts["created"] == 0
    assert again["vulnerabilities"].counts["updated"] == 0


def test_changes_after_an_advance_flow_in(store: Store, client: S1Client, console: Console) -> None:
    sync_all(store, client)
    summary = console.advance(48)  # the same handler POST /_sim/advance runs
    sync_all(store, client)
    created = set(summary["threats"]["created"])
    changed = set(summary["threats"]["statusChanged"])
    stored = {f["source_id"]: f for f in store.query_findings(kind="threat")}
    assert created <= set(stored)
    now_served = {t["id"]: t for t in served(client, "/threats")}
    for tid in changed | created:
        assert stored[tid]["incident_status"] == now_served[tid]["threatInfo"]["incidentStatus"]
    assert {a["agent_id"] for a in store.query_assets()} >= set(summary["agents"]["created"])


def test_a_scope_filter_syncs_and_closes_only_its_part(
    store: Store, client: S1Client, console: Console
) -> None:
    """A console configured with ``site_ids`` reads only those sites, and its snapshot closes
    nothing outside them (cleanup scoped to what the run covered)."""
    sync_all(store, client)  # first the whole scope of the token
    everything = {f["finding_id"]: f["state"] for f in store.query_findings(kind="vulnerability")}
    sites = sorted({a["site_id"] for a in store.query_assets()})
    assert len(sites) >= 3
    mine = sites[:2]
    scope = {"siteIds": ",".join(mine)}
    # A snapshot of two sites: the per-site partitions cover exactly their risks.
    plan = make("vulnerabilities").plan(None, full=True, ctx=Context("sim", "x", scope=scope))
    assert sorted(p.params["siteIds"] for p in partitions(client, plan)) == mine
    results = {
        n: run_connector(store, client, make(n), "sim", scope=scope)
        for n in ("assets", "threats", "vulnerabilities")
    }
    assert all(r.outcome == "success" for r in results.values()), results
    current = superseding(store.query_assets())
    served_there = {
        vuln_key("sim", r, current)
        for site in mine
        for r in served(client, "/application-management/risks", siteIds=site)
    }
    assert results["vulnerabilities"].counts["records"] == sum(
        1 for site in mine for _ in served(client, "/application-management/risks", siteIds=site)
    )
    assert results["vulnerabilities"].counts["fixed"] == 0
    after = {f["finding_id"]: f["state"] for f in store.query_findings(kind="vulnerability")}
    assert after == everything  # nothing outside the scope was closed, nothing inside changed
    assert served_there < set(everything)
    # The scoped checkpoints are their own: the unscoped ones are untouched.
    assert store.get_checkpoint("sim", "threats", scope_key(scope)) is not None
    assert results["threats"].mode == "full"  # a new scope starts afresh


def test_pages_of_big_records_are_kept_to_a_few_hundred(tmp_path: Path) -> None:
    """Threats (5–7 KB each) and agents (3.5 KB) come in pages of about ``PAGE_BYTES``, not a
    thousand records, so a page held while the next is on its way stays small; risks (0.6 KB)
    keep the API's 1000."""
    console = Console(SimConfig(seed=5, agents=900, threats_per_agent=1.0, epoch_us=EPOCH))
    store = open_store(tmp_path / "s1uvm.db")
    try:
        with SimulatorServer(console) as server:
            with S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as c:
                results = sync_all(store, c)
    finally:
        store.close()
    assert assets.PAGE < 1000 and threats.PAGE < assets.PAGE
    for name, size in (("assets", assets.PAGE), ("threats", threats.PAGE)):
        counts = results[name].counts
        assert counts["records"] > 2 * size, (name, counts)
        assert counts["pages"] == -(-counts["records"] // size), (name, counts)
        assert counts["bytes"] / counts["pages"] < 2 * 1024 * 1024, (name, counts)
    risks = results["vulnerabilities"].counts
    assert risks["records"] / risks["pages"] > 500  # a thousand a page, but the last of a site
