"""The unified model: assets (endpoints) and findings (vulnerabilities and threats), as rows
the connectors produce and the store keeps. Names and values follow design.md's data contract;
identity rules follow model.md §6.2. Nothing here knows where data comes from or goes.
Rows hold text, numbers and lists of text, never a reference cycle, so they stay out of the
cycle collector (``gc=False``): a sync makes a million of them, and each page's thousand
would otherwise set it off and be traversed by it, on the writer's thread — the one every
connector waits for."""

from __future__ import annotations

import functools
import hashlib
import re
from enum import StrEnum

import msgspec


class Kind(StrEnum):
    VULNERABILITY = "vulnerability"
    THREAT = "threat"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class State(StrEnum):
    OPEN = "open"
    REOPENED = "reopened"
    FIXED = "fixed"
    STALE = "stale"
    ARCHIVED = "archived"
    SUPPRESSED = "suppressed"


class Lifecycle(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    RETIRED = "retired"


class AssetRow(msgspec.Struct, kw_only=True, gc=False):
    """One endpoint as an agent record describes it. Timestamps are ISO-8601 UTC ending in Z;
    ids are text; lists are lists. ``asset_id`` is assigned by the store (re-imaged hosts
    resolve to an existing asset there), so the connector leaves it empty."""

    console: str
    agent_id: str
    agent_uuid: str | None = None
    hostname: str | None = None
    domain: str | None = None
    os_type: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    machine_type: str | None = None
    serial_number: str | None = None
    ipv4: list[str] = []
    ipv6: list[str] = []
    mac: list[str] = []  # lower-case, colon-separated
    external_ip: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    site_id: str | None = None
    site_name: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    agent_version: str | None = None
    is_active: bool | None = None
    is_decommissioned: bool | None = None
    is_uninstalled: bool | None = None
    lifecycle: str = Lifecycle.ACTIVE
    last_active_at: str | None = None
    source_updated_at: str | None = None  # the agent's updatedAt: the incremental cursor
    raw: msgspec.Raw = msgspec.Raw(b"null")


class FindingRow(msgspec.Struct, kw_only=True, gc=False):
    """One finding on one endpoint: a CVE on an application (vulnerability) or a detection
    (threat). ``finding_id`` is deterministic (``finding_key``), so re-syncs and re-imports
    land on the same row."""

    finding_id: str
    kind: str
    console: str
    agent_id: str | None
    source_id: str  # the SentinelOne risk or threat id
    title: str
    severity: str
    state: str = State.OPEN
    first_seen_at: str | None = None  # from the source: detectionDate / identifiedAt
    last_seen_at: str | None = None
    fixed_at: str | None = None
    source_updated_at: str | None = None  # threats: threatInfo.updatedAt (the cursor)
    # vulnerability columns
    cve_id: str | None = None
    cvss_score: float | None = None
    app_name: str | None = None
    app_vendor: str | None = None
    app_version: list[str] = []  # every version of the product carrying the CVE
    last_scan_at: str | None = None
    # threat columns
    threat_name: str | None = None
    classification: str | None = None
    confidence: str | None = None
    analyst_verdict: str | None = None
    incident_status: str | None = None
    mitigation_status: str | None = None
    file_path: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    raw: msgspec.Raw = msgspec.Raw(b"null")


class Rejected(msgspec.Struct, kw_only=True, gc=False):
    """A record that could not be normalised: kept aside with the reason, never dropped."""

    console: str
    connector: str
    source_id: str | None
    reason: str
    raw: msgspec.Raw


_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=8_192)  # a console has a few thousand products, each seen often
def product_key(vendor: str | None, name: str | None) -> str:
    """Normalised vendor|name: the product part of a vulnerability's identity."""

    def norm(text: str | None) -> str:
        return _SPACES.sub(" ", (text or "").strip().lower())

    return f"{norm(vendor)}|{norm(name)}"


def finding_key(console: str, agent_id: str | None, kind: str, natural: str) -> str:
    """model.md §6.2: sha256 over the console, the source agent, the kind and the natural key
    (threat id; or CVE + product), so a version bump keeps the same finding.

    The first 8 hex digits are the source agent's (``finding_key_prefix``), the other 24 the
    finding's own: an agent's findings sit side by side in every index keyed by finding id,
    so a page of a thousand findings from a hundred agents changes about a hundred index pages
    instead of a thousand — and writing index pages is most of a large first load's time."""
    text = f"v1|{console}|{agent_id or ''}|{kind}|{natural}"
    own = hashlib.sha256(text.encode()).hexdigest()[:24]
    return finding_key_prefix(console, agent_id) + own


@functools.lru_cache(maxsize=4096)
def finding_key_prefix(console: str, agent_id: str | None) -> str:
    """The part of a finding's id that its source agent gives (also for a store migrating
    ids of the first form — sha256 of the same text, 32 digits — whose first 24 are kept).
    Cached: pages come agent by agent, each agent's findings one after another."""
    return asset_key(console, agent_id or "")[:8]


def asset_key(console: str, agent_id: str) -> str:
    """The default asset id of an agent (before any re-image resolution)."""
    return hashlib.sha256(f"v1|{console}|{agent_id}".encode()).hexdigest()[:32]
