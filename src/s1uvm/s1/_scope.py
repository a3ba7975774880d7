"""The token's sites, listed once: the partitions a snapshot may be fetched in side by side
(``/application-management/risks`` takes one site id per request, s1-api.md §5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from s1uvm.s1._paging import Walk

if TYPE_CHECKING:
    from s1uvm.s1._client import S1Client


class _Site(msgspec.Struct):
    id: str | int | None = None


_decode_site = msgspec.json.Decoder(_Site).decode


def site_ids(client: S1Client, scope: Mapping[str, str] | None = None) -> list[str]:
    """Every site id the token can see (within ``scope``: ``siteIds`` or ``accountIds``), in
    the console's order, without duplicates."""
    seen: dict[str, None] = {}
    for page in Walk(client, "/sites", dict(scope or {}), nested="sites"):
        for raw in page.items:
            site = _decode_site(raw)
            if site.id is not None and str(site.id):
                seen[str(site.id)] = None
    return list(seen)
