"""The generated world: deterministic, shaped like a real fleet, and cheap at 100,000 agents."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx2
import pytest

from s1uvm.simulator import Console, ConsoleTransport, SimConfig
from s1uvm.simulator.generator import build
from s1uvm.simulator.world import WorldConfig

EPOCH = 1_780_000_000_000_000


def world(**kw: float) -> Console:
    return Console(SimConfig(seed=int(kw.pop("seed", 5)), epoch_us=EPOCH, **kw))  # type: ignore[arg-type]


def test_knobs_are_honoured() -> None:
    w = build(
        WorldConfig(
            seed=1,
            accounts=3,
            sites_per_account=4,
            groups_per_site=2,
            agents=2000,
            threats_per_agent=0.3,
            risks_per_agent=8.0,
            epoch_us=EPOCH,
        )
    )
    assert (len(w.accounts), len(w.sites), len(w.groups), len(w.agents)) == (3, 12, 24, 2000)
    threats = len(w.threats)
    risks = sum(a.risk_count() for a in w.agents)
    assert 0.2 * 2000 < threats < 0.4 * 2000
    assert 5 * 2000 < risks < 11 * 2000


def test_most_endpoints_have_no_threats_and_vulnerabilities_are_skewed() -> None:
    w = build(WorldConfig(seed=2, agents=3000, threats_per_agent=0.5, epoch_us=EPOCH))
    per_agent = Counter(t.agent.seq for t in w.threats)
    assert sum(1 for a in w.agents if a.seq not in per_agent) > 0.8 * len(w.agents)
    counts = sorted((a.risk_base for a in w.agents), reverse=True)
    top_tenth = sum(counts[: len(counts) // 10])
    assert top_tenth > 0.25 * sum(counts)  # a tenth of the fleet holds a quarter or more
    assert counts.count(0) > 0.1 * len(counts)


def test_decommissioned_reimaged_and_multi_nic_hosts_exist() -> None:
    w = build(WorldConfig(seed=3, agents=2000, epoch_us=EPOCH))
    assert sum(1 for a in w.agents if a.is_decommissioned) > 20
    by_host: dict[int, list[int]] = {}
    for a in w.agents:
        by_host.setdefault(a.host, []).append(a.seq)
    reimaged = [seqs for seqs in by_host.values() if len(seqs) > 1]
    assert len(reimaged) >= 20
    for seqs in reimaged:
        old, new = w.agents[seqs[0]], w.agents[seqs[-1]]
        assert old.id != new.id
        assert old.uuid != new.uuid
        assert w.host(old.host) is w.host(new.host)  # same serial, hostname and MACs
        assert not old.is_active
    assert sum(1 for a in w.agents if len(w.host(a.host).nics) > 1) > 100


def test_reimaged_hosts_look_the_same_through_the_api() -> None:
    console = world(agents=600)
    assert console.world is not None
    with httpx2.Client(
        transport=ConsoleTransport(console),
        base_url="http://s/web/api/v2.1",
        headers={"Authorization": f"ApiToken {console.token}"},
    ) as c:
        agents = c.get("/agents", params={"limit": 1000, "isDecommissioned": "true,false"}).json()[
            "data"
        ]
    by_name: dict[str, list[dict[str, object]]] = {}
    for a in agents:
        by_name.setdefault(str(a["computerName"]), []).append(a)
    pairs = [v for v in by_name.values() if len(v) > 1]
    assert pairs
    for group in pairs:
        assert len({g["id"] for g in group}) == len(group)
        assert len({g["serialNumber"] for g in group}) == 1
        macs = [
            tuple(n["physical"] for n in g["networkInterfaces"])  # type: ignore[attr-defined]
            for g in group
        ]
        assert len(set(macs)) == 1


def test_same_seed_same_world_other_seed_other_world() -> None:
    def snapshot(seed: int) -> list[object]:
        w = build(WorldConfig(seed=seed, agents=300, epoch_us=EPOCH))
        return [(a.id, a.uuid, a.updated_us, a.risk_base) for a in w.agents] + [
            (t.id, t.updated_us, t.incident_status) for t in w.threats
        ]

    assert snapshot(11) == snapshot(11)
    assert snapshot(11) != snapshot(12)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.system
def test_a_hundred_thousand_agents_are_built_without_their_risks() -> None:
    before = rss_bytes()
    started = time.perf_counter()
    console = Console(SimConfig(seed=1, agents=100_000, risks_per_agent=10, epoch_us=EPOCH))
    built = time.perf_counter() - started
    peak = rss_bytes() - before
    assert console.world is not None
    risks = sum(a.risk_count() for a in console.world.agents)
    assert risks > 800_000
    # A million rendered risks would need several GB; the compact world needs a fraction.
    assert peak < 400 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    with httpx2.Client(
        transport=ConsoleTransport(console),
        base_url="http://s/web/api/v2.1",
        headers={"Authorization": f"ApiToken {console.token}"},
    ) as c:
        page = c.get(
            "/application-management/risks", params={"limit": 1000, "skipCount": "true"}
        ).json()
    assert len(page["data"]) == 1000
    assert built < 120
