"""The store keeps the console's truth against consoles that lie and runs that overlap, on both
backends: records out of order or twice, a run that closes findings while another still writes
them, and re-imaged hosts (one finding per machine + CVE + product)."""

from __future__ import annotations

from typing import Any

import pytest

from s1uvm.model import finding_key
from s1uvm.store import LeaseLost, Store
from s1uvm.store._leases import default_owner, owner_alive
from tests.store.rows import asset, threat, vuln

T1 = "2026-05-01T10:00:00.000000Z"
T2 = "2026-05-01T11:00:00.000000Z"
T3 = "2026-05-01T12:00:00.000000Z"


def resolved(agent: str, tid: str, at: str) -> Any:
    return threat(
        agent,
        tid,
        state="fixed",
        incident_status="resolved",
        source_updated_at=at,
        last_seen_at=at,
        fixed_at=at,
    )


def unresolved(agent: str, tid: str, at: str) -> Any:
    return threat(agent, tid, source_updated_at=at, last_seen_at=at)


def events(store: Store, finding_id: str) -> list[tuple[str, str | None]]:
    return [(h["event_type"], h["new_state"]) for h in store.history(finding_id)]


def state_of(store: Store, finding_id: str) -> str:
    (row,) = [f for f in store.query_findings() if f["finding_id"] == finding_id]
    return str(row["state"])


def test_an_older_record_after_a_newer_one_changes_nothing(store: Store) -> None:
    run = store.start_run("c1", "threats", "full")
    new, old = resolved("1", "9", T2), unresolved("1", "9", T1)
    store.write_page(run, "c1", "threats", findings=[new, old])  # in one page
    store.write_page(run, "c1", "threats", findings=[old])  # in a later page
    store.finish_run(run, "success", {}, False, None)
    later = store.start_run("c1", "threats", "incremental")
    result = store.write_page(later, "c1", "threats", findings=[old])  # in a later run
    assert result.unchanged == 1 and result.updated == 0
    assert state_of(store, new.finding_id) == "fixed"
    assert events(store, new.finding_id) == [("created", "fixed")]


def test_one_version_sent_twice_with_different_contents_counts_once_in_a_run(
    store: Store,
) -> None:
    """A console that sends the same threat twice in one walk, resolved then unresolved with
    the same updatedAt: the first one read stands, and history has one row, not a flip-flop."""
    run = store.start_run("c1", "threats", "full")
    first, second = resolved("1", "9", T2), unresolved("1", "9", T2)
    store.write_page(run, "c1", "threats", findings=[first, second, first])
    store.write_page(run, "c1", "threats", findings=[second])
    assert events(store, first.finding_id) == [("created", "fixed")]
    # A later run that reads the version again at the same time compares it as usual.
    again = store.start_run("c1", "threats", "incremental")
    store.write_page(again, "c1", "threats", findings=[first])
    assert events(store, first.finding_id) == [("created", "fixed")]


def test_real_changes_in_order_each_give_one_row(store: Store) -> None:
    run = store.start_run("c1", "threats", "full")
    store.write_page(
        run,
        "c1",
        "threats",
        findings=[unresolved("1", "9", T1), resolved("1", "9", T2), unresolved("1", "9", T3)],
    )
    fid = finding_key("c1", "1", "threat", "9")
    assert events(store, fid) == [("created", "open"), ("fixed", "fixed"), ("reopened", "reopened")]


def test_an_older_agent_record_does_not_replace_a_newer_one(store: Store) -> None:
    run = store.start_run("c1", "assets", "full")
    newer = asset("7", hostname="after", source_updated_at=T2)
    older = asset("7", hostname="before", source_updated_at=T1)
    store.write_page(run, "c1", "assets", assets=[newer])
    store.finish_run(run, "success", {}, False, None)
    again = store.start_run("c1", "assets", "incremental")
    store.write_page(again, "c1", "assets", assets=[older])
    (row,) = store.query_assets()
    assert row["hostname"] == "after"


