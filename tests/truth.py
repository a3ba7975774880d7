"""What the console serves, walked independently of the connectors: the ground truth the
end-to-end, lifecycle and crash tests compare the store with."""

from __future__ import annotations

import html
from typing import Any

import msgspec

from s1uvm.model import finding_key, product_key
from s1uvm.s1 import S1Client, Walk


def served(client: S1Client, path: str, **params: str) -> list[dict[str, Any]]:
    return [msgspec.json.decode(r) for page in Walk(client, path, params) for r in page.items]


def vuln_key(console: str, risk: dict[str, Any]) -> str:
    """The finding id a risk record must land on (model.md §6.2)."""
    product = product_key(
        html.unescape(risk["applicationVendor"]), html.unescape(risk["applicationName"])
    )
    return finding_key(console, risk["endpointId"], "vulnerability", f"{risk['cveId']}|{product}")
