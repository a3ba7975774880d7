"""One hostile record on a page, on both backends: JSON nested a thousand deep, an escaped lone
surrogate, a NUL, a number beyond a double. That record alone is rejected — kept once in
``rejected_records`` however many runs meet it — and the rest of its page is stored exactly
as a clean console's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from s1uvm.connectors import Context, VulnerabilitiesConnector, make
from s1uvm.s1 import ApiToken, RateLimiter, RetryPolicy, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.simulator.hostile import HOSTILE_ID
from s1uvm.store import Store, open_store
from s1uvm.sync import run_connector
from tests.databases import BACKENDS, database

EPOCH = 1_780_000_000_000_000
ENDPOINT = {"assets": "agents", "threats": "threats", "vulnerabilities": "risks"}


def stored(store: Store) -> dict[str, Any]:
    return {
        "assets": sorted(
            (a["agent_id"], a["hostname"], a["lifecycle"], str(a["ipv4"]))
            for a in store.query_assets()
        ),
        "findings": sorted(
            (f["finding_id"], f["state"], f["severity"], str(f["cvss_score"]), f["title"])
            for f in store.query_findings()
        ),
    }


def rejects(store: Store) -> list[tuple[str, str, str, int]]:
    rows = store._rows("SELECT connector, source_id, reason, run_id FROM rejected_records", [])
    return sorted((r["connector"], r["source_id"], r["reason"], r["run_id"]) for r in rows)


def sync_twice(where: str, connector: str, faults: str) -> tuple[Store, list[int]]:
    """Two runs of ``connector`` through ``faults``; the store, and its rejects after each."""
    console = Console(SimConfig(seed=13, agents=60, epoch_us=EPOCH, faults=faults))
    store = open_store(where)
    counts = []
    with (
        SimulatorServer(console) as server,
        S1Client(
            server.url,
            ApiToken(console.token),
            limiter=RateLimiter(),
            retry=RetryPolicy(attempts=2, base=0.01, cap=0.01),
        ) as client,
    ):
        for _ in range(2):
            result = run_connector(store, client, make(connector), "sim")
            assert result.outcome == "success", result.error
            counts.append(store.counts()["rejected_records"])
    return store, counts


CASES = [
    ("deep-json", "assets", "the record is nested too deeply to be read"),
    ("surrogate", "assets", "the record is not valid JSON"),
    ("nul", "threats", "a text field holds a NUL character"),
    ("nul", "assets", "a text field holds a NUL character"),
    ("non-finite", "vulnerabilities", "a number is not finite: '1e309'"),
    ("non-finite", "assets", "Number out of range"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kind", "connector", "reason"), CASES)
def test_a_hostile_record_is_rejected_alone_and_kept_once(
    backend: str, kind: str, connector: str, reason: str, tmp_path: Path
) -> None:
    with database(backend, tmp_path / "clean") as clean_at:
        clean, _ = sync_twice(clean_at, connector, "")
        try:
            expected = stored(clean)
        finally:
            clean.close()
    with database(backend, tmp_path / "hostile") as where:
        store, counts = sync_twice(where, connector, f"{kind}:1.0:{ENDPOINT[connector]}")
        try:
            assert stored(store) == expected, "every good record of the page is stored"
            found = rejects(store)
            assert found, "the hostile record is kept aside"
            assert counts[0] == counts[1] == len(found) == 1, "kept once, not once a run"
            ((name, source_id, why, run_id),) = found
            assert name == connector
            assert source_id == HOSTILE_ID  # which record it was
            assert reason in why, why
            # Met again by the second run (not merely absent from it): that run's id.
            assert run_id == max(r["run_id"] for r in store.runs())
        finally:
            store.close()


def test_a_score_outside_0_to_10_is_rejected() -> None:
    ctx = Context("c", "2026-05-28T20:26:40.000000Z")
    good = {"id": "1", "cveId": "CVE-2024-1", "endpointId": "5", "baseScore": "9.8"}
    items = [
        msgspec.Raw(
            msgspec.json.encode(
                {**good, "id": str(i), "cveId": f"CVE-2024-{i}", "baseScore": score}
            )
        )
        for i, score in enumerate(["9.8", "-5", "10.5", "Infinity", "7"], 1)
    ]
    batch = VulnerabilitiesConnector().transform(items, ctx)
    assert sorted((f.source_id, f.cvss_score) for f in batch.findings) == [("1", 9.8), ("5", 7.0)]
    assert sorted((r.source_id, r.reason) for r in batch.rejected) == [
        ("2", "a CVSS score is outside 0-10: '-5'"),
        ("3", "a CVSS score is outside 0-10: '10.5'"),
        ("4", "a number is not finite: 'Infinity'"),
    ]