def snapshot(store: Store, findings: list[Any]) -> int:
    run = store.start_run("c1", "vulnerabilities", "snapshot")
    store.write_page(run, "c1", "vulnerabilities", findings=findings)
    return run


def test_a_snapshot_never_closes_what_a_run_still_going_has_written(store: Store) -> None:
    """Two runs of one connector overlap (the lease is the first line of defence; this is the
    second): the one that started later lacks a finding the earlier one wrote after it began.
    Nothing the other run saw since this one started is closed; what was last seen before it
    began and is missing from its complete snapshot is."""
    store.write_page(store.start_run("c1", "assets", "full"), "c1", "assets", assets=[asset("1")])
    earlier = snapshot(store, [vuln("1", "CVE-2024-1")])
    later = snapshot(store, [vuln("1", "CVE-2024-2")])
    store.write_page(earlier, "c1", "vulnerabilities", findings=[vuln("1", "CVE-2024-3")])
    closed = store.close_missing(later, "c1")
    assert (closed.fixed, closed.stale, closed.archived) == (0, 1, 0)
    store.finish_run(earlier, "success", {}, True, None)
    assert store.close_missing(later, "c1").stale == 0
    states = {f["cve_id"]: f["state"] for f in store.query_findings()}
    assert states == {"CVE-2024-1": "stale", "CVE-2024-2": "open", "CVE-2024-3": "open"}


def test_a_snapshot_closes_what_runs_ended_before_it_saw(store: Store) -> None:
    store.write_page(store.start_run("c1", "assets", "full"), "c1", "assets", assets=[asset("1")])
    first = snapshot(store, [vuln("1", "CVE-2024-1"), vuln("1", "CVE-2024-2")])
    store.finish_run(first, "success", {}, True, None)
    second = snapshot(store, [vuln("1", "CVE-2024-2")])
    closed = store.close_missing(second, "c1")
    assert closed.stale == 1  # the endpoint was not rescanned since: stale, not fixed
    states = {f["cve_id"]: f["state"] for f in store.query_findings()}
    assert states == {"CVE-2024-1": "stale", "CVE-2024-2": "open"}


def test_a_reimaged_machine_has_one_finding_per_cve_and_product(store: Store) -> None:
    """Agent 1 was re-imaged as agent 2 (same serial number); both records still report the
    same CVE. One open finding on the machine, the current record's; the superseded record's
    own finding is archived into it, with history saying so — never fixed."""
    run = store.start_run("c1", "assets", "full")
    store.write_page(
        run,
        "c1",
        "assets",
        assets=[asset("1", serial_number="SN-9", last_active_at=T1)],
    )
    first = snapshot(store, [vuln("1", "CVE-2024-1")])
    store.finish_run(first, "success", {}, True, None)
    store.write_page(
        run,
        "c1",
        "assets",
        assets=[asset("2", serial_number="SN-9", last_active_at=T2)],
    )
    agents = {a["agent_id"]: a for a in store.query_assets()}
    assert agents["1"]["lifecycle"] == "superseded" and agents["1"]["superseded_by"] == "2"
    assert agents["2"]["lifecycle"] == "active" and agents["2"]["superseded_by"] is None
    assert agents["1"]["asset_id"] == agents["2"]["asset_id"]
    second = snapshot(store, [vuln("1", "CVE-2024-1"), vuln("2", "CVE-2024-1")])
    closed = store.close_missing(second, "c1")
    assert closed.fixed == 0
    findings = {f["finding_id"]: f for f in store.query_findings()}
    open_ones = [f for f in findings.values() if f["state"] == "open"]
    assert len(open_ones) == 1 and open_ones[0]["agent_id"] == "2"
    assert open_ones[0]["first_seen_at"] == vuln("1", "CVE-2024-1").first_seen_at
    old = vuln("1", "CVE-2024-1").finding_id
    assert findings[old]["state"] == "archived"
    (last,) = store.history(old)[-1:]
    assert last["changed"]["reason"] == "agent superseded"
    assert last["changed"]["folded_into"] == open_ones[0]["finding_id"]
    # Reported again by the superseded record: still the one finding, nothing reopened.
    third = snapshot(store, [vuln("1", "CVE-2024-1")])
    store.close_missing(third, "c1")
    assert findings[old]["state"] == state_of(store, old) == "archived"
    assert [f["state"] for f in store.query_findings() if f["state"] == "open"] == ["open"]


