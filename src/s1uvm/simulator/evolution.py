"""``POST /_sim/advance``: moves the world forward deterministically.

Each step draws from a generator seeded by (seed, step number), so the same sequence of
advances from the same seed always yields the same world. What changes, per simulated hour,
scales with the world's size so that small and large worlds both see activity.
"""

from __future__ import annotations

import random
from typing import Any

from s1uvm.simulator import catalog
from s1uvm.simulator.generator import AGENT_VERSIONS, new_threat
from s1uvm.simulator.timefmt import US_PER_HOUR, US_PER_S, iso_us
from s1uvm.simulator.world import (
    FIRST_SCAN_DELAY_US,
    RISK_SLOTS,
    AddedRisk,
    Agent,
    Kind,
    World,
    make_id,
    risk_id,
)

# Expected events per agent per simulated hour.
NEW_AGENT_RATE = 0.0008
REIMAGE_RATE = 0.0003
DECOMMISSION_RATE = 0.0003
OFFLINE_RATE = 0.002
AGENT_UPDATE_RATE = 0.003
RESCAN_RATE = 1 / 24  # application inventory scans, about daily
REMEDIATION_PER_SCAN = 0.03  # share of an agent's risks a rescan finds fixed
NEW_RISK_RATE = 0.01  # per agent per hour
UPGRADE_RATE = 0.002  # an application upgraded, per agent per hour
THREAT_CHANGE_RATE = 0.05  # per open threat per hour
THREAT_REOPEN_RATE = 0.002  # per resolved threat per hour


