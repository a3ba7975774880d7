"""Faults survived: a sync through each injected fault alone, and all of them mixed, ends with a
store identical to a clean run's; when retries run out the run is recorded as failed with one
line, the checkpoint does not move and no finding is closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from s1uvm.connectors import make
from s1uvm.s1 import ApiToken, RateLimiter, RetryPolicy, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import Store, open_store
from s1uvm.sync import run_connector

pytestmark = pytest.mark.system

EPOCH = 1_780_000_000_000_000
NAMES = ("assets", "threats", "vulnerabilities")
ASSET_FIELDS = (
    "asset_id",
    "hostname",
    "lifecycle",
    "mac",
    "ipv4",
    "site_id",
    "is_active",
    "is_decommissioned",
    "superseded_by",
    "source_updated_at",
)
FINDING_FIELDS = (
    "kind",
    "source_id",
    "asset_id",
    "state",
    "severity",
    "title",
    "cve_id",
    "app_version",
    "incident_status",
    "analyst_verdict",
    "first_seen_at",
)
# slow stalls 1.5 s against a 0.5 s client timeout; expire-cursor is rarer than the others
# because an expired cursor costs a restart of the walk from its checkpoint.
FAULTS = [
    "500:0.2",
    "502:0.2",
    "503:0.2",
    "429:0.2",
    "slow:0.05",
    "drop:0.2",
    "truncate:0.2",
    "repeat-cursor:0.2",
    "empty-page:0.2",
    "expire-cursor:0.1",
]
MIXED = (
    "500:0.03,502:0.03,503:0.03,429:0.03,slow:0.02,drop:0.03,truncate:0.03,"
    "repeat-cursor:0.05,empty-page:0.05,expire-cursor:0.02"
)


def snapshot(store: Store) -> dict[str, Any]:
    return {
        "assets": {
            a["agent_id"]: tuple(str(a[f]) for f in ASSET_FIELDS) for a in store.query_assets()
        },
        "findings": {
            f["finding_id"]: tuple(str(f[k]) for k in FINDING_FIELDS)
            for f in store.query_findings()
        },
        "rejected": store.counts()["rejected_records"],
    }


def synced(tmp: Path, faults: str, advance: bool = True) -> dict[str, Any]:
    """Sync, advance the world, sync again — through ``faults`` — and describe the store."""
    console = Console(
        SimConfig(seed=71, agents=1000, epoch_us=EPOCH, faults=faults, slow_seconds=1.5)
    )
    store = open_store(tmp / f"{abs(hash(faults))}.db")
    try:
        with (
            SimulatorServer(console) as server,
            S1Client(
                server.url,
                ApiToken(console.token),
                timeout=0.5,
                limiter=RateLimiter(),
                retry=RetryPolicy(attempts=12, base=0.01, cap=0.05),
            ) as client,
        ):
            for step in range(2 if advance else 1):
                if step:
                    console.advance(36)
                for name in NAMES:
                    result = run_connector(store, client, make(name), "sim")
                    assert result.outcome == "success", (faults, name, result.error)
            stats = console.state()["stats"]
        assert faults == "" or stats["faults"] > 0, "the faults were really injected"
        return snapshot(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synced(tmp_path_factory.mktemp("clean"), "")


@pytest.mark.parametrize("faults", [*FAULTS, MIXED])
def test_a_faulty_console_yields_the_clean_store(
    clean: dict[str, Any], tmp_path: Path, faults: str
) -> None:
    assert synced(tmp_path, faults) == clean


def test_when_retries_run_out_nothing_moves(tmp_path: Path) -> None:
    console = Console(SimConfig(seed=71, agents=120, epoch_us=EPOCH))
    store = open_store(tmp_path / "s.db")
    try:
        with (
            SimulatorServer(console) as server,
            S1Client(
                server.url,
                ApiToken(console.token),
                limiter=RateLimiter(),
                retry=RetryPolicy(attempts=3, base=0.01, cap=0.02),
            ) as client,
        ):
            for name in NAMES:
                run_connector(store, client, make(name), "sim")
            checkpoint = store.get_checkpoint("sim", "threats")
            before = snapshot(store)
            console.advance(72)
            console.set_faults("503:1.0:threats,503:1.0:risks")
            threats = run_connector(store, client, make("threats"), "sim")
            vulns = run_connector(store, client, make("vulnerabilities"), "sim")
        assert threats.outcome == vulns.outcome == "failed"
        assert threats.error is not None
        assert "\n" not in threats.error and "503" in threats.error
        assert store.get_checkpoint("sim", "threats") == checkpoint
        assert snapshot(store)["findings"] == before["findings"], "no finding moved or closed"
        failed = {r["connector"]: r for r in store.last_runs()}
        assert failed["threats"]["outcome"] == "failed"
        assert not failed["vulnerabilities"]["complete_snapshot"]
    finally:
        store.close()
