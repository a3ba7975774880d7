"""Assets: ``GET /agents``, decommissioned agents included (``isDecommissioned=true,false``),
incremental on ``updatedAt__gte`` sorted by ``updatedAt``, plus a full refresh at least daily
because heartbeats (``lastActiveDate``, ``networkStatus``) do not move ``updatedAt``
(s1-api.md §5.2)."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import msgspec

from s1uvm.connectors import normalise as n
from s1uvm.connectors.base import (
    Batch,
    Context,
    Plan,
    bookmark_checkpoint,
    fmt,
    normalise_page,
    page_size,
    parse,
)
from s1uvm.model import AssetRow, Lifecycle
from s1uvm.s1.records import AGENT, AgentRecord

NAME = "assets"
PAGE = page_size(3_500)  # an agent record: about 3.5 KB (the real fixture)


def lifecycle(rec: AgentRecord, last_active: str | None, ctx: Context) -> str:
    if n.flag(rec.isDecommissioned) or n.flag(rec.isUninstalled):
        return Lifecycle.RETIRED
    if last_active is not None and last_active < _horizon(ctx.now, ctx.inactive_days):
        return Lifecycle.INACTIVE
    return Lifecycle.ACTIVE


@functools.lru_cache(maxsize=64)
def _horizon(now: str, days: int) -> str:
    """Last activity before this is 'inactive' — one per run, not one per agent."""
    return fmt(parse(now) - timedelta(days=days))


def to_row(rec: AgentRecord, raw: msgspec.Raw, ctx: Context) -> AssetRow:
    ipv4: list[str] = []
    ipv6: list[str] = []
    macs: list[str] = []
    nics = rec.networkInterfaces if isinstance(rec.networkInterfaces, list) else []
    for nic in nics:
        if not isinstance(nic, dict):
            continue
        ipv4 += [a for a in (n.text(x) for x in _list(nic.get("inet"))) if a]
        ipv6 += [a for a in (n.text(x) for x in _list(nic.get("inet6"))) if a]
        m = n.mac(nic.get("physical"))
        if m:
            macs.append(m)
    last_active = n.timestamp(rec.lastActiveDate)
    return AssetRow(
        console=ctx.console,
        agent_id=n.ident(rec.id, "id"),
        agent_uuid=n.text(rec.uuid),
        hostname=n.indexed(rec.computerName, "computerName"),
        domain=n.text(rec.domain),
        os_type=n.text(rec.osType),
        os_name=n.text(rec.osName),
        os_version=n.text(rec.osRevision),
        machine_type=n.text(rec.machineType),
        serial_number=n.indexed(rec.serialNumber, "serialNumber"),
        ipv4=n.unique(ipv4),
        ipv6=n.unique(ipv6),
        mac=n.unique(macs),
        external_ip=n.text(rec.externalIp),
        account_id=n.optional_ident(rec.accountId),
        account_name=n.decoded(rec.accountName),
        site_id=n.optional_ident(rec.siteId),
        site_name=n.decoded(rec.siteName),
        group_id=n.optional_ident(rec.groupId),
        group_name=n.decoded(rec.groupName),
        agent_version=n.text(rec.agentVersion),
        is_active=n.flag(rec.isActive),
        is_decommissioned=n.flag(rec.isDecommissioned),
        is_uninstalled=n.flag(rec.isUninstalled),
        lifecycle=lifecycle(rec, last_active, ctx),
        last_active_at=last_active,
        source_updated_at=n.timestamp(rec.updatedAt),
        raw=raw,
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class AssetsConnector:
    name = NAME

    def __init__(self, full_refresh: timedelta = timedelta(days=1)) -> None:
        self.full_refresh = full_refresh

    def plan(self, checkpoint: dict[str, Any] | None, *, full: bool, ctx: Context) -> Plan:
        params: dict[str, Any] = {
            "isDecommissioned": "true,false",
            "sortBy": "updatedAt",
            "sortOrder": "asc",
            **ctx.scope,
        }
        cp = checkpoint or {}
        last_full = cp.get("last_full_at")
        due = last_full is None or parse(last_full) + self.full_refresh <= parse(ctx.now)
        if full or due or not cp.get("updated_at"):
            return Plan("/agents", params, "full", page_size=PAGE)
        params["updatedAt__gte"] = cp["updated_at"]
        return Plan("/agents", params, "incremental", page_size=PAGE)

    def transform(self, items: list[msgspec.Raw], ctx: Context) -> Batch:
        assets, rejected = normalise_page(items, AGENT.decode, to_row, ctx, NAME)
        return Batch(assets=assets, rejected=rejected)

    def page_checkpoint(
        self, checkpoint: dict[str, Any] | None, batch: Batch, plan: Plan, ctx: Context
    ) -> dict[str, Any] | None:
        return bookmark_checkpoint(checkpoint, [a.source_updated_at for a in batch.assets], ctx)

    def final_checkpoint(
        self, checkpoint: dict[str, Any] | None, plan: Plan, complete: bool, ctx: Context
    ) -> dict[str, Any] | None:
        cp = dict(checkpoint or {})
        if complete and plan.mode == "full":
            cp["last_full_at"] = ctx.now
        return cp
