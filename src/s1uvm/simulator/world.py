"""The simulated console's state: scope objects, agents, threats and the overlay from which
application risks are derived.

State is kept compact so that 100,000 agents and a million risks fit easily: an agent holds only
what changes over time (timestamps, flags, its risk overlay); everything static about its host
(name, OS, NICs, serial) is re-derived from the seed when a record is rendered, and its risks are
re-derived from the seed plus the overlay when they are served. Nothing here knows about HTTP.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from dataclasses import dataclass
from functools import lru_cache

from s1uvm.simulator import catalog

ID_BASE = 1_523_974_406_517_023_959  # 19 digits, above the API's 10**17 minimum
ID_SPACE = 10**16  # each kind of object has its own block of ids
RISK_SLOTS = 4096  # risk ids are agent-major: ID = base + agent.seq * RISK_SLOTS + slot
FIRST_SCAN_DELAY_US = 15 * 60 * 1_000_000  # the first application scan after install
SCAN_INTERVAL_US = 24 * 3600 * 1_000_000  # application scans run about daily


class Kind:
    ACCOUNT, SITE, GROUP, AGENT, THREAT, RISK, NIC, USER = range(8)


def make_id(kind: int, seq: int) -> str:
    return str(ID_BASE + kind * ID_SPACE + seq)


def risk_id(agent_seq: int, slot: int) -> str:
    return str(ID_BASE + Kind.RISK * ID_SPACE + agent_seq * RISK_SLOTS + slot)


def id_key(value: str) -> tuple[int, str]:
    """Numeric order of decimal-string ids without converting them (they exceed 2**53)."""
    return (len(value), value)


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """Knobs of the generated world. Same config and seed → the same world, byte for byte."""

    seed: int = 1
    accounts: int = 2
    sites_per_account: int = 2
    groups_per_site: int = 2
    agents: int = 200
    threats_per_agent: float = 0.5
    risks_per_agent: float = 12.0
    decommissioned_share: float = 0.03
    reimaged_share: float = 0.02
    offline_share: float = 0.05
    epoch_us: int = 0  # the simulated "now" when the world is built
    # Share of records rendered with the legacy type quirks seen in public samples (booleans as
    # "True"/"False" strings, a boolean in a timestamp field). Off by default: the defaults
    # follow the 2025 responses, which have none of them.
    quirks: float = 0.0


@dataclass(slots=True, eq=False)
class Account:
    seq: int
    id: str
    name: str
    created_us: int
    updated_us: int


@dataclass(slots=True, eq=False)
class Site:
    seq: int
    id: str
    name: str
    account: Account
    created_us: int
    updated_us: int
    is_default: bool


@dataclass(slots=True, eq=False)
class Group:
    seq: int
    id: str
    name: str
    site: Site
    created_us: int
    updated_us: int
    is_default: bool


@dataclass(frozen=True, slots=True)
class Nic:
    name: str
    inet: tuple[str, ...]
    inet6: tuple[str, ...]
    mac: str
    gateway_ip: str
    gateway_mac: str


@dataclass(frozen=True, slots=True)
class Host:
    """What a physical or virtual machine looks like; stays the same when it is re-imaged."""

    hostname: str
    domain: str
    os_type: str
    os_name: str
    os_revision: str
    machine_type: str
    serial: str | None
    model: str
    cpu_id: str
    cpu_count: int
    core_count: int
    memory_mb: int
    nics: tuple[Nic, ...]
    external_ip: str
    user: str


@dataclass(slots=True, eq=False)
class AddedRisk:
    slot: int
    app: int
    version: int
    cve: int
    detected_us: int


@dataclass(slots=True, eq=False)
class Agent:
    seq: int
    id: str
    uuid: str
    host: int
    group: Group
    created_us: int
    registered_us: int
    updated_us: int
    last_active_us: int
    agent_version: str
    online: bool = True
    decommissioned_us: int | None = None
    uninstalled: bool = False
    app_scan_us: int = 0
    full_scan_us: int = 0
    active_threats: int = 0
    risk_base: int = 0  # how many of the seed-derived risks this agent started with
    inventory_us: int = 0  # the application scan that found the seed-derived risks
    superseded: bool = False  # its host was re-imaged and now runs a newer agent record
    removed: set[int] | None = None  # slots remediated since
    added: list[AddedRisk] | None = None  # risks found since (new CVEs, upgraded versions)
    upgrades: dict[int, int] | None = None  # application index → upgraded version index
    next_slot: int = 0

    @property
    def site(self) -> Site:
        return self.group.site

    @property
    def account(self) -> Account:
        return self.group.site.account

    @property
    def is_decommissioned(self) -> bool:
        return self.decommissioned_us is not None

    @property
    def is_active(self) -> bool:
        return self.online and not self.is_decommissioned and not self.uninstalled

    @property
    def mitigation_mode(self) -> str:
        """The agent's policy, fixed per agent: most fleets protect, some only detect."""
        return "protect" if int(self.uuid[:2], 16) < 179 else "detect"

    def risk_count(self) -> int:
        if self.is_decommissioned or self.uninstalled:
            return 0
        return self.risk_base - len(self.removed or ()) + len(self.added or ())