def test_versions_from_several_records_change_nothing_when_read_again(store: Store) -> None:
    """A re-imaged machine's two agent records report one CVE at two versions: one finding
    with both versions, and a snapshot that reads the same again writes no history."""
    run = store.start_run("c1", "assets", "full")
    store.write_page(
        run,
        "c1",
        "assets",
        assets=[
            asset("1", serial_number="SN-9", last_active_at=T1),
            asset("2", serial_number="SN-9", last_active_at=T2),
        ],
    )
    pages = [
        vuln("2", "CVE-2024-1", app_version=["2.0"]),
        vuln("1", "CVE-2024-1", app_version=["1.0"]),
    ]
    for _ in range(3):
        run = snapshot(store, pages[:1])
        store.write_page(run, "c1", "vulnerabilities", findings=pages[1:])
        store.close_missing(run, "c1")
        store.finish_run(run, "success", {}, True, None)
    (finding,) = list(store.query_findings())
    assert finding["app_version"] == ["1.0", "2.0"] and finding["agent_id"] == "2"
    assert events(store, finding["finding_id"]) == [("created", "open")]
    # A version really gone is one history row, when the run is done.
    run = snapshot(store, pages[:1])
    store.close_missing(run, "c1")
    store.finish_run(run, "success", {}, True, None)
    history = store.history(finding["finding_id"])
    assert [(h["event_type"], h["changed"]) for h in history[1:]] == [
        ("updated", {"app_version": [["1.0", "2.0"], ["2.0"]]})
    ]


def test_a_run_whose_lease_was_taken_writes_nothing_more(store: Store) -> None:
    """A sync stopped (SIGSTOP, a frozen VM) past its lease, then resumed while another run
    holds the console: its next page is refused whole, not written beside the new holder's."""
    assert store.leases.take("old-holder", "c1", "https://c1", 0.0) is None  # expires at once
    assert store.leases.take("new-holder", "c1", "https://c1", 120.0) is None  # taken over
    run = store.start_run("c1", "vulnerabilities", "snapshot")
    with pytest.raises(LeaseLost, match="now held by new-holder"):
        store.write_page(
            run, "c1", "vulnerabilities", findings=[vuln("1", "CVE-2024-1")], fence="old-holder"
        )
    with pytest.raises(LeaseLost):
        store.close_missing(run, "c1", fence="old-holder")
    assert list(store.query_findings()) == []
    store.write_page(
        run, "c1", "vulnerabilities", findings=[vuln("1", "CVE-2024-1")], fence="new-holder"
    )
    assert len(list(store.query_findings())) == 1


def test_only_a_process_provably_ended_here_loses_its_lease_early() -> None:
    me = default_owner()
    assert owner_alive(me)
    host_pid, _, ns = me.partition("@")
    host = host_pid.rpartition(":")[0]
    gone = f"{host}:{2**22 + 17}"  # no such pid
    if ns:
        assert not owner_alive(f"{gone}@{ns}")
    assert owner_alive(gone)  # no namespace: cannot tell, the lease decides
    assert owner_alive(f"{gone}@1")  # another container's pid namespace
    assert owner_alive(f"elsewhere:{2**22 + 17}@{ns}")  # another machine
    assert owner_alive("vm:999999")  # a worker's own --id
