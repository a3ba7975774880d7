"""OCSF 1.8.0 events from our rows (model.md §1, §4, §6.5; tables in docs/ocsf.md):
Vulnerability Finding (2002) for vulnerabilities, Detection Finding (2004) for threats, Device
Inventory Info (5001) for assets. Timestamps are epoch milliseconds, ids strings, nulls dropped;
``finding_info.uid`` is our stable finding id and SentinelOne's id goes in ``uid_alt``."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from s1uvm import __version__

VERSION = "1.8.0"
FINDING_PROFILES = ["host", "security_control", "incident"]
DEVICE_PROFILES = ["host"]

SEVERITY_ID = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAME = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
# Our state → OCSF finding status_id (status_id is "set by the consumer": our lifecycle).
STATUS_ID = {"open": 1, "reopened": 1, "stale": 1, "suppressed": 3, "fixed": 4, "archived": 5}
STATUS_NAME = {1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 5: "Archived"}
# finding_history event → activity: 1 Create, 2 Update, 3 Close.
ACTIVITY_ID = {"created": 1, "fixed": 3, "archived": 3, "suppressed": 3}
ACTIVITY_NAME = {1: "Create", 2: "Update", 3: "Close"}
CONFIDENCE_ID = {"malicious": 3, "suspicious": 2, "n/a": 1}
CONFIDENCE_NAME = {1: "Low", 2: "Medium", 3: "High"}
VERDICT_ID = {"false_positive": 1, "true_positive": 2, "suspicious": 4}
VERDICT_NAME = {1: "False Positive", 2: "True Positive", 4: "Suspicious"}
DEVICE_TYPE_ID = {"server": 1, "desktop": 2, "laptop": 3, "kubernetes node": 6, "storage": 99}
DEVICE_TYPE_NAME = {0: "Unknown", 1: "Server", 2: "Desktop", 3: "Laptop", 6: "Virtual", 99: "Other"}
OS_TYPE_ID = {"windows": 100, "windows_legacy": 100, "linux": 200, "macos": 300}
OS_TYPE_NAME = {0: "Unknown", 100: "Windows", 200: "Linux", 300: "macOS", 99: "Other"}
CLASSES = {
    "vulnerability": (2002, "Vulnerability Finding", 2, "Findings"),
    "threat": (2004, "Detection Finding", 2, "Findings"),
    "asset": (5001, "Device Inventory Info", 5, "Discovery"),
}


def ms(ts: str | None) -> int | None:
    """Epoch milliseconds from our ISO-8601 UTC text (``fromisoformat`` reads the Z)."""
    if not ts:
        return None
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


def prune(value: Any) -> Any:
    """Drop nulls, empty lists and empty objects, recursively (OCSF wants them absent)."""
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [v for v in (prune(i) for i in value) if v is not None and v != {}]
    return value


def _metadata(
    kind: str, uid: str, row: dict[str, Any], profiles: list[str], processed: int
) -> dict[str, Any]:
    feature = {"vulnerability": "Vulnerabilities", "threat": "Threats", "asset": "Assets"}[kind]
    return {
        "version": VERSION,
        "uid": uid,
        "product": {
            "name": "Singularity",
            "vendor_name": "SentinelOne",
            "feature": {"name": feature},
        },
        "log_name": {"vulnerability": "application_risks", "threat": "threats", "asset": "agents"}[
            kind
        ],
        "profiles": profiles,
        "tenant_uid": row.get("account_id"),
        "processed_time": processed,
        "extensions": None,
        "labels": [f"s1uvm:{__version__}", f"console:{row.get('console')}"],
    }


def _device(row: dict[str, Any]) -> dict[str, Any]:
    type_id = DEVICE_TYPE_ID.get((row.get("machine_type") or "").lower(), 0)
    os_type = OS_TYPE_ID.get((row.get("os_type") or "").lower(), 99 if row.get("os_type") else 0)
    ips = row.get("a_ipv4") if "a_ipv4" in row else row.get("ipv4")
    macs = row.get("a_mac") if "a_mac" in row else row.get("mac")
    os = {
        "name": row.get("os_name") or row.get("os_type") or "unknown",
        "type_id": os_type,
        "type": OS_TYPE_NAME.get(os_type),
        "version": row.get("os_version"),
    }
    return {
        "type_id": type_id,
        "type": DEVICE_TYPE_NAME.get(type_id),
        "uid": row.get("agent_id"),
        "uid_alt": row.get("agent_uuid"),
        "hostname": row.get("hostname"),
        "name": row.get("hostname"),
        "domain": row.get("domain"),
        "ip": (ips or [None])[0],
        "mac": (macs or [None])[0],
        "os": os,
        "org": {
            "uid": row.get("account_id"),
            "name": row.get("account_name"),
            "ou_uid": row.get("site_id"),
            "ou_name": row.get("site_name"),
        },
        "agent_list": [
            {
                "name": "SentinelOne Agent",
                "type_id": 1,
                "type": "Endpoint Detection and Response",
                "vendor_name": "SentinelOne",
                "uid": row.get("agent_uuid"),
                "version": row.get("agent_version"),
            }
        ],
        "is_managed": True,
    }


def event_uid(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def finding_event(
    row: dict[str, Any], *, activity_id: int, event_time: str | None, event_key: Any, processed: int
) -> dict[str, Any]:
    """One 2002 or 2004 event for a finding row (joined with its asset's fields)."""
    kind = row["kind"]
    class_uid, class_name, category_uid, category_name = CLASSES[kind]
    severity_id = SEVERITY_ID.get(row.get("severity") or "", 0)
    state = row.get("state") or "open"
    status_id = STATUS_ID.get(state, 1)
    if (
        kind == "threat"
        and state in ("open", "reopened")
        and (row.get("incident_status") == "in_progress")
    ):
        status_id = 2
    event: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": ACTIVITY_NAME[activity_id],
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {ACTIVITY_NAME[activity_id]}",
        "time": ms(event_time) or processed,
        "severity_id": severity_id,
        "severity": SEVERITY_NAME[severity_id],
        "status_id": status_id,
        "status": STATUS_NAME[status_id],
        "status_detail": state if state in ("stale", "reopened") else None,
        "metadata": _metadata(
            kind, event_uid(row["finding_id"], event_key), row, FINDING_PROFILES, processed
        ),
        "finding_info": {
            "uid": row["finding_id"],
            "uid_alt": row.get("source_id"),
            "title": row.get("title"),
            "first_seen_time": ms(row.get("first_seen_at")),
            "last_seen_time": ms(row.get("last_seen_at")),
            "created_time": ms(row.get("created_at")),
            "modified_time": ms(row.get("updated_at")),
            "types": [row.get("classification")] if kind == "threat" else ["Vulnerability"],
        },
        "device": _device(row),
        "resources": [
            {
                "uid": row.get("asset_id"),
                "name": row.get("hostname"),
                "type": "Device",
                "role_id": 3,
                "role": "Affected",
            }
        ],
        "is_alert": state in ("open", "reopened"),
        "unmapped": {"s1uvm_state": state},
    }
    if kind == "vulnerability":
        versions = row.get("app_version") or []
        cvss = (
            [
                {
                    "base_score": float(row["cvss_score"]),
                    "version": "3.1",
                    "vendor_name": "SentinelOne",
                }
            ]
            if row.get("cvss_score") is not None
            else []
        )
        event["vulnerabilities"] = [
            {
                "cve": {"uid": row.get("cve_id"), "cvss": cvss},
                "title": row.get("title"),
                "severity": (row.get("severity") or "").capitalize() or None,
                "vendor_name": "SentinelOne",
                "affected_packages": [
                    {
                        "name": row.get("app_name") or "unknown",
                        "version": v,
                        "vendor_name": row.get("app_vendor"),
                        "type_id": 1,
                    }
                    for v in versions
                ]
                or None,
                "first_seen_time": ms(row.get("first_seen_at")),
                "last_seen_time": ms(row.get("last_seen_at")),
            }
        ]
    else:
        confidence = CONFIDENCE_ID.get((row.get("confidence") or "").lower())
        verdict = VERDICT_ID.get((row.get("analyst_verdict") or "").lower())
        event.update(
            {
                "confidence_id": confidence,
                "confidence": CONFIDENCE_NAME.get(confidence or 0),
                "verdict_id": verdict,
                "verdict": VERDICT_NAME.get(verdict or 0),
            }
        )
        event["unmapped"].update(
            {
                "incident_status": row.get("incident_status"),
                "mitigation_status": row.get("mitigation_status"),
                "file_path": row.get("file_path"),
                "sha1": row.get("sha1"),
                "sha256": row.get("sha256"),
            }
        )
    pruned: dict[str, Any] = prune(event)
    return pruned


