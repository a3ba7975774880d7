"""Threats: ``GET /threats``, incremental on ``threatInfo.updatedAt`` (``updatedAt__gte``,
``sortBy=updatedAt``, ties ordered by id on the console), so status changes flow in; the
checkpoint moves with each page, in the same transaction as the page (s1-api.md §5.1, §8.1–3).

Severity — SentinelOne gives threats a confidence, not a severity (model.md §4.1):

| confidenceLevel | severity | raised to critical when |
|---|---|---|
| malicious | high | classification is Ransomware, or it is unresolved and not mitigated |
| suspicious | medium | classification is Ransomware |
| n/a, missing | low | — |

State — from SentinelOne's own status (absence never closes a threat): ``resolved`` →
``fixed`` (``suppressed`` when the analyst verdict is ``false_positive``); ``unresolved`` and
``in_progress`` → ``open``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from s1uvm.connectors import normalise as n
from s1uvm.connectors.base import (
    LAG,
    Batch,
    Context,
    Plan,
    bookmark_checkpoint,
    fmt,
    normalise_page,
    page_size,
    parse,
)
from s1uvm.model import FindingRow, Kind, Severity, State, finding_key
from s1uvm.s1.records import THREAT, ThreatInfo, ThreatRecord

NAME = "threats"
PAGE = page_size(7_000)  # a threat with its indicators and mitigation report: 5–7 KB


def severity(info: ThreatInfo) -> str:
    confidence = (n.text(info.confidenceLevel) or "").lower()
    classification = (n.text(info.classification) or "").lower()
    ransomware = classification == "ransomware"
    if confidence == "malicious":
        active = (n.text(info.incidentStatus) or "").lower() == "unresolved" and (
            n.text(info.mitigationStatus) or ""
        ).lower() == "not_mitigated"
        return Severity.CRITICAL if ransomware or active else Severity.HIGH
    if confidence == "suspicious":
        return Severity.CRITICAL if ransomware else Severity.MEDIUM
    return Severity.LOW


def state(info: ThreatInfo) -> str:
    status = (n.text(info.incidentStatus) or "").lower()
    if status == "resolved":
        verdict = (n.text(info.analystVerdict) or "").lower()
        return State.SUPPRESSED if verdict == "false_positive" else State.FIXED
    return State.OPEN


def to_row(rec: ThreatRecord, raw: msgspec.Raw, ctx: Context) -> FindingRow:
    threat_id = n.ident(rec.id, "id")
    info = rec.threatInfo or ThreatInfo()
    rt = rec.agentRealtimeInfo
    agent_id = n.optional_ident(rt.agentId) if rt else None
    updated = n.timestamp(info.updatedAt)
    st = state(info)
    name = n.decoded(info.threatName)
    return FindingRow(
        finding_id=finding_key(ctx.console, agent_id, Kind.THREAT, threat_id),
        kind=Kind.THREAT,
        console=ctx.console,
        agent_id=agent_id,
        source_id=threat_id,
        title=name or f"Threat {threat_id}",
        severity=severity(info),
        state=st,
        first_seen_at=n.timestamp(info.identifiedAt) or n.timestamp(info.createdAt),
        last_seen_at=updated,
        fixed_at=updated if st in (State.FIXED, State.SUPPRESSED) else None,
        source_updated_at=updated,
        threat_name=name,
        classification=n.text(info.classification),
        confidence=n.text(info.confidenceLevel),
        analyst_verdict=n.text(info.analystVerdict),
        incident_status=n.text(info.incidentStatus),
        mitigation_status=n.text(info.mitigationStatus),
        file_path=n.text(info.filePath),
        sha1=n.text(info.sha1),
        sha256=n.text(info.sha256),
        raw=raw,
    )


class ThreatsConnector:
    """Incremental on ``updatedAt``, backed by a full read at least daily (``full_refresh``):
    a change the console made without moving ``updatedAt``, or a checkpoint that a console's
    wrong clock once moved too far, is then read again within a day."""

    name = NAME

    def __init__(self, full_refresh: timedelta = timedelta(days=1)) -> None:
        self.full_refresh = full_refresh

    def plan(self, checkpoint: dict[str, Any] | None, *, full: bool, ctx: Context) -> Plan:
        params: dict[str, Any] = {"sortBy": "updatedAt", "sortOrder": "asc", **ctx.scope}
        cp = checkpoint or {}
        bookmark = cp.get("updated_at")
        last_full = cp.get("last_full_at")
        due = last_full is None or parse(last_full) + self.full_refresh <= parse(ctx.now)
        if bookmark and not full and not due:
            params["updatedAt__gte"] = bookmark
            return Plan("/threats", params, "incremental", page_size=PAGE)
        return Plan("/threats", params, "full", page_size=PAGE)

    def transform(self, items: list[msgspec.Raw], ctx: Context) -> Batch:
        findings, rejected = normalise_page(items, THREAT.decode, to_row, ctx, NAME)
        return Batch(findings=findings, rejected=rejected)

    def page_checkpoint(
        self, checkpoint: dict[str, Any] | None, batch: Batch, plan: Plan, ctx: Context
    ) -> dict[str, Any] | None:
        return bookmark_checkpoint(checkpoint, [f.source_updated_at for f in batch.findings], ctx)

    def final_checkpoint(
        self, checkpoint: dict[str, Any] | None, plan: Plan, complete: bool, ctx: Context
    ) -> dict[str, Any] | None:
        cp = dict(checkpoint or {})
        if complete and plan.mode == "full":
            cp["last_full_at"] = ctx.now
            # The full read saw everything up to the run's start: no later bookmark stands.
            cp["updated_at"] = min(cp.get("updated_at") or ctx.now, fmt(parse(ctx.now) - LAG))
        return cp
