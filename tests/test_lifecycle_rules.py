"""The lifecycle rules on their own, with no database: what a sighting, an absence from a
complete snapshot, an out-of-order record and a re-image each do to a finding."""

from __future__ import annotations

import pytest

from s1uvm import lifecycle
from s1uvm.lifecycle import Absence, AgentRecord, on_absence, replaces, state_on_sight
from s1uvm.model import State

NOW = "2026-06-01T00:00:00.000000Z"
ARCHIVE_BEFORE = "2026-03-03T00:00:00.000000Z"  # 90 days before NOW


def absence(**kw: object) -> Absence:
    base: dict[str, object] = {
        "state": State.OPEN,
        "endpoint_known": True,
        "endpoint_lifecycle": "active",
        "scanned_at": "2026-05-01T00:00:00.000000Z",
        "seen_at": "2026-05-01T00:00:00.000000Z",
        "endpoint_active_at": "2026-04-01T00:00:00.000000Z",
        "rescan_at": None,
    }
    base.update(kw)
    return Absence(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "reported", "old", "want"),
    [
        ("vulnerability", "open", None, "open"),
        ("vulnerability", "open", "open", "open"),
        ("vulnerability", "open", "fixed", "reopened"),
        ("vulnerability", "open", "stale", "reopened"),
        ("vulnerability", "open", "archived", "reopened"),
        ("vulnerability", "open", "reopened", "reopened"),
        ("threat", "open", "suppressed", "reopened"),
        ("vulnerability", "open", "suppressed", "open"),  # only a threat's verdict reopens
        ("threat", "fixed", "open", "fixed"),
        ("threat", "suppressed", "fixed", "suppressed"),
    ],
)
def test_a_sighting(kind: str, reported: str, old: str | None, want: str) -> None:
    assert state_on_sight(kind, reported, old) == want


def test_history_events_name_the_change() -> None:
    assert lifecycle.event(None, "open") == "created"
    assert lifecycle.event("open", "open") == "updated"
    for new in ("fixed", "suppressed", "reopened", "stale", "archived"):
        assert lifecycle.event("open", new) == new
    assert lifecycle.event("fixed", "open") == "updated"


def test_absence_with_proof_of_a_rescan_is_fixed_at_the_rescan() -> None:
    got = on_absence(absence(rescan_at="2026-05-20T00:00:00.000000Z"), NOW, ARCHIVE_BEFORE)
    assert got == ("fixed", "2026-05-20T00:00:00.000000Z")


def test_absence_without_a_rescan_is_stale_never_fixed() -> None:
    # The endpoint's other risks were scanned no later than this one: no proof.
    same_scan = absence(rescan_at="2026-05-01T00:00:00.000000Z")
    assert on_absence(same_scan, NOW, ARCHIVE_BEFORE) == ("stale", None)
    assert on_absence(absence(), NOW, ARCHIVE_BEFORE) == ("stale", None)  # offline since
    inactive = absence(endpoint_lifecycle="inactive", endpoint_active_at=NOW)
    assert on_absence(inactive, NOW, ARCHIVE_BEFORE) == ("stale", None)


def test_absence_on_an_endpoint_active_since_with_no_risks_left_is_fixed_now() -> None:
    got = on_absence(absence(endpoint_active_at="2026-05-30T00:00:00.000000Z"), NOW, "x")
    assert got == ("fixed", NOW)


@pytest.mark.parametrize("life", ["retired", "superseded"])
def test_absence_on_a_retired_or_superseded_endpoint_is_archived_never_fixed(life: str) -> None:
    gone = absence(endpoint_lifecycle=life, rescan_at="2026-05-20T00:00:00.000000Z")
    assert on_absence(gone, NOW, ARCHIVE_BEFORE) == ("archived", None)
    assert on_absence(absence(endpoint_known=False), NOW, ARCHIVE_BEFORE) == ("archived", None)


def test_a_stale_finding_is_archived_after_ninety_days_and_not_changed_before() -> None:
    old = absence(state=State.STALE, seen_at="2026-03-01T00:00:00.000000Z")
    assert on_absence(old, NOW, ARCHIVE_BEFORE) == ("archived", None)
    recent = absence(state=State.STALE, seen_at="2026-05-01T00:00:00.000000Z")
    assert on_absence(recent, NOW, ARCHIVE_BEFORE) is None  # stays stale: no change, no event


def test_an_older_record_never_replaces_a_newer_one() -> None:
    t1, t2 = "2026-05-01T00:00:00.000000Z", "2026-05-02T00:00:00.000000Z"
    assert replaces(t1, t2, stored_this_run=False)
    assert not replaces(t2, t1, stored_this_run=False)
    assert not replaces(t2, t1, stored_this_run=True)
    assert replaces(t2, t2, stored_this_run=False)  # a re-read in a later run is compared
    assert not replaces(t2, t2, stored_this_run=True)  # the same version twice in one walk
    assert replaces(None, t1, stored_this_run=True)  # without times, the newer read wins
    assert replaces(t1, None, stored_this_run=False)


def record(agent: str, **kw: object) -> AgentRecord:
    base: dict[str, object] = {
        "agent_id": agent,
        "asset_id": "",
        "serial": None,
        "host": "",
        "macs": set(),
        "retired": False,
        "active": "",
    }
    base.update(kw)
    return AgentRecord(**base)  # type: ignore[arg-type]


def test_a_machine_is_recognised_by_serial_or_by_hostname_and_a_shared_mac() -> None:
    a = record("1", serial="abc", host="pc", macs={"aa"})
    assert lifecycle.same_machine(record("2", serial="abc"), a)
    assert lifecycle.same_machine(record("2", host="pc", macs={"aa", "bb"}), a)
    assert not lifecycle.same_machine(record("2", host="pc", macs={"bb"}), a)
    assert not lifecycle.same_machine(record("2", host="other", macs={"aa"}), a)
    assert not lifecycle.same_machine(record("1", serial="abc"), a)  # itself


def test_placeholder_serials_identify_nothing() -> None:
    for junk in ("", " To be filled by O.E.M. ", "0", "Default string", None):
        assert lifecycle.serial_key(junk) is None
    assert lifecycle.serial_key(" ABC-1 ") == "abc-1"


def test_the_current_record_is_the_latest_active_one_not_retired() -> None:
    old = record("1", active="2026-05-01T00:00:00.000000Z", retired=True)
    new = record("2", active="2026-04-01T00:00:00.000000Z")
    newest_retired = record("3", active="2026-05-30T00:00:00.000000Z", retired=True)
    assert lifecycle.current_record([old, new, newest_retired]) is new
    assert lifecycle.current_record([old, newest_retired]) is newest_retired