@dataclass(slots=True, eq=False)
class Threat:
    seq: int
    id: str
    agent: Agent
    malware: int
    created_us: int
    identified_us: int
    updated_us: int
    confidence: str
    incident_status: str
    analyst_verdict: str
    mitigation_status: str
    detect_group: Group  # the agent's scope when the threat was detected
    detect_agent_version: str


@dataclass(frozen=True, slots=True)
class Risk:
    """One CVE on one application version on one endpoint, as served by the risks endpoint."""

    id: str
    agent: Agent
    slot: int
    app: int
    version: int
    cve: int
    detected_us: int


@dataclass(frozen=True, slots=True)
class InstallPlan:
    target: int
    apps: tuple[tuple[int, int], ...]  # (app index, version index), in the order risks are taken


class World:
    """Mutable state plus the seed from which everything static is re-derived."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.seed = config.seed
        self.now_us = config.epoch_us
        self.version = 0  # bumped on every change; caches key on it
        self.step = 0  # how many times the world has been advanced
        self.accounts: list[Account] = []
        self.sites: list[Site] = []
        self.groups: list[Group] = []
        self.agents: list[Agent] = []
        self.agents_by_id: dict[str, Agent] = {}
        self.threats: list[Threat] = []
        self.threats_by_id: dict[str, Threat] = {}
        self.host_count = 0

    # -- hosts -----------------------------------------------------------------------------
    def host(self, index: int) -> Host:
        return _host(self.seed, index)

    def host_os_type(self, index: int) -> str:
        return _host_os(self.seed, index)[0]

    # -- risks -----------------------------------------------------------------------------
    def install_plan(self, agent: Agent) -> InstallPlan:
        return _install_plan(self.seed, agent.seq, agent.host, self.config.risks_per_agent)

    def _inventory_window(self, agent: Agent) -> tuple[int, int]:
        """First application scan after install, and the inventory scan the seed-derived
        risks were established by."""
        first = agent.registered_us + FIRST_SCAN_DELAY_US
        return first, max(first, agent.inventory_us)

    def base_risk_count(self, agent: Agent) -> int:
        """How many seed-derived risks the agent has: its plan's target, limited to CVEs that
        were published by its inventory scan (a scan cannot find a CVE not yet published)."""
        plan = self.install_plan(agent)
        if not plan.target:
            return 0
        _, last = self._inventory_window(agent)
        found = sum(catalog.published_by(app, version, last) for app, version in plan.apps)
        return min(plan.target, found)

    def base_risks(self, agent: Agent) -> list[Risk]:
        """The seed-derived risks the agent started with (before remediation and additions).

        Each is detected by the first daily application scan after both the install and the
        CVE's publication, never later than the inventory scan that established them, so a
        scan's findings share one instant give or take microseconds, as in the real samples.
        """
        plan = self.install_plan(agent)
        out: list[Risk] = []
        slot = 0
        first_scan, last = self._inventory_window(agent)
        for app_index, version in plan.apps:
            app = catalog.APPS[app_index]
            for cve_index in catalog.applicable(app, version):
                if slot >= agent.risk_base:
                    return out
                published = app.cves[cve_index].published_us
                if published > last:
                    continue  # found later, if at all, by a rescan (evolution)
                if published <= first_scan:
                    detected = first_scan
                else:
                    days = -(-(published - first_scan) // SCAN_INTERVAL_US)
                    detected = min(last, first_scan + days * SCAN_INTERVAL_US)
                detected += 17 * slot + (agent.seq * 7 + slot * 13) % 11
                out.append(
                    Risk(
                        risk_id(agent.seq, slot),
                        agent,
                        slot,
                        app_index,
                        version,
                        cve_index,
                        detected,
                    )
                )
                slot += 1
        return out

    def risks_of(self, agent: Agent) -> list[Risk]:
        """The risks the console serves for this agent now, in id order."""
        if agent.is_decommissioned or agent.uninstalled:
            return []
        removed = agent.removed
        out = [r for r in self.base_risks(agent) if not removed or r.slot not in removed]
        for a in agent.added or ():
            if removed and a.slot in removed:
                continue
            out.append(
                Risk(
                    risk_id(agent.seq, a.slot),
                    agent,
                    a.slot,
                    a.app,
                    a.version,
                    a.cve,
                    a.detected_us,
                )
            )
        return out

    def current_versions(self, agent: Agent) -> dict[int, int]:
        """Installed version per application, after any upgrades."""
        versions = dict(self.install_plan(agent).apps)
        versions.update(agent.upgrades or {})
        return versions


# OS weights: a Windows-heavy fleet with macOS laptops and Linux servers.
_OS_WEIGHTS = (30, 18, 10, 8, 1, 10, 5, 10, 5, 3)
_MODELS = {
    "windows": (
        "Dell Inc. - Latitude 7440",
        "LENOVO - ThinkPad T14 Gen 4",
        "HP - EliteBook 840 G9",
        "QEMU - Standard PC (Q35 + ICH9, 2009)",
        "VMware, Inc. - VMware7,1",
    ),
    "macos": ("Apple - MacBookPro18,3", "Apple - Mac14,9", "Apple - MacBookAir10,1"),
    "linux": (
        "QEMU - Standard PC (Q35 + ICH9, 2009)",
        "VMware, Inc. - VMware7,1",
        "Dell Inc. - PowerEdge R650",
        "Amazon EC2 - m5.xlarge",
    ),
}
_CPUS = {
    "windows": (
        "Intel(R) Core(TM) i7-1365U",
        "Intel(R) Core(TM) i5-1145G7 @ 2.60GHz",
        "QEMU Virtual CPU version 2.5+",
        "AMD EPYC 7763 64-Core Processor",
    ),
    "macos": ("Apple M2 Pro", "Apple M1", "Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz"),
    "linux": (
        "AMD EPYC 7763 64-Core Processor",
        "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
        "QEMU Virtual CPU version 2.5+",
    ),
}


def _family(os_type: str) -> str:
    return "windows" if os_type.startswith("windows") else os_type


_OS_CUMULATIVE = tuple(itertools.accumulate(_OS_WEIGHTS))


def _unit(seed: int, salt: str, index: int) -> float:
    """A uniform draw in [0, 1) from a hash: much cheaper than seeding a generator."""
    digest = hashlib.blake2b(f"{seed}:{salt}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _host_os(seed: int, index: int) -> tuple[str, str, str, tuple[str, ...]]:
    """The host's operating system alone: cheap, so that building a world (which needs it to
    choose applications) does not derive every host in full."""
    x = _unit(seed, "host-os", index) * _OS_CUMULATIVE[-1]
    return catalog.OPERATING_SYSTEMS[bisect.bisect_right(_OS_CUMULATIVE, x)]


def _mac(rng: random.Random, windows_style: bool) -> str:
    octets = [0xBC, 0x24, 0x11] + [rng.randrange(256) for _ in range(3)]
    if windows_style:
        return "-".join(f"{b:02X}" for b in octets)  # some consoles report Windows-style MACs
    return ":".join(f"{b:02x}" for b in octets)


def _link_local(rng: random.Random) -> str:
    return (
        f"fe80::{rng.randrange(65536):x}:{rng.randrange(65536):x}:"
        f"{rng.randrange(65536):x}:{rng.randrange(65536):x}"
    )


_NIC_NAMES = {
    "windows": ("Ethernet", "Wi-Fi", "vEthernet (WSL)", "Ethernet 2"),
    "macos": ("en0", "awdl0", "utun3", "bridge0"),
    "linux": ("eth0", "eth1", "docker0", "cni0"),
}


@lru_cache(maxsize=8192)
def _host(seed: int, index: int) -> Host:
    rng = random.Random(f"{seed}:host:{index}")
    os_type, os_name, os_rev, machine_types = _host_os(seed, index)
    family = _family(os_type)
    machine = rng.choice(machine_types)
    prefix = {"server": "SRV", "kubernetes node": "K8S", "storage": "NAS"}.get(machine, "WS")
    hostname = f"{rng.choice(catalog.HOST_WORDS).upper()}-{prefix}{index:05d}"
    if os_type == "macos":
        hostname = f"{rng.choice(catalog.USER_NAMES)}s-MacBook-Pro-{index}"
    roll = rng.random()
    serial: str | None
    if roll < 0.15:
        serial = None  # as in the real 2025 agent sample
    elif roll < 0.18:
        serial = rng.choice(catalog.SERIAL_JUNK)
    else:
        serial = "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=10))
    nics = []
    subnet = rng.randrange(1, 250)
    dashed = family == "windows" and rng.random() < 0.1
    count = rng.choices((1, 2, 3, 4), weights=(65, 22, 9, 4))[0]
    for n in range(count):
        inet: tuple[str, ...] = (f"10.{n}.{subnet}.{rng.randrange(2, 254)}",)
        inet6: tuple[str, ...] = (_link_local(rng),)
        if n == 0 and rng.random() < 0.3:
            inet6 = (*inet6, f"2600:100f:a100:{rng.randrange(65536):x}::{rng.randrange(65536):x}")
        if n > 0 and rng.random() < 0.35:
            inet = ()  # an interface that is up without an IPv4 address (awdl0, a bridge)
        nics.append(
            Nic(
                _NIC_NAMES[family][n],
                inet,
                inet6,
                _mac(rng, dashed),
                f"10.{n}.{subnet}.1" if inet else "",
                ":".join(f"{rng.randrange(256):02x}" for _ in range(6)) if inet else "",
            )
        )
    return Host(
        hostname=hostname,
        domain=rng.choice(catalog.DOMAINS),
        os_type=os_type,
        os_name=os_name,
        os_revision=os_rev,
        machine_type=machine,
        serial=serial,
        model=rng.choice(_MODELS[family]),
        cpu_id=rng.choice(_CPUS[family]),
        cpu_count=rng.choice((1, 1, 2, 4)),
        core_count=rng.choice((2, 4, 8, 16)),
        memory_mb=rng.choice((4058, 8192, 16384, 32768)),
        nics=tuple(nics),
        external_ip=f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}."
        f"{rng.randrange(1, 255)}",
        user=rng.choice(catalog.USER_NAMES),
    )


@lru_cache(maxsize=64)
def _apps_for(os_name: str, os_type: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Applications that install on this OS, and how common each is."""
    family = _family(os_type)
    ids = tuple(
        i
        for i, a in enumerate(catalog.APPS)
        if family in a.os_types and (not a.os_names or os_name in a.os_names)
    )
    return ids, tuple(catalog.APPS[i].weight for i in ids)


