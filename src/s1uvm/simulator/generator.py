"""Builds the initial world from a seed: scope tree, agents (some decommissioned, some hosts
re-imaged under a new agent id), threats (most endpoints have none) and the risk plan.

Only compact state is built here; hosts and risks are derived on demand (world.py), which is
what keeps a 100,000-agent, million-risk world cheap to build.
"""

from __future__ import annotations

import random

from s1uvm.simulator import catalog
from s1uvm.simulator.timefmt import US_PER_DAY, US_PER_HOUR, US_PER_S
from s1uvm.simulator.world import (
    FIRST_SCAN_DELAY_US,
    Account,
    Agent,
    Group,
    Kind,
    Site,
    Threat,
    World,
    WorldConfig,
    make_id,
)

AGENT_VERSIONS = ("23.4.2.14", "24.1.5.277", "24.2.3.471", "25.1.3.334")
HISTORY_DAYS = 540  # how far back the oldest agents were installed


def _jitter(rng: random.Random) -> int:
    """Sub-second part of an instant: real timestamps carry microseconds (s1-api.md §7)."""
    return rng.randrange(US_PER_S)


def build(config: WorldConfig) -> World:
    world = World(config)
    rng = random.Random(f"{config.seed}:scope")
    now = config.epoch_us
    start = now - HISTORY_DAYS * US_PER_DAY
    for a in range(config.accounts):
        created = start - rng.randrange(30, 400) * US_PER_DAY - _jitter(rng)
        account = Account(
            a,
            make_id(Kind.ACCOUNT, a),
            f"Account {a + 1}" if a else "Default",
            created,
            created + rng.randrange(1, 30) * US_PER_DAY + _jitter(rng),
        )
        world.accounts.append(account)
        for s in range(config.sites_per_account):
            seq = len(world.sites)
            name = "Default site" if s == 0 else f"Site {chr(65 + s % 26)}{s // 26 or ''}"
            site_created = created + US_PER_DAY * s + rng.randrange(US_PER_HOUR)
            site = Site(
                seq,
                make_id(Kind.SITE, seq),
                name,
                account,
                site_created,
                site_created + US_PER_DAY + rng.randrange(US_PER_HOUR),
                s == 0,
            )
            world.sites.append(site)
            for g in range(config.groups_per_site):
                gseq = len(world.groups)
                group_created = site.created_us + g * US_PER_HOUR + rng.randrange(US_PER_HOUR)
                group = Group(
                    gseq,
                    make_id(Kind.GROUP, gseq),
                    "Default Group" if g == 0 else f"Group {g}",
                    site,
                    group_created,
                    max(site.updated_us, group_created + _jitter(rng)),
                    g == 0,
                )
                world.groups.append(group)
    _build_agents(world, rng, start, now)
    _build_threats(world, now)
    return world


def _host_sequence(rng: random.Random, n: int, hosts: int, reimaged: set[int]) -> list[int]:
    """Which host each agent (in creation order) runs on: a re-imaged host appears twice, first
    under its old agent record and later under the new one."""
    host_of: list[int] = []
    pending_old: dict[int, int] = {}
    next_host = 0
    for _ in range(n):
        if pending_old and (next_host >= hosts or rng.random() < 0.3):
            host = next(iter(pending_old))
            del pending_old[host]
        else:
            host = next_host
            next_host += 1
            if host in reimaged:
                pending_old[host] = 1
        host_of.append(host)
    return host_of


def _build_agents(world: World, rng: random.Random, start: int, now: int) -> None:
    config = world.config
    n = config.agents
    reimaged = int(n * config.reimaged_share)
    hosts = n - reimaged
    world.host_count = hosts
    # Creation instants first, sorted, so that agent ids grow with creation time as S1's do.
    created = sorted(start + rng.randrange(0, now - start - 2 * US_PER_HOUR) for _ in range(n))
    reimaged_hosts = set(rng.sample(range(hosts), reimaged)) if reimaged else set()
    host_of = _host_sequence(rng, n, hosts, reimaged_hosts)
    last_agent_of_host: dict[int, Agent] = {}
    for seq in range(n):
        arng = random.Random(f"{config.seed}:agent:{seq}")
        host = host_of[seq]
        c = created[seq]
        agent = Agent(
            seq=seq,
            id=make_id(Kind.AGENT, seq),
            uuid=f"{arng.getrandbits(128):032x}",
            host=host,
            group=arng.choice(world.groups),
            created_us=c + arng.randrange(5_000, 15_000),
            registered_us=c,
            updated_us=c + arng.randrange(0, max(1, now - c)),
            # Online agents have checked in within the last hour, to the microsecond.
            last_active_us=now - arng.randrange(0, 3600 * US_PER_S),
            agent_version=arng.choice(AGENT_VERSIONS),
            app_scan_us=now - arng.randrange(0, 7 * 24 * 3600) * US_PER_S,
            full_scan_us=c + arng.randrange(10 * 60 * US_PER_S, 40 * 60 * US_PER_S),
        )
        previous = last_agent_of_host.get(host)
        if previous is not None:
            # Re-imaged: the same machine (and scope) came back under a new agent id; the old
            # record stops reporting and is either decommissioned or left inactive.
            agent.group = previous.group
            _retire_old_record(previous, c, arng)
        last_agent_of_host[host] = agent
        roll = arng.random()
        if roll < config.decommissioned_share:
            agent.decommissioned_us = agent.updated_us
            agent.online = False
            silent = arng.randrange(US_PER_HOUR, 30 * US_PER_DAY)
            agent.last_active_us = max(agent.created_us, agent.decommissioned_us - silent)
        elif roll < config.decommissioned_share + config.offline_share:
            agent.online = False
            agent.last_active_us = max(
                agent.created_us, now - arng.randrange(US_PER_DAY, 60 * US_PER_DAY)
            )
        agent.app_scan_us = max(
            c + FIRST_SCAN_DELAY_US, min(agent.app_scan_us, agent.last_active_us)
        )
        agent.inventory_us = agent.app_scan_us
        agent.risk_base = world.install_plan(agent).target
        agent.next_slot = agent.risk_base
        world.agents.append(agent)
        world.agents_by_id[agent.id] = agent


