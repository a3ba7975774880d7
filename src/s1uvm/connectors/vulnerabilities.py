"""Vulnerabilities: ``GET /application-management/risks``, a complete snapshot of the token's
scope each run — the record has no ``updatedAt`` (s1-api.md §5.3, §8.11). A run is recorded as
a complete snapshot only when every page arrived; only complete snapshots may close findings.

Identity (model.md §6.2): console + endpoint + CVE + normalised vendor/product, so the same CVE
on a newer, still-vulnerable version stays one finding; its versions are kept as a list.
Severity is SentinelOne's (upper-case in the API), or from the CVSS score when missing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from s1uvm.connectors import normalise as n
from s1uvm.connectors.base import Batch, Context, Plan, normalise_page
from s1uvm.model import FindingRow, Kind, Severity, finding_key, product_key
from s1uvm.s1.records import RISK, RiskRecord

NAME = "vulnerabilities"
_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "none": Severity.INFO,
    "informational": Severity.INFO,
}


def severity(word: Any, score: float | None) -> str:
    found = _WORDS.get((n.text(word) or "").lower())
    if found is not None:
        return found
    if score is None:
        return Severity.INFO
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW if score > 0 else Severity.INFO


def to_row(rec: RiskRecord, raw: msgspec.Raw, ctx: Context) -> FindingRow:
    risk_id = n.ident(rec.id, "id")
    cve = n.indexed(rec.cveId, "cveId")
    if cve is None:
        raise n.Malformed("cveId is missing")
    cve = cve.upper()
    agent_id = n.optional_ident(rec.endpointId)
    name = n.decoded(rec.applicationName) or n.decoded(rec.application)
    vendor = n.decoded(rec.applicationVendor)
    version = n.text(rec.applicationVersion)
    score = n.cvss(rec.baseScore)
    natural = f"{cve}|{product_key(vendor, name)}"
    return FindingRow(
        finding_id=finding_key(ctx.console, agent_id, Kind.VULNERABILITY, natural),
        kind=Kind.VULNERABILITY,
        console=ctx.console,
        agent_id=agent_id,
        source_id=risk_id,
        title=f"{cve} in {name}" if name else cve,
        severity=severity(rec.severity, score),
        first_seen_at=n.timestamp(rec.detectionDate),
        last_seen_at=ctx.now,
        cve_id=cve,
        cvss_score=score,
        app_name=name,
        app_vendor=vendor,
        app_version=[version] if version else [],
        last_scan_at=n.timestamp(rec.lastScanDate),
        raw=raw,
    )


def merge(a: FindingRow, b: FindingRow) -> FindingRow:
    """Two risk records of one finding (the product installed in two versions)."""
    versions = n.unique(a.app_version + b.app_version)
    firsts = [t for t in (a.first_seen_at, b.first_seen_at) if t]
    scans = [t for t in (a.last_scan_at, b.last_scan_at) if t]
    return msgspec.structs.replace(
        a,
        app_version=sorted(versions),
        first_seen_at=min(firsts) if firsts else None,
        last_scan_at=max(scans) if scans else None,
        source_id=min(a.source_id, b.source_id, key=lambda s: (len(s), s)),
    )


class VulnerabilitiesConnector:
    name = NAME

    def plan(self, checkpoint: dict[str, Any] | None, *, full: bool, ctx: Context) -> Plan:
        # The endpoint takes one scope id per request: a scope of several is partitioned.
        return Plan(
            "/application-management/risks", dict(ctx.scope), "snapshot", partition="siteIds"
        )

    def transform(self, items: list[msgspec.Raw], ctx: Context) -> Batch:
        rows, rejected = normalise_page(items, RISK.decode, to_row, ctx, NAME)
        by_key: dict[str, FindingRow] = {}
        for row in rows:
            seen = by_key.get(row.finding_id)
            by_key[row.finding_id] = merge(seen, row) if seen else row
        return Batch(findings=list(by_key.values()), rejected=rejected)

    def page_checkpoint(
        self, checkpoint: dict[str, Any] | None, batch: Batch, plan: Plan, ctx: Context
    ) -> dict[str, Any] | None:
        return None  # a snapshot has no bookmark; its completeness is the run's

    def final_checkpoint(
        self, checkpoint: dict[str, Any] | None, plan: Plan, complete: bool, ctx: Context
    ) -> dict[str, Any] | None:
        cp = dict(checkpoint or {})
        if complete:
            cp["last_complete_at"] = ctx.now
        return cp
