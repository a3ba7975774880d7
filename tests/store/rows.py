"""Small builders for store tests: rows as the connectors would produce them, with ids shaped
like SentinelOne's (long, numeric, text)."""

from __future__ import annotations

from typing import Any

import msgspec

from s1uvm.model import AssetRow, FindingRow, Rejected, finding_key

SOURCE_ID = "2228104980801805822"


def asset(agent_id: str, **kw: Any) -> AssetRow:
    base: dict[str, Any] = {
        "console": "c1",
        "agent_id": agent_id,
        "hostname": f"host-{agent_id}",
        "mac": ["bc:24:11:b4:ad:14"],
        "ipv4": ["10.0.0.1"],
        "raw": msgspec.Raw(b'{"id": "%s"}' % agent_id.encode()),
    }
    base.update(kw)
    return AssetRow(**base)


def vuln(agent_id: str, cve: str, **kw: Any) -> FindingRow:
    base: dict[str, Any] = {
        "finding_id": finding_key("c1", agent_id, "vulnerability", f"{cve}|acme|app"),
        "kind": "vulnerability",
        "console": "c1",
        "agent_id": agent_id,
        "source_id": SOURCE_ID,
        "title": f"{cve} in App",
        "severity": "high",
        "cve_id": cve,
        "cvss_score": 7.5,
        "app_name": "App",
        "app_vendor": "Acme",
        "app_version": ["1.0"],
        "first_seen_at": "2025-06-02T04:46:51.710569Z",
        "raw": msgspec.Raw(b'{"id": "2228104980801805822"}'),
    }
    base.update(kw)
    return FindingRow(**base)


def threat(agent_id: str, threat_id: str, **kw: Any) -> FindingRow:
    base: dict[str, Any] = {
        "finding_id": finding_key("c1", agent_id, "threat", threat_id),
        "kind": "threat",
        "console": "c1",
        "agent_id": agent_id,
        "source_id": threat_id,
        "title": "evil.exe",
        "severity": "high",
        "state": "open",
        "incident_status": "unresolved",
        "raw": msgspec.Raw(b"{}"),
    }
    base.update(kw)
    return FindingRow(**base)


def rejected(source_id: str | None, raw: bytes = b"{}", **kw: Any) -> Rejected:
    base: dict[str, Any] = {
        "console": "c1",
        "connector": "vulnerabilities",
        "source_id": source_id,
        "reason": "cveId is missing",
        "raw": msgspec.Raw(raw),
    }
    base.update(kw)
    return Rejected(**base)