@lru_cache(maxsize=8192)
def _install_plan(seed: int, agent_seq: int, host: int, density: float) -> InstallPlan:
    """Which vulnerable applications an agent has: skewed (a fifth have none, a few have many)."""
    rng = random.Random(f"{seed}:apps:{agent_seq}")
    target = 0
    if density > 0 and rng.random() >= 0.2:
        target = int(density / 0.8 * rng.paretovariate(2.5) * 0.6 + 0.5)
    if target == 0:
        return InstallPlan(0, ())
    os_type, os_name, _, _ = _host_os(seed, host)
    ids, weights = _apps_for(os_name, os_type)
    pool, pool_weights = list(ids), list(weights)
    chosen: list[tuple[int, int]] = []
    total = 0
    # Weighted draws without replacement: common applications come first.
    while total < target and pool:
        k = rng.choices(range(len(pool)), pool_weights)[0]
        app_index = pool.pop(k)
        pool_weights.pop(k)
        n_versions = len(catalog.APPS[app_index].versions)
        version = min(int(rng.random() ** 1.5 * n_versions), n_versions - 1)
        count = catalog.APPLICABLE_COUNT[(app_index, version)]
        if count:
            chosen.append((app_index, version))
            total += count
    return InstallPlan(min(target, total, RISK_SLOTS // 2), tuple(chosen))
