"""The simulator's contract over real HTTP, part 3: filters mean what the API says they mean
(s1-api.md §4, §5.1–5.3), and malformed values are 400 4000010.

Each filter is checked against a *universe*: the first records of a walk sorted by another
date field. On the simulator that is everything; on a big real console it is every record
below a bound, which the filtered requests then also send. Expected results are computed
from the records themselves, so the checks hold on whatever data the console has.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from s1uvm.simulator import SimConfig
from s1uvm.simulator.timefmt import iso_us, parse_iso
from tests.conftest import EPOCH, ConsoleUnderTest, Serve, ids, total, validation_error, walk

RISKS = "/application-management/risks"
CAP = 600  # records a universe may hold before it is bounded
OPS: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
Get = Callable[[dict[str, Any]], Any]


@dataclass
class Universe:
    """Records the checks reason about, and the parameters that confine a request to them."""

    records: list[dict[str, Any]]
    bound: dict[str, str] = field(default_factory=dict)

    def matching(
        self,
        client: httpx2.Client,
        path: str,
        **params: Any,
    ) -> set[str]:
        """Ids a filtered walk returns, confined to the universe."""
        return set(ids(walk(client, path, limit=500, **self.bound, **params)))

    def where(self, keep: Callable[[dict[str, Any]], bool]) -> set[str]:
        return {r["id"] for r in self.records if keep(r)}


def universe(client: httpx2.Client, path: str, sort_by: str, get: Get, **base: str) -> Universe:
    """The first ``CAP`` records in ``sort_by`` order; if there are more, those strictly below
    the last one's value, with ``sort_by__lt`` to keep filtered requests inside."""
    records = walk(client, path, limit=200, cap=CAP, sortBy=sort_by, **base)
    if len(records) < 3:
        pytest.skip(f"{path}: too few records to check filters")
    if len(records) == total(client, path, **base):
        return Universe(records, dict(base))
    edge = get(records[-1])
    inside = [r for r in records if parse_iso(get(r)) < parse_iso(edge)]
    return Universe(inside, {**base, f"{sort_by}__lt": edge})


def readable(client: httpx2.Client, path: str) -> None:
    if client.get(path, params={"limit": 1}).status_code == 403:
        pytest.skip(f"{path} is not readable with this token")


def threat_info(name: str) -> Get:
    return lambda t: t["threatInfo"][name]


def realtime(name: str) -> Get:
    return lambda t: t["agentRealtimeInfo"][name]


def top(name: str) -> Get:
    return lambda r: r[name]


# (path, date filter under test, how to read it, another date field to bound the universe by)
DATES: list[tuple[str, str, Get, str, Get, dict[str, str]]] = [
    ("/threats", "createdAt", threat_info("createdAt"), "updatedAt", threat_info("updatedAt"), {}),
    ("/threats", "updatedAt", threat_info("updatedAt"), "createdAt", threat_info("createdAt"), {}),
    (
        "/agents",
        "createdAt",
        top("createdAt"),
        "updatedAt",
        top("updatedAt"),
        {"isDecommissioned": "true,false"},
    ),
    (
        "/agents",
        "updatedAt",
        top("updatedAt"),
        "createdAt",
        top("createdAt"),
        {"isDecommissioned": "true,false"},
    ),
    (RISKS, "detectionDate", top("detectionDate"), "publishedDate", top("publishedDate"), {}),
]
DATE_IDS = [f"{d[0]}-{d[1]}" for d in DATES]