def change_event(row: dict[str, Any], processed: int) -> dict[str, Any]:
    """One 2002 or 2004 event for a ``finding_history`` row joined with its finding: the
    finding as the change left it. State, status, activity and time are the history row's;
    the columns the change recorded (``changed``: {column: [old, new]}) take their new value;
    other attributes are the finding's current ones."""
    at_change = dict(row)
    changed = row.get("changed")
    if isinstance(changed, dict):
        for column, pair in changed.items():
            if column in row and isinstance(pair, list) and len(pair) == 2:
                at_change[column] = pair[1]
    at_change["state"] = row.get("new_state") or row.get("state")
    at_change["updated_at"] = row["event_at"]
    event = finding_event(
        at_change,
        activity_id=ACTIVITY_ID.get(row["event_type"], 2),
        event_time=row["event_at"],
        event_key=row["event_id"],
        processed=processed,
    )
    event["unmapped"].update(
        prune(
            {
                "s1uvm_event": row["event_type"],
                "s1uvm_previous_state": row.get("old_state"),
                "s1uvm_changed": changed if isinstance(changed, dict) else None,
            }
        )
    )
    return event


def device_event(row: dict[str, Any], processed: int) -> dict[str, Any]:
    """One 5001 event (activity 2, Collect) for an asset row."""
    class_uid, class_name, category_uid, category_name = CLASSES["asset"]
    device = _device(row)
    last_seen = ms(row.get("last_active_at"))
    # First seen: when SentinelOne registered the agent, else when s1uvm first stored it —
    # which, on a first sync, is after the agent was last active; never after last seen.
    raw = row.get("raw")
    registered = raw.get("registeredAt") if isinstance(raw, dict) else None
    first_seen = ms(registered) or ms(row.get("first_seen_at"))
    if first_seen is not None and last_seen is not None:
        first_seen = min(first_seen, last_seen)
    device.update(
        {
            "first_seen_time": first_seen,
            "last_seen_time": last_seen,
            "modified_time": ms(row.get("source_updated_at")),
        }
    )
    event = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": 2,
        "activity_name": "Collect",
        "type_uid": class_uid * 100 + 2,
        "type_name": f"{class_name}: Collect",
        "time": ms(row.get("last_seen_at")) or processed,
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 1,
        "status": "Success",
        "metadata": _metadata(
            "asset",
            event_uid(row["asset_id"], row["agent_id"], row.get("last_seen_at")),
            row,
            DEVICE_PROFILES,
            processed,
        ),
        "device": device,
        "unmapped": {
            "lifecycle": row.get("lifecycle"),
            "asset_id": row.get("asset_id"),
            "is_decommissioned": row.get("is_decommissioned"),
            "superseded_by": row.get("superseded_by"),
        },
    }
    pruned: dict[str, Any] = prune(event)
    return pruned
