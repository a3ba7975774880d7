"""``POST /_sim/advance``: deterministic change, and its summary matches what is then served."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import pytest

from s1uvm.simulator import Console, ConsoleTransport, SimConfig
from s1uvm.simulator.timefmt import parse_iso

EPOCH = 1_780_000_000_000_000


@pytest.fixture
def pair() -> Iterator[tuple[Console, httpx2.Client]]:
    console = Console(SimConfig(seed=6, agents=400, epoch_us=EPOCH))
    with httpx2.Client(
        transport=ConsoleTransport(console),
        base_url="http://s",
        headers={"Authorization": f"ApiToken {console.token}"},
    ) as c:
        yield console, c


def everything(c: httpx2.Client, path: str, **params: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        q: dict[str, Any] = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = c.get(f"/web/api/v2.1{path}", params=q).json()
        out.update({r["id"]: r for r in body["data"]})
        cursor = body["pagination"]["nextCursor"]
        if not cursor:
            return out


def test_advance_summary_matches_what_is_served(pair: tuple[Console, httpx2.Client]) -> None:
    _, c = pair
    agents0 = everything(c, "/agents", isDecommissioned="true,false")
    threats0 = everything(c, "/threats")
    risks0 = everything(c, "/application-management/risks")
    r = c.post("/_sim/advance", json={"hours": 72})
    summary = r.raise_for_status().json()
    assert parse_iso(summary["to"]) - parse_iso(summary["from"]) == 72 * 3600 * 10**6
    assert c.get("/_sim/state").json()["now"] == summary["to"]
    served_at = parsedate_to_datetime(r.headers["date"])
    assert served_at.timestamp() == parse_iso(summary["to"]) // 10**6  # the simulated clock

    agents1 = everything(c, "/agents", isDecommissioned="true,false")
    visible = everything(c, "/agents")
    for aid in summary["agents"]["created"]:
        assert aid in agents1 and aid not in agents0
    for aid in summary["agents"]["decommissioned"]:
        assert agents1[aid]["isDecommissioned"] and aid not in visible
    for pair_ in summary["agents"]["reimaged"]:
        old, new = agents1[pair_["old"]], agents1[pair_["new"]]
        assert new["computerName"] == old["computerName"]
        assert new["serialNumber"] == old["serialNumber"]
    beats = [
        a
        for a in agents0
        if a in agents1
        and agents1[a]["lastActiveDate"] != agents0[a]["lastActiveDate"]
        and a not in summary["agents"]["updated"]
        and a not in summary["agents"]["decommissioned"]
    ]
    assert beats, "heartbeats moved lastActiveDate"
    for aid in beats:
        assert agents1[aid]["updatedAt"] == agents0[aid]["updatedAt"]  # without updatedAt

    threats1 = everything(c, "/threats")
    assert set(summary["threats"]["created"]) == set(threats1) - set(threats0)
    for tid in summary["threats"]["statusChanged"]:
        before, after = threats0[tid]["threatInfo"], threats1[tid]["threatInfo"]
        assert parse_iso(after["updatedAt"]) > parse_iso(before["updatedAt"])
        assert (after["incidentStatus"], after["analystVerdict"]) != (
            before["incidentStatus"],
            before["analystVerdict"],
        )
    untouched = set(threats0) - set(summary["threats"]["statusChanged"])
    for tid in untouched:
        assert threats1[tid]["threatInfo"]["updatedAt"] == threats0[tid]["threatInfo"]["updatedAt"]

    risks1 = everything(c, "/application-management/risks")
    assert summary["risks"]["remediated"]
    assert not set(summary["risks"]["remediated"]) & set(risks1)
    # A risk can be found and then carried to a new version within one step: it is in both.
    net_added = set(summary["risks"]["added"]) - set(summary["risks"]["remediated"])
    assert net_added <= set(risks1)
    assert set(risks1) - set(risks0) == net_added
    gone = set(summary["risks"]["remediated"]) | set(summary["risks"]["retired"])
    assert set(risks0) - set(risks1) == gone & set(risks0)


def test_upgrades_keep_the_cve_under_a_new_version(pair: tuple[Console, httpx2.Client]) -> None:
    console, c = pair
    for _ in range(6):
        c.post("/_sim/advance", json={"hours": 48}).raise_for_status()
    risks = everything(c, "/application-management/risks").values()
    by_key: dict[tuple[str, str, str], set[str]] = {}
    for r in risks:
        by_key.setdefault((r["endpointId"], r["cveId"], r["applicationName"]), set()).add(
            r["applicationVersion"]
        )
    assert console.world is not None
    upgraded = [a for a in console.world.agents if a.upgrades]
    assert upgraded, "some applications were upgraded"
    carried = [
        a
        for a in upgraded
        for r in console.world.risks_of(a)
        if a.upgrades is not None and a.upgrades.get(r.app) == r.version
    ]
    assert carried, "a still-vulnerable upgrade serves the CVE under the new version"


def test_advance_is_deterministic() -> None:
    def run() -> list[bytes]:
        console = Console(SimConfig(seed=9, agents=150, epoch_us=EPOCH))
        with httpx2.Client(
            transport=ConsoleTransport(console),
            base_url="http://s",
            headers={"Authorization": f"ApiToken {console.token}"},
        ) as c:
            out = [c.post("/_sim/advance", json={"hours": h}).content for h in (1, 24, 5)]
            out += [
                c.get(f"/web/api/v2.1{p}", params={"limit": 1000}).content
                for p in ("/agents", "/threats", "/application-management/risks")
            ]
        return out

    assert run() == run()


@pytest.mark.parametrize("body", [{}, {"hours": 0}, {"hours": "x"}, {"hours": -1}])
def test_bad_advance_requests(pair: tuple[Console, httpx2.Client], body: dict[str, Any]) -> None:
    _, c = pair
    r = c.post("/_sim/advance", json=body)
    assert r.status_code == 400