@pytest.mark.realconsole
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize(("path", "name", "get", "by", "by_get", "base"), DATES, ids=DATE_IDS)
def test_date_filters_have_exact_boundaries(
    s1: httpx2.Client,
    path: str,
    name: str,
    get: Get,
    by: str,
    by_get: Get,
    base: dict[str, str],
    op: str,
) -> None:
    """``__gt``/``__lt`` exclude a record stamped exactly at the bound; ``__gte``/``__lte``
    include it. The bound is a real record's own timestamp, to the microsecond."""
    readable(s1, path)
    u = universe(s1, path, by, by_get, **base)
    stamps = sorted(u.records, key=lambda r: parse_iso(get(r)))
    pivot = stamps[len(stamps) // 2]
    bound = parse_iso(get(pivot))
    got = u.matching(s1, path, **{f"{name}__{op}": get(pivot)})
    assert got == u.where(lambda r: OPS[op](parse_iso(get(r)), bound))
    assert (pivot["id"] in got) == op.endswith("e")
    assert got, "the bound splits the records"


@pytest.mark.realconsole
@pytest.mark.parametrize(("path", "name", "get", "by", "by_get", "base"), DATES, ids=DATE_IDS)
def test_date_filters_take_any_iso_form(
    s1: httpx2.Client,
    path: str,
    name: str,
    get: Get,
    by: str,
    by_get: Get,
    base: dict[str, str],
) -> None:
    """Seconds without fractions (Azure CCF), microseconds (Cribl), and an explicit offset all
    name the same instant (s1-api.md §4)."""
    readable(s1, path)
    u = universe(s1, path, by, by_get, **base)
    pivot = sorted(parse_iso(get(r)) for r in u.records)[len(u.records) // 2]
    second = pivot // 1_000_000 * 1_000_000
    forms = [
        iso_us(second)[:19] + "Z",
        iso_us(second),
        iso_us(second + 3_600_000_000)[:19] + "+01:00",
    ]
    want = u.where(lambda r: parse_iso(get(r)) >= second)
    for form in forms:
        assert u.matching(s1, path, **{f"{name}__gte": form}) == want, form


@pytest.mark.realconsole
@pytest.mark.parametrize(("path", "name", "get", "by", "by_get", "base"), DATES, ids=DATE_IDS)
def test_between_takes_inclusive_epoch_milliseconds(
    s1: httpx2.Client,
    console: ConsoleUnderTest,
    path: str,
    name: str,
    get: Get,
    by: str,
    by_get: Get,
    base: dict[str, str],
) -> None:
    """``__between=<from_ms>-<to_ms>``, both ends included (s1-api.md §4)."""
    readable(s1, path)
    u = universe(s1, path, by, by_get, **base)
    stamps = sorted(parse_iso(get(r)) for r in u.records)
    lo, hi = stamps[len(stamps) // 4] // 1000, stamps[3 * len(stamps) // 4] // 1000
    got = u.matching(s1, path, **{f"{name}__between": f"{lo}-{hi}"})

    def ms(r: dict[str, Any]) -> int:
        return parse_iso(get(r)) // 1000

    want = u.where(lambda r: lo <= ms(r) <= hi)
    if console.sim is None:
        # Whether a real console counts the sub-millisecond tail of the last millisecond is
        # not known; leave records inside the two edge milliseconds out of the comparison.
        edge = u.where(lambda r: ms(r) in (lo, hi) and parse_iso(get(r)) % 1000 != 0)
        got, want = got - edge, want - edge
    assert got == want and want
    # A record's own millisecond, as both ends, finds it: the ends are inclusive.
    pivot = u.records[len(u.records) // 2]
    at = ms(pivot)
    assert pivot["id"] in u.matching(s1, path, **{f"{name}__between": f"{at - 1}-{at}"})
    assert pivot["id"] not in u.matching(s1, path, **{f"{name}__between": f"{at + 1}-{at + 9}"})


@pytest.mark.realconsole
def test_threat_id_and_scope_filters(s1: httpx2.Client) -> None:
    """``ids``, ``agentIds``, ``siteIds``, ``accountIds``, ``groupIds`` take comma lists and
    match the threat's agent as it is now (``agentRealtimeInfo``, §5.4)."""
    u = universe(s1, "/threats", "createdAt", threat_info("createdAt"))
    some = u.records[:: max(1, len(u.records) // 3)][:3]
    assert u.matching(s1, "/threats", ids=",".join(ids(some))) == set(ids(some))
    assert u.matching(s1, "/threats", ids=some[0]["id"]) == {some[0]["id"]}
    for param, name in (
        ("agentIds", "agentId"),
        ("siteIds", "siteId"),
        ("accountIds", "accountId"),
        ("groupIds", "groupId"),
    ):
        values = sorted({realtime(name)(t) for t in some})
        got = u.matching(s1, "/threats", **{param: ",".join(values)})
        assert got == u.where(lambda t, n=name, v=values: realtime(n)(t) in v), param  # type: ignore[misc]
        assert {t["id"] for t in some} <= got


@pytest.mark.realconsole
def test_threat_incident_statuses(s1: httpx2.Client) -> None:
    """``incidentStatuses`` keeps the listed statuses; ``incidentStatusesNin`` drops them."""
    u = universe(s1, "/threats", "createdAt", threat_info("createdAt"))
    status = threat_info("incidentStatus")
    for chosen in (["resolved"], ["unresolved", "in_progress"], ["in_progress"]):
        got = u.matching(s1, "/threats", incidentStatuses=",".join(chosen))
        assert got == u.where(lambda t, c=chosen: status(t) in c), chosen  # type: ignore[misc]
        got = u.matching(s1, "/threats", incidentStatusesNin=",".join(chosen))
        assert got == u.where(lambda t, c=chosen: status(t) not in c), chosen  # type: ignore[misc]


def test_threat_filters_see_every_status(s1: httpx2.Client, console: ConsoleUnderTest) -> None:
    """The simulated world has threats in each incident status, so the checks above bite."""
    console.need_sim()
    seen = {t["threatInfo"]["incidentStatus"] for t in walk(s1, "/threats", limit=1000)}
    assert seen == {"unresolved", "in_progress", "resolved"}


@pytest.mark.realconsole
def test_agent_id_uuid_and_scope_filters(s1: httpx2.Client) -> None:
    everything = {"isDecommissioned": "true,false"}
    u = universe(s1, "/agents", "createdAt", top("createdAt"), **everything)
    some = u.records[:: max(1, len(u.records) // 3)][:3]
    assert u.matching(s1, "/agents", ids=",".join(ids(some))) == set(ids(some))
    assert u.matching(s1, "/agents", uuids=some[1]["uuid"]) == u.where(
        lambda a: a["uuid"] == some[1]["uuid"]
    )
    for param, name in (
        ("siteIds", "siteId"),
        ("accountIds", "accountId"),
        ("groupIds", "groupId"),
    ):
        values = sorted({a[name] for a in some})
        got = u.matching(s1, "/agents", **{param: ",".join(values)})
        assert got == u.where(lambda a, n=name, v=values: a[n] in v), param  # type: ignore[misc]


@pytest.mark.realconsole
def test_decommissioned_agents_are_hidden_unless_asked_for(
    s1: httpx2.Client, console: ConsoleUnderTest
) -> None:
    """By default ``/agents`` leaves decommissioned agents out (§5.2, §8.9)."""
    default = walk(s1, "/agents", limit=1000, cap=3000)
    only = walk(s1, "/agents", limit=1000, cap=3000, isDecommissioned="true")
    both = walk(s1, "/agents", limit=1000, cap=6000, isDecommissioned="true,false")
    assert not any(a["isDecommissioned"] for a in default)
    assert all(a["isDecommissioned"] for a in only)
    assert set(ids(default)) == set(ids(walk(s1, "/agents", cap=3000, isDecommissioned="false")))
    assert total(s1, "/agents", isDecommissioned="true,false") == total(s1, "/agents") + total(
        s1, "/agents", isDecommissioned="true"
    )
    if len(both) < 6000:
        assert set(ids(both)) == set(ids(default)) | set(ids(only))
    if console.sim is not None:
        assert only, "the simulator always has decommissioned agents"
        assert len(both) > len(default)


def risk_places(client: httpx2.Client) -> dict[str, tuple[str, str]]:
    """Agent id → (account id, site id): risks carry only the endpoint id."""
    agents = walk(client, "/agents", limit=1000, isDecommissioned="true,false")
    return {a["id"]: (a["accountId"], a["siteId"]) for a in agents}


@pytest.mark.parametrize(("param", "index"), [("accountIds", 0), ("siteIds", 1)])
def test_risk_scope_filters_take_one_id(
    s1: httpx2.Client, console: ConsoleUnderTest, param: str, index: int
) -> None:
    """Risk scope filters are "Single Account/Site/Group ID to filter by" (§5.3): one id
    filters exactly, two are a validation error."""
    console.need_sim()
    places = risk_places(s1)
    everything = walk(s1, RISKS, limit=1000)
    scopes = sorted({p[index] for p in places.values()})
    for scope_id in scopes:
        got = set(ids(walk(s1, RISKS, limit=1000, **{param: scope_id})))
        assert got == {r["id"] for r in everything if places[r["endpointId"]][index] == scope_id}
        assert got
    assert param in validation_error(s1.get(RISKS, params={param: ",".join(scopes[:2])}))


@pytest.mark.realconsole
def test_risk_severities(s1: httpx2.Client) -> None:
    readable(s1, RISKS)
    u = universe(s1, RISKS, "publishedDate", top("publishedDate"))
    for chosen in (["CRITICAL"], ["CRITICAL", "HIGH"], ["LOW", "MEDIUM"]):
        got = u.matching(s1, RISKS, severities=",".join(chosen))
        assert got == u.where(lambda r, c=chosen: r["severity"] in c), chosen  # type: ignore[misc]


@pytest.mark.realconsole
def test_risk_updated_date_bounds_detections(s1: httpx2.Client) -> None:
    """``riskUpdatedDate`` (the delta key, §5.3) is not on the record, but a risk is updated no
    earlier than it was detected: detected since X ⊆ updated since X."""
    readable(s1, RISKS)
    u = universe(s1, RISKS, "publishedDate", top("publishedDate"))
    stamps = sorted(r["detectionDate"] for r in u.records)
    for pivot in (stamps[0], stamps[len(stamps) // 2], stamps[-1]):
        detected = u.matching(s1, RISKS, detectionDate__gte=pivot)
        updated = u.matching(s1, RISKS, riskUpdatedDate__gte=pivot)
        assert detected <= updated
    assert u.matching(s1, RISKS, riskUpdatedDate__gte="2999-01-01T00:00:00Z") == set()
    assert u.matching(s1, RISKS, riskUpdatedDate__lte="2999-01-01T00:00:00Z") == u.where(
        lambda r: True
    )


def test_risk_updated_date_follows_remediation_and_upgrades(serve: Serve) -> None:
    """After an advance, ``riskUpdatedDate__gt=<before>`` returns the risks that were added,
    as a delta sync expects (the records have no ``updatedAt`` to watch)."""
    target = serve(SimConfig(seed=13, agents=80, epoch_us=EPOCH))
    with target.client() as c, httpx2.Client(base_url=target.url) as control:
        before = iso_us(EPOCH)
        summary = control.post("/_sim/advance", json={"hours": 72}).raise_for_status().json()
        added = set(summary["risks"]["added"])
        assert added
        assert added <= set(ids(walk(c, RISKS, limit=1000, riskUpdatedDate__gt=before)))


def test_include_removals_false_is_the_plain_list(
    s1: httpx2.Client, console: ConsoleUnderTest
) -> None:
    """``includeRemovals=false`` asks for no removed rows: the ordinary list, not nothing."""
    console.need_sim()
    assert total(s1, RISKS, includeRemovals="false") == total(s1, RISKS) > 0


def test_scope_filters_narrow_each_other(s1: httpx2.Client, console: ConsoleUnderTest) -> None:
    """Two filters on the same level intersect: ``ids`` and ``accountIds`` naming different
    accounts match nothing, and neither is silently dropped."""
    console.need_sim()
    accounts = ids(walk(s1, "/accounts"))
    assert len(accounts) >= 2
    assert walk(s1, "/accounts", ids=accounts[0], accountIds=accounts[1]) == []
    assert ids(walk(s1, "/accounts", ids=accounts[0], accountIds=accounts[0])) == accounts[:1]
    sites = walk(s1, "/sites")
    other = next(s for s in sites if s["accountId"] != sites[0]["accountId"])
    assert walk(s1, "/threats", siteIds=other["id"], accountIds=sites[0]["accountId"]) == []


# -- malformed values -------------------------------------------------------------------------

MALFORMED: list[tuple[str, dict[str, str], str]] = [
    ("/threats", {"updatedAt__gte": "yesterday"}, "updatedAt__gte"),
    ("/threats", {"createdAt__lt": "2024-02-30T00:00:00Z"}, "createdAt__lt"),
    ("/threats", {"createdAt__gt": "1700000000000"}, "createdAt__gt"),
    ("/threats", {"createdAt__between": "1-two"}, "createdAt__between"),
    ("/threats", {"updatedAt__between": "1700000000000"}, "updatedAt__between"),
    ("/threats", {"siteIds": "abc"}, "siteIds"),
    ("/threats", {"ids": "123"}, "ids"),
    ("/threats", {"agentIds": "1523974406517023959,12"}, "agentIds"),
    ("/threats", {"accountIds": "-1523974406517023959"}, "accountIds"),
    ("/agents", {"accountIds": "1,2"}, "accountIds"),
    ("/agents", {"groupIds": "1e18"}, "groupIds"),
    ("/agents", {"isDecommissioned": "maybe"}, "isDecommissioned"),
    ("/agents", {"updatedAt__lte": "2024-13-01T00:00:00Z"}, "updatedAt__lte"),
    ("/agents/count", {"siteIds": "x"}, "siteIds"),
    (RISKS, {"detectionDate__gt": "2024"}, "detectionDate__gt"),
    (RISKS, {"riskUpdatedDate__gte": "not-a-date"}, "riskUpdatedDate__gte"),
    (RISKS, {"siteIds": "123"}, "siteIds"),
    ("/groups", {"siteIds": "site"}, "siteIds"),
    ("/sites", {"accountIds": "0"}, "accountIds"),
    ("/threats", {"countOnly": "perhaps"}, "countOnly"),
    ("/threats", {"skipCount": "2"}, "skipCount"),
]


@pytest.mark.realconsole
@pytest.mark.parametrize(("path", "params", "name"), MALFORMED)
def test_malformed_values_are_400_naming_the_parameter(
    s1: httpx2.Client, path: str, params: dict[str, str], name: str
) -> None:
    """Bad dates, non-numeric or short ids, bad booleans: 400 4000010 that names the field."""
    readable(s1, path)
    assert name in validation_error(s1.get(path, params=params))


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/threats", "updatedSince"),
        ("/threats", "createdAt__before"),
        ("/agents", "lastSeen__gte"),
        (RISKS, "updatedAt__gte"),  # risks have no updatedAt (§8.11)
        ("/groups", "agentIds"),
    ],
)
def test_unknown_parameters_are_rejected(
    s1: httpx2.Client, console: ConsoleUnderTest, path: str, name: str
) -> None:
    """A misspelt filter must fail loudly, not silently return everything."""
    console.need_sim()
    assert name in validation_error(s1.get(path, params={name: "2024-01-01T00:00:00Z"}))
