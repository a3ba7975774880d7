"""The list endpoints: for each, its table (generated from the world, or raw from ``--data``)
and the filters it accepts, with the parameter names of the v2.1 spec (s1-api.md §5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from s1uvm.simulator import records
from s1uvm.simulator.query import Filters
from s1uvm.simulator.tables import Field, ListTable, RiskTable, Table, encode
from s1uvm.simulator.timefmt import parse_iso
from s1uvm.simulator.world import Account, Agent, Group, Site, Threat, World

DATE, ID, TEXT, ENUM, BOOL, NUM = "date", "id", "text", "enum", "bool", "number"

SCOPES = {"accountIds": "accounts", "siteIds": "sites", "groupIds": "groups"}

THREAT_FILTERS = Filters(
    lists={
        "ids": ("id", "ids"),
        "agentIds": ("agentId", "ids"),
        "incidentStatuses": ("incidentStatus", "enum"),
        "analystVerdicts": ("analystVerdict", "enum"),
        "mitigationStatuses": ("mitigationStatus", "enum"),
        "confidenceLevels": ("confidenceLevel", "enum"),
        "classifications": ("classification", "enum"),
        "contentHashes": ("contentHash", "enum"),
        "osTypes": ("osType", "enum"),
        "agentMachineTypes": ("agentMachineType", "enum"),
        "agentIsActive": ("agentIsActive", "bools"),
    },
    scopes=SCOPES,
    dates=("createdAt", "updatedAt"),
    sortable=(
        "id",
        "createdAt",
        "updatedAt",
        "siteId",
        "siteName",
        "agentComputerName",
        "classification",
        "mitigationStatus",
        "filePath",
        "contentHash",
        "agentVersion",
        "agentMachineType",
        "fileDisplayName",
    ),
    ignored=frozenset({"tenant", "query"}),
)

AGENT_FILTERS = Filters(
    lists={
        "ids": ("id", "ids"),
        "uuids": ("uuid", "enum"),
        "uuid": ("uuid", "enum"),
        "isDecommissioned": ("isDecommissioned", "bools"),
        "isActive": ("isActive", "bools"),
        "isUninstalled": ("isUninstalled", "bools"),
        "osTypes": ("osType", "enum"),
        "machineTypes": ("machineType", "enum"),
        "networkStatuses": ("networkStatus", "enum"),
        "computerName": ("computerName", "enum"),
        "computerName__like": ("computerName", "contains"),
        "infected": ("infected", "bools"),
    },
    scopes=SCOPES,
    dates=("createdAt", "updatedAt", "registeredAt", "lastActiveDate", "decommissionedAt"),
    sortable=(
        "id",
        "createdAt",
        "updatedAt",
        "registeredAt",
        "lastActiveDate",
        "computerName",
        "siteName",
        "machineType",
        "osType",
        "agentVersion",
    ),
    # Decommissioned agents are hidden unless asked for (s1-api.md §5.2, §8.9).
    defaults={"isDecommissioned": "false"},
    ignored=frozenset({"tenant", "query"}),
)

RISK_FILTERS = Filters(
    lists={
        "severities": ("severity", "enum"),
        "osTypes": ("osType", "enum"),
        "endpointTypes": ("endpointType", "enum"),
        "applicationNames": ("applicationName", "enum"),
        "cveId__contains": ("cveId", "contains"),
        "endpointName__contains": ("endpointName", "contains"),
        "application__contains": ("application", "contains"),
        "applicationVendor__contains": ("applicationVendor", "contains"),
    },
    scopes=SCOPES,
    single_scope=True,
    dates=("detectionDate", "riskUpdatedDate", "publishedDate"),
    sortable=(
        "id",
        "cveId",
        "endpointName",
        "application",
        "applicationVendor",
        "baseScore",
        "severity",
        "detectionDate",
        "publishedDate",
        "lastScanDate",
    ),
    # includeRemovals adds removed rows to the list; the simulator keeps none to add.
    ignored=frozenset({"tenant", "includeRemovals"}),
)

SITE_FILTERS = Filters(
    lists={"states": ("state", "enum"), "state": ("state", "enum"), "name": ("name", "enum")},
    scopes={"siteIds": "sites", "accountIds": "accounts"},
    dates=("createdAt", "updatedAt"),
    sortable=("id", "name", "createdAt", "updatedAt", "accountName"),
    ignored=frozenset({"query"}),
)
ACCOUNT_FILTERS = Filters(
    lists={"states": ("state", "enum"), "name": ("name", "enum")},
    scopes={"ids": "accounts", "accountIds": "accounts"},
    dates=("createdAt", "updatedAt"),
    sortable=("id", "name", "createdAt", "updatedAt"),
    ignored=frozenset({"query"}),
)
GROUP_FILTERS = Filters(
    lists={"type": ("type", "enum"), "types": ("type", "enum")},
    scopes=SCOPES,
    dates=("createdAt", "updatedAt"),
    sortable=("id", "name", "createdAt", "updatedAt", "rank"),
    ignored=frozenset({"query"}),
    max_limit=300,
)


@dataclass(slots=True)
class Endpoints:
    """The tables behind the list endpoints, keyed like the rate-limit table."""

    tables: dict[str, Table[Any]]
    filters: dict[str, Filters]


FILTERS = {
    "threats": THREAT_FILTERS,
    "agents": AGENT_FILTERS,
    "agents/count": AGENT_FILTERS,
    "risks": RISK_FILTERS,
    "sites": SITE_FILTERS,
    "accounts": ACCOUNT_FILTERS,
    "groups": GROUP_FILTERS,
}


def _f(get: Callable[[Any], Any], kind: str) -> Field:
    return Field(get, kind)


def generated(world: World) -> Endpoints:
    v = lambda: world.version  # noqa: E731 - the tables' cache key

    def host(a: Agent) -> Any:
        return world.host(a.host)

    agent_fields = {
        "id": _f(lambda a: a.id, ID),
        "uuid": _f(lambda a: a.uuid, TEXT),
        "createdAt": _f(lambda a: a.created_us, DATE),
        "updatedAt": _f(lambda a: a.updated_us, DATE),
        "registeredAt": _f(lambda a: a.registered_us, DATE),
        "lastActiveDate": _f(lambda a: a.last_active_us, DATE),
        "decommissionedAt": _f(lambda a: a.decommissioned_us, DATE),
        "isDecommissioned": _f(lambda a: a.is_decommissioned, BOOL),
        "isActive": _f(lambda a: a.is_active, BOOL),
        "isUninstalled": _f(lambda a: a.uninstalled, BOOL),
        "infected": _f(lambda a: a.active_threats > 0, BOOL),
        "osType": _f(lambda a: host(a).os_type, ENUM),
        "machineType": _f(lambda a: host(a).machine_type, ENUM),
        "networkStatus": _f(lambda a: "connected" if a.is_active else "disconnected", ENUM),
        "computerName": _f(lambda a: host(a).hostname, TEXT),
        "siteName": _f(lambda a: a.site.name, TEXT),
        "agentVersion": _f(lambda a: a.agent_version, TEXT),
    }
    from s1uvm.simulator import catalog

    def app(r: Any) -> Any:
        return catalog.APPS[r.app]

    def cve(r: Any) -> Any:
        return catalog.APPS[r.app].cves[r.cve]

    risk_fields = {
        "id": _f(lambda r: r.id, ID),
        "severity": _f(lambda r: cve(r).severity, ENUM),
        "osType": _f(lambda r: host(r.agent).os_type, ENUM),
        "endpointType": _f(lambda r: host(r.agent).machine_type, ENUM),
        "endpointName": _f(lambda r: host(r.agent).hostname, TEXT),
        "applicationName": _f(lambda r: app(r).name, TEXT),
        "application": _f(lambda r: f"{app(r).name} {app(r).versions[r.version]}", TEXT),
        "applicationVendor": _f(lambda r: app(r).vendor, TEXT),
        "cveId": _f(lambda r: cve(r).cve_id, TEXT),
        "baseScore": _f(lambda r: float(cve(r).score), NUM),
        "detectionDate": _f(lambda r: r.detected_us, DATE),
        "riskUpdatedDate": _f(lambda r: r.detected_us, DATE),
        "publishedDate": _f(lambda r: parse_iso(cve(r).published), DATE),
        "lastScanDate": _f(lambda r: r.agent.app_scan_us, DATE),
    }

    def m(t: Threat) -> Any:
        return catalog.MALWARE[t.malware]

    threat_fields = {
        "id": _f(lambda t: t.id, ID),
        "agentId": _f(lambda t: t.agent.id, ID),
        "createdAt": _f(lambda t: t.created_us, DATE),
        "updatedAt": _f(lambda t: t.updated_us, DATE),
        "incidentStatus": _f(lambda t: t.incident_status, ENUM),
        "analystVerdict": _f(lambda t: t.analyst_verdict, ENUM),
        "mitigationStatus": _f(lambda t: t.mitigation_status, ENUM),
        "confidenceLevel": _f(lambda t: t.confidence, ENUM),
        "classification": _f(lambda t: m(t).classification, ENUM),
        "contentHash": _f(lambda t: records.threat_sha1(world, t), TEXT),
        "osType": _f(lambda t: host(t.agent).os_type, ENUM),
        "agentMachineType": _f(lambda t: host(t.agent).machine_type, ENUM),
        "agentIsActive": _f(lambda t: t.agent.is_active, BOOL),
        "siteId": _f(lambda t: t.agent.site.id, ID),
        "siteName": _f(lambda t: t.agent.site.name, TEXT),
        "agentComputerName": _f(lambda t: host(t.agent).hostname, TEXT),
        "filePath": _f(lambda t: m(t).file_path, TEXT),
        "fileDisplayName": _f(lambda t: m(t).name, TEXT),
        "agentVersion": _f(lambda t: t.agent.agent_version, TEXT),
    }

    def agents_per(kind: str) -> Callable[[Any], int]:
        def count(obj: Any) -> int:
            return sum(
                1
                for a in world.agents
                if a.is_active and (a.site is obj if kind == "site" else a.group is obj)
            )

        return count

    site_active = agents_per("site")
    group_total = agents_per("group")

    def scope_fields(extra: dict[str, Field]) -> dict[str, Field]:
        return {
            "id": _f(lambda o: o.id, ID),
            "name": _f(lambda o: o.name, TEXT),
            "createdAt": _f(lambda o: o.created_us, DATE),
            "updatedAt": _f(lambda o: o.updated_us, DATE),
            "state": _f(lambda o: "active", ENUM),
            **extra,
        }

    tables: dict[str, Table[Any]] = {
        "agents": ListTable[Agent](
            "agents",
            agent_fields,
            lambda: world.agents,
            lambda a: (a.account.id, a.site.id, a.group.id),
            lambda a: encode(records.agent(world, a)),
            v,
        ),
        "threats": ListTable[Threat](
            "threats",
            threat_fields,
            lambda: world.threats,
            lambda t: (t.agent.account.id, t.agent.site.id, t.agent.group.id),
            lambda t: encode(records.threat(world, t)),
            v,
        ),
        "risks": RiskTable(world, risk_fields, lambda r: records.risk(world, r)),
        "accounts": ListTable[Account](
            "accounts",
            scope_fields({}),
            lambda: world.accounts,
            lambda a: (a.id, None, None),
            lambda a: encode(records.account(world, a)),
            v,
        ),
        "sites": ListTable[Site](
            "sites",
            scope_fields({"accountName": _f(lambda s: s.account.name, TEXT)}),
            lambda: world.sites,
            lambda s: (s.account.id, s.id, None),
            lambda s: encode(records.site(world, s, site_active(s))),
            v,
        ),
        "groups": ListTable[Group](
            "groups",
            scope_fields({"type": _f(lambda g: "static", ENUM), "rank": _f(lambda g: g.seq, NUM)}),
            lambda: world.groups,
            lambda g: (g.site.account.id, g.site.id, g.id),
            lambda g: encode(records.group(world, g, group_total(g))),
            v,
        ),
    }
    tables["agents/count"] = tables["agents"]
    return Endpoints(tables, FILTERS)


# --data: raw objects served exactly as given -------------------------------------------------


class RawRecord(msgspec.Struct):
    """One object from a ``--data`` file: its original bytes and a parsed copy to filter on."""

    raw: bytes
    obj: dict[str, Any]


class DataFileError(ValueError):
    """A ``--data`` file that cannot be served; the message names the file and the problem."""


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _load(path: Path) -> list[RawRecord]:
    """The objects of one ``--data`` file, each with its exact original bytes. A missing file
    is an empty list (a console with no threats is normal); anything else unusable is refused
    up front rather than served as a surprise."""
    if not path.exists():
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise DataFileError(f"{path}: empty file (expected a JSON array; [] for no records)")
    try:
        parts = msgspec.json.decode(data, type=list[msgspec.Raw])
    except msgspec.DecodeError:
        try:
            whole = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise DataFileError(f"{path}: invalid JSON ({exc})") from None
        got = "null" if whole is None else _JSON_TYPES.get(type(whole), type(whole).__name__)
        raise DataFileError(
            f"{path}: not a JSON array of objects (the file holds {got}; expected a list of "
            f"API objects as returned inside 'data')"
        ) from None
    out = []
    for i, part in enumerate(parts):
        obj = msgspec.json.decode(part)
        if not isinstance(obj, dict):
            got = "null" if obj is None else _JSON_TYPES.get(type(obj), type(obj).__name__)
            raise DataFileError(f"{path}: item {i} is {got}, not a JSON object")
        out.append(RawRecord(bytes(part), obj))
    return out


def _path(*keys: str) -> Callable[[RawRecord], Any]:
    def get(rec: RawRecord) -> Any:
        cur: Any = rec.obj
        for k in keys:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(k)
        return cur

    return get


def _date(*keys: str) -> Callable[[RawRecord], Any]:
    get = _path(*keys)

    def parsed(rec: RawRecord) -> int | None:
        value = get(rec)
        if not isinstance(value, str):
            return None
        try:
            return parse_iso(value)
        except ValueError:
            return None

    return parsed


def _text(*keys: str) -> Callable[[RawRecord], Any]:
    get = _path(*keys)
    return lambda rec: None if get(rec) is None else str(get(rec))


def from_files(directory: Path) -> Endpoints:
    agents = _load(directory / "agents.json")
    threats = _load(directory / "threats.json")
    risks = _load(directory / "risks.json")
    # Records are served as given, broken ones too (testing a pipeline's tolerance is one of
    # the reasons to serve files): only the top level must be objects.

    agent_scope = {
        str(a.obj.get("id")): (a.obj.get("accountId"), a.obj.get("siteId"), a.obj.get("groupId"))
        for a in agents
    }

    def raw(rec: RawRecord) -> bytes:
        return rec.raw

    rt = ("agentRealtimeInfo",)
    agent_fields = {
        "id": _f(_text("id"), ID),
        "uuid": _f(_path("uuid"), TEXT),
        **{k: _f(_date(k), DATE) for k in AGENT_FILTERS.dates},
        "isDecommissioned": _f(lambda r: _truthy(r.obj.get("isDecommissioned")), BOOL),
        "isActive": _f(lambda r: _truthy(r.obj.get("isActive")), BOOL),
        "isUninstalled": _f(lambda r: _truthy(r.obj.get("isUninstalled")), BOOL),
        "infected": _f(lambda r: _truthy(r.obj.get("infected")), BOOL),
        **{k: _f(_path(k), ENUM) for k in ("osType", "machineType", "networkStatus")},
        **{k: _f(_path(k), TEXT) for k in ("computerName", "siteName", "agentVersion")},
    }
    threat_fields = {
        "id": _f(_text("id"), ID),
        "agentId": _f(_text(*rt, "agentId"), ID),
        "createdAt": _f(_date("threatInfo", "createdAt"), DATE),
        "updatedAt": _f(_date("threatInfo", "updatedAt"), DATE),
        **{
            k: _f(_path("threatInfo", k), ENUM)
            for k in (
                "incidentStatus",
                "analystVerdict",
                "mitigationStatus",
                "confidenceLevel",
                "classification",
            )
        },
        "contentHash": _f(_path("threatInfo", "sha1"), TEXT),
        "osType": _f(_path(*rt, "agentOsType"), ENUM),
        "agentMachineType": _f(_path(*rt, "agentMachineType"), ENUM),
        "agentIsActive": _f(lambda r: _truthy(_path(*rt, "agentIsActive")(r)), BOOL),
        "siteId": _f(_text(*rt, "siteId"), ID),
        "siteName": _f(_path(*rt, "siteName"), TEXT),
        "agentComputerName": _f(_path(*rt, "agentComputerName"), TEXT),
        "filePath": _f(_path("threatInfo", "filePath"), TEXT),
        "fileDisplayName": _f(_path("threatInfo", "threatName"), TEXT),
        "agentVersion": _f(_path(*rt, "agentVersion"), TEXT),
    }
    risk_fields = {
        "id": _f(_text("id"), ID),
        "severity": _f(_path("severity"), ENUM),
        "osType": _f(_path("osType"), ENUM),
        "endpointType": _f(_path("endpointType"), ENUM),
        **{
            k: _f(_path(k), TEXT)
            for k in (
                "endpointName",
                "applicationName",
                "application",
                "applicationVendor",
                "cveId",
            )
        },
        "baseScore": _f(lambda r: _number(r.obj.get("baseScore")), NUM),
        "detectionDate": _f(_date("detectionDate"), DATE),
        "riskUpdatedDate": _f(_date("detectionDate"), DATE),
        "publishedDate": _f(_date("publishedDate"), DATE),
        "lastScanDate": _f(_date("lastScanDate"), DATE),
    }

    # Scope objects are what the records name: the console's tree as far as the data shows it.
    sites: dict[str, dict[str, Any]] = {}
    accounts: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    scoped = [a.obj for a in agents] + [t.obj.get("agentRealtimeInfo") or {} for t in threats]
    for o in scoped:
        acc, site, grp = o.get("accountId"), o.get("siteId"), o.get("groupId")
        if isinstance(acc, str):
            accounts.setdefault(acc, {"id": acc, "name": o.get("accountName"), "state": "active"})
        if isinstance(site, str):
            sites.setdefault(
                site,
                {
                    "id": site,
                    "name": o.get("siteName"),
                    "accountId": acc,
                    "accountName": o.get("accountName"),
                    "state": "active",
                },
            )
        if isinstance(grp, str):
            groups.setdefault(
                grp, {"id": grp, "name": o.get("groupName"), "siteId": site, "type": "static"}
            )

    def scope_records(objs: dict[str, dict[str, Any]]) -> list[RawRecord]:
        return [RawRecord(encode(o), o) for o in objs.values()]

    simple = {
        "id": _f(_text("id"), ID),
        "name": _f(_path("name"), TEXT),
        "state": _f(_path("state"), ENUM),
        "type": _f(_path("type"), ENUM),
        "createdAt": _f(_date("createdAt"), DATE),
        "updatedAt": _f(_date("updatedAt"), DATE),
        "accountName": _f(_path("accountName"), TEXT),
        "rank": _f(_path("rank"), NUM),
    }
    site_scope = {s["id"]: (s.get("accountId"), s["id"], None) for s in sites.values()}
    group_scope = {
        g["id"]: (
            site_scope.get(g.get("siteId") or "", (None, None, None))[0],
            g.get("siteId"),
            g["id"],
        )
        for g in groups.values()
    }
    site_recs, account_recs, group_recs = (
        scope_records(sites),
        scope_records(accounts),
        scope_records(groups),
    )
    tables: dict[str, Table[Any]] = {
        "agents": ListTable[RawRecord](
            "agents",
            agent_fields,
            lambda: agents,
            lambda r: (r.obj.get("accountId"), r.obj.get("siteId"), r.obj.get("groupId")),
            raw,
        ),
        "threats": ListTable[RawRecord](
            "threats",
            threat_fields,
            lambda: threats,
            lambda r: (
                _path(*rt, "accountId")(r),
                _path(*rt, "siteId")(r),
                _path(*rt, "groupId")(r),
            ),
            raw,
        ),
        "risks": ListTable[RawRecord](
            "risks",
            risk_fields,
            lambda: risks,
            lambda r: agent_scope.get(str(r.obj.get("endpointId")), (None, None, None)),
            raw,
        ),
        "sites": ListTable[RawRecord](
            "sites", simple, lambda: site_recs, lambda r: site_scope[r.obj["id"]], raw
        ),
        "accounts": ListTable[RawRecord](
            "accounts", simple, lambda: account_recs, lambda r: (r.obj["id"], None, None), raw
        ),
        "groups": ListTable[RawRecord](
            "groups", simple, lambda: group_recs, lambda r: group_scope[r.obj["id"]], raw
        ),
    }
    tables["agents/count"] = tables["agents"]
    return Endpoints(tables, FILTERS)


def _truthy(value: Any) -> bool:
    """Booleans as S1 sometimes sends them: true, "True", "true"."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