def _count(rng: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


def advance(world: World, hours: float) -> dict[str, Any]:
    if not 0 < hours <= 24 * 366:
        raise ValueError("hours must be > 0 and at most 8784")
    world.step += 1
    rng = random.Random(f"{world.seed}:advance:{world.step}")
    start = world.now_us
    end = start + int(hours * US_PER_HOUR)

    def when() -> int:
        return start + 1 + rng.randrange(max(1, end - start))

    live = [a for a in world.agents if not a.is_decommissioned and not a.uninstalled]
    n_live = max(1, len(live))
    summary: dict[str, Any] = {
        "step": world.step,
        "hours": hours,
        "from": iso_us(start),
        "to": iso_us(end),
        "agents": {
            "created": [],
            "decommissioned": [],
            "reimaged": [],
            "updated": [],
            "wentOffline": [],
            "cameOnline": [],
            "heartbeats": 0,
        },
        "threats": {"created": [], "statusChanged": []},
        "risks": {
            "added": [],
            "remediated": [],
            "retired": [],
            "upgraded": 0,
            "rescannedAgents": 0,
        },
    }
    ag = summary["agents"]

    # Agents: installs, re-images, decommissions, updates, liveness.
    for _ in range(_count(rng, NEW_AGENT_RATE * n_live * hours)):
        host = world.host_count
        world.host_count += 1
        agent = _new_agent(world, rng, host, rng.choice(world.groups), when(), end)
        ag["created"].append(agent.id)
    for _ in range(_count(rng, REIMAGE_RATE * n_live * hours)):
        old = rng.choice(live)
        if old.is_decommissioned or old.superseded:
            continue  # only the record a machine currently runs can be re-imaged
        at = when()
        new = _new_agent(world, rng, old.host, old.group, at, end)
        old.superseded = True
        old.online = False
        old.last_active_us = min(old.last_active_us, at)
        if rng.random() < 0.5:
            old.decommissioned_us = at + 1
            old.updated_us = at + 1
        ag["reimaged"].append({"old": old.id, "new": new.id})
    for _ in range(_count(rng, DECOMMISSION_RATE * n_live * hours)):
        a = rng.choice(live)
        if a.is_decommissioned:
            continue
        at = when()
        a.decommissioned_us = at
        a.updated_us = max(a.updated_us, at)
        a.online = False
        a.last_active_us = min(a.last_active_us, at)
        ag["decommissioned"].append(a.id)
    for _ in range(_count(rng, AGENT_UPDATE_RATE * n_live * hours)):
        a = rng.choice(live)
        if not a.is_active or a.superseded or a.agent_version == AGENT_VERSIONS[-1]:
            continue  # only a running agent on an older version upgrades
        a.agent_version = AGENT_VERSIONS[-1]
        a.updated_us = max(a.updated_us, when())
        ag["updated"].append(a.id)
    for a in live:
        if a.is_decommissioned or a.superseded:
            continue  # a replaced record never reports again
        if a.online and rng.random() < OFFLINE_RATE * hours:
            a.online = False
            a.last_active_us = max(a.last_active_us, when())
            ag["wentOffline"].append(a.id)
        elif not a.online and rng.random() < 0.05 * hours:
            a.online = True
            ag["cameOnline"].append(a.id)
        if a.online:
            # Heartbeat: lastActiveDate moves, updatedAt does not (s1-api.md §5.2).
            a.last_active_us = max(a.last_active_us, end - rng.randrange(0, 300 * US_PER_S))
            ag["heartbeats"] += 1

    # Vulnerabilities: rescans find new CVEs and confirm remediations; upgrades swap versions.
    rk = summary["risks"]
    # New agents arrive with their inventory's risks; decommissioned ones take theirs along.
    for aid in ag["created"] + [p["new"] for p in ag["reimaged"]]:
        rk["added"].extend(r.id for r in world.risks_of(world.agents_by_id[aid]))
    for aid in ag["decommissioned"] + [p["old"] for p in ag["reimaged"]]:
        agent = world.agents_by_id[aid]
        if agent.is_decommissioned:
            rk["retired"].extend(_risk_ids_ignoring_state(world, agent))
    upgrades: list[dict[str, Any]] = []
    for a in world.agents:
        if not a.is_active or rng.random() >= min(1.0, RESCAN_RATE * hours):
            continue
        scan = max(a.app_scan_us, a.registered_us + FIRST_SCAN_DELAY_US, when())
        scan = min(scan, end)
        a.app_scan_us = max(a.app_scan_us, scan)
        rk["rescannedAgents"] += 1
        current = world.risks_of(a)
        for r in current:
            if rng.random() < REMEDIATION_PER_SCAN:
                a.removed = a.removed or set()
                a.removed.add(r.slot)
                rk["remediated"].append(r.id)
        if rng.random() < min(1.0, NEW_RISK_RATE * 24):
            added = _add_risk(world, rng, a, scan, {(r.app, r.cve) for r in current})
            if added:
                rk["added"].append(added)
        if rng.random() < min(1.0, UPGRADE_RATE * 24):
            upgrade = _upgrade(world, rng, a, scan)
            if upgrade is not None:
                rk["remediated"].extend(upgrade["remediated"])
                rk["added"].extend(upgrade["added"])
                upgrades.append(upgrade)
    # A risk found and fixed within this one advance was never served: it is neither.
    transient = set(rk["added"]) & set(rk["remediated"])
    if transient:
        rk["added"] = [r for r in rk["added"] if r not in transient]
        rk["remediated"] = [r for r in rk["remediated"] if r not in transient]
    rk["upgraded"] = len(upgrades)
    rk["upgrades"] = upgrades

    # Threats: new detections, status changes, the odd reopen.
    th = summary["threats"]
    infectable = [a for a in world.agents if a.is_active]
    density = world.config.threats_per_agent
    for _ in range(_count(rng, max(0.05, density * 0.002) * len(infectable) * hours)):
        if not infectable:
            break
        a = rng.choice(infectable)
        at = max(start + 1, min(when(), end - 5 * US_PER_S))
        fresh = new_threat(world, len(world.threats), a, at, rng, end, fresh=True)
        world.threats.append(fresh)
        world.threats_by_id[fresh.id] = fresh
        a.active_threats += 1
        th["created"].append(fresh.id)
    created = set(th["created"])
    changes: list[dict[str, Any]] = []
    for t in world.threats:
        if t.id in created:
            continue
        before = (t.incident_status, t.analyst_verdict)
        if t.incident_status != "resolved":
            if rng.random() < min(1.0, THREAT_CHANGE_RATE * hours):
                if t.incident_status == "unresolved" and rng.random() < 0.4:
                    t.incident_status = "in_progress"
                else:
                    t.incident_status = "resolved"
                    t.analyst_verdict = rng.choices(
                        ("true_positive", "false_positive", "undefined"), weights=(6, 3, 1)
                    )[0]
                    if t.analyst_verdict == "false_positive":
                        t.mitigation_status = "marked_as_benign"
                    elif t.analyst_verdict == "true_positive" and rng.random() < 0.7:
                        t.mitigation_status = "mitigated"  # the analyst acted on it
                    t.agent.active_threats = max(0, t.agent.active_threats - 1)
        elif rng.random() < min(1.0, THREAT_REOPEN_RATE * hours):
            t.incident_status = "unresolved"
            t.analyst_verdict = "undefined"
            if t.mitigation_status == "marked_as_benign":
                t.mitigation_status = "not_mitigated"
            t.agent.active_threats += 1
        if (t.incident_status, t.analyst_verdict) != before:
            t.updated_us = min(end, max(t.updated_us + 1, when()))
            th["statusChanged"].append(t.id)
            changes.append(
                {
                    "id": t.id,
                    "incidentStatus": t.incident_status,
                    "analystVerdict": t.analyst_verdict,
                    "mitigationStatus": t.mitigation_status,
                    "updatedAt": iso_us(t.updated_us),
                }
            )
    th["changes"] = changes

    world.now_us = end
    world.version += 1
    return summary


def _risk_ids_ignoring_state(world: World, agent: Agent) -> list[str]:
    """The ids the agent served before it was decommissioned."""
    was = agent.decommissioned_us
    agent.decommissioned_us = None
    try:
        return [r.id for r in world.risks_of(agent)]
    finally:
        agent.decommissioned_us = was


def _new_agent(world: World, rng: random.Random, host: int, group: Any, t: int, end: int) -> Agent:
    """An agent installed at ``t``; nothing about it is later than ``end`` (the new "now")."""
    seq = len(world.agents)
    created = min(end, t + rng.randrange(5_000, 15_000))
    agent = Agent(
        seq=seq,
        id=make_id(Kind.AGENT, seq),
        uuid=f"{rng.getrandbits(128):032x}",
        host=host,
        group=group,
        created_us=created,
        registered_us=t,
        updated_us=min(end, created + rng.randrange(20_000, 60_000_000)),
        last_active_us=min(end, t + rng.randrange(60 * US_PER_S, 600 * US_PER_S)),
        agent_version=AGENT_VERSIONS[-1],
        app_scan_us=min(end, t + FIRST_SCAN_DELAY_US + rng.randrange(US_PER_S)),
        full_scan_us=min(end, t + 25 * 60 * US_PER_S + rng.randrange(US_PER_S)),
    )
    agent.inventory_us = agent.app_scan_us
    agent.risk_base = world.install_plan(agent).target
    agent.next_slot = agent.risk_base
    world.agents.append(agent)
    world.agents_by_id[agent.id] = agent
    return agent


def _add_risk(
    world: World, rng: random.Random, a: Agent, scan: int, present: set[tuple[int, int]]
) -> str | None:
    """A newly published CVE hits an application the agent already runs."""
    if a.next_slot >= RISK_SLOTS:
        return None
    versions = world.current_versions(a)
    if not versions:
        return None
    app_index = rng.choice(sorted(versions))
    version = versions[app_index]
    options = [
        k
        for k in catalog.applicable(catalog.APPS[app_index], version)
        if (app_index, k) not in present
    ]
    if not options:
        return None
    slot = a.next_slot
    a.next_slot += 1
    a.added = a.added or []
    a.added.append(AddedRisk(slot, app_index, version, rng.choice(options), scan))
    return risk_id(a.seq, slot)


def _upgrade(world: World, rng: random.Random, a: Agent, scan: int) -> dict[str, Any] | None:
    """An application moves to a newer version: its old risks go; CVEs the new version still
    has come back as new risk records (new ids, same CVE and product, the new version)."""
    versions = world.current_versions(a)
    upgradable = [i for i, v in versions.items() if v + 1 < len(catalog.APPS[i].versions)]
    if not upgradable:
        return None
    app_index = rng.choice(sorted(upgradable))
    app = catalog.APPS[app_index]
    old_version = versions[app_index]
    new_version = old_version + 1
    removed: list[str] = []
    still: list[int] = []
    for r in world.risks_of(a):
        if r.app != app_index:
            continue
        a.removed = a.removed or set()
        a.removed.add(r.slot)
        removed.append(r.id)
        if app.cves[r.cve].fixed_in > new_version:
            still.append(r.cve)
    added: list[str] = []
    for cve_index in still:
        if a.next_slot >= RISK_SLOTS:
            break
        slot = a.next_slot
        a.next_slot += 1
        a.added = a.added or []
        a.added.append(AddedRisk(slot, app_index, new_version, cve_index, scan))
        added.append(risk_id(a.seq, slot))
    a.upgrades = a.upgrades or {}
    a.upgrades[app_index] = new_version
    return {
        "agentId": a.id,
        "applicationName": app.name,
        "fromVersion": app.versions[old_version],
        "toVersion": app.versions[new_version],
        "remediated": removed,
        "added": added,
    }