def _retire_old_record(old: Agent, reimaged_at: int, rng: random.Random) -> None:
    old.superseded = True
    if old.is_decommissioned:
        return  # already settled; the machine was simply reinstalled later
    old.online = False
    old.last_active_us = max(old.created_us, min(old.last_active_us, reimaged_at))
    old.app_scan_us = max(old.registered_us + FIRST_SCAN_DELAY_US, old.last_active_us)
    old.inventory_us = min(old.inventory_us, old.app_scan_us)
    old.updated_us = max(old.created_us, min(old.updated_us, reimaged_at))
    if rng.random() < 0.5:
        old.decommissioned_us = reimaged_at + rng.randrange(US_PER_HOUR, 72 * US_PER_HOUR)
        old.updated_us = old.decommissioned_us


INCIDENT = ("unresolved", "in_progress", "resolved")


def _build_threats(world: World, now: int) -> None:
    config = world.config
    density = config.threats_per_agent
    if density <= 0:
        return
    share = min(0.15, density)
    per_infected = density / share
    # (detected at, agent, seed of the threat's own draws): a seed, not a generator, so that
    # the drafts of a large world stay small.
    drafts: list[tuple[int, Agent, int]] = []
    for agent in world.agents:
        trng = random.Random(f"{config.seed}:threats:{agent.seq}")
        if trng.random() >= share:
            continue
        count = 1
        while trng.random() < 1 - 1 / per_infected:
            count += 1
        end = agent.decommissioned_us or agent.last_active_us
        for _ in range(count):
            when = agent.registered_us + trng.randrange(0, max(1, end - agent.registered_us))
            drafts.append((when, agent, trng.getrandbits(64)))
    drafts.sort(key=lambda d: (d[0], d[1].seq))
    for seq, (when, agent, sub_seed) in enumerate(drafts):
        trng = random.Random(sub_seed)
        world.threats.append(new_threat(world, seq, agent, when, trng, now))
    for t in world.threats:
        world.threats_by_id[t.id] = t
        if t.incident_status != "resolved":
            t.agent.active_threats += 1


def new_threat(
    world: World,
    seq: int,
    agent: Agent,
    when: int,
    rng: random.Random,
    now: int,
    fresh: bool = False,
) -> Threat:
    """A threat detected on ``agent`` at ``when``, with a status that has evolved up to ``now``
    (or, when ``fresh``, just detected and not yet looked at).

    An agent in protect mode mitigates malicious detections itself; otherwise mitigation
    follows an analyst's true-positive verdict, and a false positive is marked as benign.
    """
    malware = rng.randrange(len(catalog.MALWARE))
    confidence = rng.choices(("malicious", "suspicious", "n/a"), weights=(60, 35, 5))[0]
    age_days = max(0.0, (now - when) / US_PER_DAY)
    # Older threats are mostly dealt with; recent ones are still open.
    p_resolved = min(0.9, 0.2 + age_days / 30)
    status = "resolved" if rng.random() < p_resolved else rng.choice(("unresolved", "in_progress"))
    if fresh:
        status = "unresolved"
    verdict = "undefined"
    if status == "resolved":
        verdict = rng.choices(
            ("true_positive", "false_positive", "suspicious", "undefined"), weights=(50, 20, 10, 20)
        )[0]
    elif rng.random() < 0.3 and not fresh:
        verdict = "suspicious"
    auto = agent.mitigation_mode == "protect" and confidence == "malicious"
    if verdict == "false_positive":
        mitigation = "marked_as_benign"
    elif (auto and rng.random() < 0.9) or (verdict == "true_positive" and rng.random() < 0.7):
        mitigation = "mitigated"
    else:
        mitigation = "not_mitigated"
    updated = when + rng.randrange(200_000, 4_000_000)
    if status != "unresolved":
        updated = when + rng.randrange(1, 72 * 3600 * US_PER_S)
    if updated > now:  # not yet: the last change was a moment before the console's clock
        updated = now - rng.randrange(1, 1_000_000)
    updated = max(updated, when)
    return Threat(
        seq=seq,
        id=make_id(Kind.THREAT, seq),
        agent=agent,
        malware=malware,
        created_us=when,
        identified_us=when - rng.randrange(100_000, 900_000),
        updated_us=updated,
        confidence=confidence,
        incident_status=status,
        analyst_verdict=verdict,
        mitigation_status=mitigation,
        detect_group=agent.group,
        detect_agent_version=agent.agent_version,
    )
