"""What the console serves, walked independently of the connectors: the ground truth the
end-to-end, lifecycle and crash tests compare the store with."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from s1uvm.model import finding_key, product_key
from s1uvm.s1 import S1Client, Walk


def served(client: S1Client, path: str, **params: str) -> list[dict[str, Any]]:
    return [msgspec.json.decode(r) for page in Walk(client, path, params) for r in page.items]


def vuln_key(
    console: str, risk: dict[str, Any], current: Mapping[str, str | None] | None = None
) -> str:
    """The finding id a risk record must land on (model.md §6.2): its endpoint's, or, for an
    agent record superseded by a re-image, the current record's (``current``: agent id →
    the agent id that supersedes it)."""
    product = product_key(
        html.unescape(risk["applicationVendor"]), html.unescape(risk["applicationName"])
    )
    agent = risk["endpointId"]
    agent = (current or {}).get(agent) or agent
    return finding_key(console, agent, "vulnerability", f"{risk['cveId']}|{product}")


def superseding(assets: Iterable[dict[str, Any]]) -> dict[str, str | None]:
    """agent id → the agent id that supersedes it, from stored assets."""
    return {a["agent_id"]: a["superseded_by"] for a in assets}


def machine_keys(risks: Iterable[dict[str, Any]], asset_of: Mapping[str, str]) -> set[Any]:
    """What a console's risks must be in the store: one finding per machine (asset) + CVE +
    product, however many agent records a re-imaged machine has."""
    return {
        (
            asset_of[r["endpointId"]],
            r["cveId"],
            product_key(html.unescape(r["applicationVendor"]), html.unescape(r["applicationName"])),
        )
        for r in risks
    }


def open_machine_keys(findings: Iterable[dict[str, Any]]) -> list[Any]:
    """The same key for each open vulnerability finding (a list: duplicates must show)."""
    return [
        (f["asset_id"], f["cve_id"], product_key(f["app_vendor"], f["app_name"]))
        for f in findings
        if f["kind"] == "vulnerability" and f["state"] in ("open", "reopened")
    ]
