"""Writing pages: upserts keyed by identity, history only on real change, ids kept as text,
findings joined to their asset whichever arrives first, and a page with its checkpoint all or
nothing."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from s1uvm.model import asset_key
from s1uvm.store import PageResult, Store
from tests.databases import INTEGRITY_ERRORS
from tests.store.rows import SOURCE_ID, asset, rejected, threat, vuln

AGENT = "100000000000000001"
LEADING_ZEROS = "0000000000004733528"
BEYOND_INT64 = "18446744073709551617"  # 2^64 + 1
NINETEEN_DIGITS = "9223372036854775809"


def events(store: Store, finding_id: str) -> list[str]:
    return [h["event_type"] for h in store.history(finding_id)]


def history_rows(store: Store) -> int:
    return int(store.conn.execute("SELECT count(*) FROM finding_history").fetchone()[0])


def write(store: Store, run: int, **page: Any) -> PageResult:
    return store.write_page(run, "c1", "vulnerabilities", **page)


@pytest.fixture
def run(store: Store) -> int:
    return store.start_run("c1", "vulnerabilities", "snapshot")


def test_every_finding_column_round_trips(store: Store, run: int) -> None:
    row = vuln(
        AGENT,
        "CVE-2024-3094",
        state="open",
        last_seen_at="2025-06-03T00:00:00.000000Z",
        source_updated_at="2025-06-03T01:00:00.000000Z",
        cvss_score=10.0,
        app_version=["5.6.1", "5.6.0"],
        last_scan_at="2025-06-03T02:00:00.000000Z",
        raw=msgspec.Raw(b'{"id": "2228104980801805822", "nested": {"n": [1, 2.5, null]}}'),
    )
    t = threat(
        AGENT,
        NINETEEN_DIGITS,
        threat_name="evil.exe",
        classification="Ransomware",
        confidence="malicious",
        analyst_verdict="undefined",
        mitigation_status="not_mitigated",
        file_path="C:\\Users\\x\\evil.exe",
        sha1="a" * 40,
        sha256="b" * 64,
    )
    write(store, run, findings=[row, t])
    found = {f["kind"]: f for f in store.query_findings()}
    v = found["vulnerability"]
    expected = msgspec.structs.asdict(row) | {
        "app_version": ["5.6.0", "5.6.1"],  # a set of versions, kept sorted
        "raw": {"id": SOURCE_ID, "nested": {"n": [1, 2.5, None]}},
        "asset_id": asset_key("c1", AGENT),
        "hostname": None,  # no asset yet
        "fixed_at": None,
        "last_run_id": run,
        "reopen_count": 0,
    }
    assert {k: v[k] for k in expected} == expected
    assert v["created_at"] == v["updated_at"] and v["created_at"].endswith("Z")
    th = found["threat"]
    assert {k: th[k] for k in ("threat_name", "file_path", "sha1", "sha256", "source_id")} == {
        "threat_name": "evil.exe",
        "file_path": "C:\\Users\\x\\evil.exe",
        "sha1": "a" * 40,
        "sha256": "b" * 64,
        "source_id": NINETEEN_DIGITS,
    }


def test_every_asset_column_round_trips(store: Store, run: int) -> None:
    row = asset(
        AGENT,
        agent_uuid="4d3b9f2a1c",
        domain="corp.example",
        os_type="windows",
        os_name="Windows 11 Pro",
        os_version="10.0.22631",
        machine_type="laptop",
        serial_number="5CG1234XYZ",
        ipv4=["10.0.0.5", "192.168.1.5"],
        ipv6=["fe80::1"],
        mac=["bc:24:11:b4:ad:14", "00:50:56:c0:00:08"],
        external_ip="203.0.113.7",
        account_id=LEADING_ZEROS,
        account_name="Acme",
        site_id=NINETEEN_DIGITS,
        site_name="HQ",
        group_id=BEYOND_INT64,
        group_name="Default",
        agent_version="24.1.2.6",
        is_active=True,
        is_decommissioned=False,
        is_uninstalled=None,
        lifecycle="active",
        last_active_at="2025-06-03T00:00:00.000000Z",
        source_updated_at="2025-06-03T01:00:00.000000Z",
    )
    store.write_page(run, "c1", "assets", assets=[row])
    (a,) = store.query_assets()
    expected = msgspec.structs.asdict(row) | {
        "raw": {"id": AGENT},
        "asset_id": asset_key("c1", AGENT),
        "last_run_id": run,
    }
    assert {k: a[k] for k in expected} == expected
    assert a["is_active"] is True and a["is_decommissioned"] is False
    assert a["first_seen_at"] == a["last_seen_at"] and a["first_seen_at"].endswith("Z")


@pytest.mark.parametrize("ident", [LEADING_ZEROS, NINETEEN_DIGITS, BEYOND_INT64])
def test_ids_stay_text(store: Store, run: int, ident: str) -> None:
    write(
        store,
        run,
        assets=[asset(ident, site_id=ident)],
        findings=[threat(ident, ident), vuln(ident, "CVE-2024-1", source_id=ident)],
        rejected=[rejected(ident)],
        checkpoint={"last_id": ident},
    )
    (a,) = store.query_assets()
    assert (a["agent_id"], a["site_id"]) == (ident, ident)
    assert a["asset_id"] == asset_key("c1", ident)
    for f in store.query_findings():
        assert (f["agent_id"], f["source_id"]) == (ident, ident)
    assert store.get_checkpoint("c1", "vulnerabilities") == {"last_id": ident}
    if store.dialect.name == "sqlite":  # typed by value: ask each stored value
        kinds = {
            r[0]
            for r in store.conn.execute(
                "SELECT typeof(agent_id) FROM assets UNION ALL SELECT typeof(site_id) FROM "
                "assets UNION ALL SELECT typeof(source_id) FROM findings UNION ALL "
                "SELECT typeof(agent_id) FROM findings UNION ALL "
                "SELECT typeof(source_id) FROM rejected_records"
            )
        }
    else:  # typed by column
        kinds = {
            r[0]
            for r in store.conn.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND column_name IN ('agent_id', 'site_id', 'source_id')"
            )
        }
    assert kinds == {"text"}
    assert next(store.query_assets(host=ident[-7:]))["agent_id"] == ident


def test_writing_the_same_page_twice_changes_nothing(store: Store, run: int) -> None:
    page = [vuln(AGENT, "CVE-2024-1"), vuln(AGENT, "CVE-2024-2"), threat(AGENT, "2" * 18)]
    first = write(store, run, findings=page)
    before = {f["finding_id"]: f for f in store.query_findings()}
    second = write(store, store.start_run("c1", "vulnerabilities", "snapshot"), findings=page)
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    for f in store.query_findings():
        assert events(store, f["finding_id"]) == ["created"]
        old = before[f["finding_id"]]
        assert (f["created_at"], f["updated_at"], f["first_seen_at"]) == (
            old["created_at"],
            old["updated_at"],
            old["first_seen_at"],
        )
    assert history_rows(store) == 3


def test_changes_outside_the_material_fields_write_no_history(store: Store, run: int) -> None:
    write(store, run, findings=[vuln(AGENT, "CVE-2024-1")])
    result = write(
        store,
        run,
        findings=[
            vuln(
                AGENT,
                "CVE-2024-1",
                last_seen_at="2026-01-01T00:00:00.000000Z",
                source_updated_at="2026-01-01T00:00:00.000000Z",
                last_scan_at="2026-01-01T00:00:00.000000Z",
                raw=msgspec.Raw(b'{"id": "2228104980801805822", "new": true}'),
            )
        ],
    )
    assert (result.updated, result.unchanged) == (0, 1)
    (f,) = store.query_findings()
    assert f["last_seen_at"] == "2026-01-01T00:00:00.000000Z"  # stored, just not history
    assert f["raw"] == {"id": SOURCE_ID, "new": True}
    assert events(store, f["finding_id"]) == ["created"]


def test_a_material_change_writes_one_history_row_with_the_fields(store: Store, run: int) -> None:
    write(store, run, findings=[vuln(AGENT, "CVE-2024-1")])
    (before,) = store.query_findings()
    result = write(
        store,
        store.start_run("c1", "vulnerabilities", "snapshot"),
        findings=[vuln(AGENT, "CVE-2024-1", severity="critical", app_version=["1.1", "1.0"])],
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    (after,) = store.query_findings()
    history = store.history(after["finding_id"])
    assert [h["event_type"] for h in history] == ["created", "updated"]
    assert history[1]["changed"] == {
        "severity": ["high", "critical"],
        "app_version": [["1.0"], ["1.0", "1.1"]],
    }
    assert (history[1]["old_state"], history[1]["new_state"]) == ("open", "open")
    assert after["updated_at"] > before["updated_at"]
    assert after["created_at"] == before["created_at"]


def test_state_changes_are_named_in_history(store: Store, run: int) -> None:
    t = threat(AGENT, "200000000000000001")
    steps = [
        (t, "open", "created"),
        (
            msgspec.structs.replace(
                t, state="fixed", incident_status="resolved", fixed_at="2025-01-02T00:00:00.000000Z"
            ),
            "fixed",
            "fixed",
        ),
        (t, "reopened", "reopened"),
        (
            msgspec.structs.replace(
                t, state="suppressed", incident_status="resolved", analyst_verdict="false_positive"
            ),
            "suppressed",
            "suppressed",
        ),
        (t, "reopened", "reopened"),
        (msgspec.structs.replace(t, severity="critical"), "reopened", "updated"),
    ]
    for row, state, event in steps:
        store.write_page(run, "c1", "threats", findings=[row])
        (f,) = store.query_findings(kind="threat")
        assert f["state"] == state
        assert events(store, f["finding_id"])[-1] == event
    assert len(events(store, f["finding_id"])) == len(steps)
    assert f["reopen_count"] == 2
    assert f["fixed_at"] is None  # open again: no fixed date
    fixed = store.history(f["finding_id"])[1]
    assert (fixed["old_state"], fixed["new_state"]) == ("open", "fixed")
    assert fixed["changed"]["fixed_at"] == [None, "2025-01-02T00:00:00.000000Z"]


def test_a_closed_finding_without_a_source_date_keeps_its_fixed_at(store: Store, run: int) -> None:
    t = threat(AGENT, "200000000000000001", state="fixed", incident_status="resolved")
    store.write_page(run, "c1", "threats", findings=[t])
    (first,) = store.query_findings()
    again = store.write_page(run, "c1", "threats", findings=[t])
    (second,) = store.query_findings()
    assert first["fixed_at"] is not None
    assert second["fixed_at"] == first["fixed_at"]
    assert again.unchanged == 1
    assert events(store, first["finding_id"]) == ["created"]


def test_first_seen_comes_from_the_source_and_only_moves_back(store: Store, run: int) -> None:
    write(store, run, findings=[vuln(AGENT, "CVE-2024-1", first_seen_at=None)])
    (f,) = store.query_findings()
    stored_at = f["first_seen_at"]
    assert stored_at == f["created_at"]  # no detection date given: when we first stored it
    write(
        store,
        run,
        findings=[vuln(AGENT, "CVE-2024-1", first_seen_at="2999-01-01T00:00:00.000000Z")],
    )
    assert next(store.query_findings())["first_seen_at"] == stored_at  # never later
    write(
        store,
        run,
        findings=[vuln(AGENT, "CVE-2024-1", first_seen_at="2020-01-01T00:00:00.000000Z")],
    )
    assert next(store.query_findings())["first_seen_at"] == "2020-01-01T00:00:00.000000Z"
    write(store, run, findings=[vuln(AGENT, "CVE-2024-1", first_seen_at=None)])
    assert next(store.query_findings())["first_seen_at"] == "2020-01-01T00:00:00.000000Z"


def test_last_seen_is_the_sources_or_the_latest_write(store: Store, run: int) -> None:
    write(store, run, findings=[vuln(AGENT, "CVE-2024-1")])
    (first,) = store.query_findings()
    write(store, run, findings=[vuln(AGENT, "CVE-2024-1")])
    (second,) = store.query_findings()
    assert second["last_seen_at"] > first["last_seen_at"]
    write(
        store, run, findings=[vuln(AGENT, "CVE-2024-1", last_seen_at="2025-07-01T00:00:00.000000Z")]
    )
    assert next(store.query_findings())["last_seen_at"] == "2025-07-01T00:00:00.000000Z"


def test_assets_keep_their_id_and_first_sighting(store: Store, run: int) -> None:
    first = store.write_page(run, "c1", "assets", assets=[asset(AGENT)])
    (a1,) = store.query_assets()
    same = store.write_page(
        run, "c1", "assets", assets=[asset(AGENT, last_active_at="2026-01-02T03:04:05.000000Z")]
    )
    moved = store.write_page(run, "c1", "assets", assets=[asset(AGENT, hostname="renamed")])
    (a2,) = store.query_assets()
    assert (first.created, same.unchanged, moved.updated) == (1, 1, 1)
    assert a2["asset_id"] == a1["asset_id"] == asset_key("c1", AGENT)
    assert a2["first_seen_at"] == a1["first_seen_at"]
    assert a2["last_seen_at"] > a1["last_seen_at"]
    assert a2["hostname"] == "renamed"


def test_the_same_record_twice_in_one_page_is_one_row(store: Store, run: int) -> None:
    result = write(
        store,
        run,
        assets=[asset(AGENT), asset(AGENT)],
        findings=[
            vuln(AGENT, "CVE-2024-1", app_version=["1.0"]),
            vuln(AGENT, "CVE-2024-1", app_version=["2.0"]),
            threat(AGENT, "2" * 18),
            threat(AGENT, "2" * 18),
        ],
    )
    assert result.created == 3  # one asset, two findings
    assert len(list(store.query_assets())) == 1
    found = {f["kind"]: f for f in store.query_findings()}
    assert found["vulnerability"]["app_version"] == ["1.0", "2.0"]  # both risk records' versions
    assert events(store, found["threat"]["finding_id"]) == ["created"]
    assert events(store, found["vulnerability"]["finding_id"])[0] == "created"


def test_findings_join_their_asset_whichever_arrives_first(store: Store, run: int) -> None:
    store.write_page(run, "c1", "threats", findings=[threat(AGENT, "200000000000000001")])
    store.write_page(run, "c1", "assets", assets=[asset(AGENT)])
    store.write_page(run, "c1", "vulnerabilities", findings=[vuln(AGENT, "CVE-2024-2")])
    (a,) = store.query_assets()
    findings = list(store.query_findings())
    assert len(findings) == 2
    assert {f["asset_id"] for f in findings} == {a["asset_id"]}
    assert {f["hostname"] for f in findings} == {f"host-{AGENT}"}


def test_findings_follow_a_reimaged_host_that_arrives_after_them(store: Store, run: int) -> None:
    old_agent, new_agent = "100000000000000001", "100000000000000002"
    store.write_page(
        run, "c1", "assets", assets=[asset(old_agent, serial_number="5CG1234XYZ", hostname="pc")]
    )
    store.write_page(run, "c1", "threats", findings=[threat(new_agent, "200000000000000001")])
    store.write_page(
        run,
        "c1",
        "assets",
        assets=[
            asset(
                new_agent,
                serial_number="5CG1234XYZ",
                hostname="pc",
                last_active_at="2025-06-03T00:00:00.000000Z",
            )
        ],
    )
    assets = {a["agent_id"]: a for a in store.query_assets()}
    assert assets[new_agent]["asset_id"] == assets[old_agent]["asset_id"]
    assert assets[old_agent]["superseded_by"] == new_agent
    (f,) = store.query_findings()
    assert f["asset_id"] == assets[old_agent]["asset_id"]


def test_rejected_records_are_kept_with_their_reason(store: Store, run: int) -> None:
    result = write(
        store,
        run,
        rejected=[rejected("5", b'{"id": "5"}'), rejected(None, b'{"id": "6", "cut sho')],
    )
    assert result.rejected == 2
    rows = store.conn.execute(
        "SELECT run_id, console, connector, source_id, reason, raw FROM rejected_records "
        "ORDER BY id"
    ).fetchall()
    assert rows == [
        (run, "c1", "vulnerabilities", "5", "cveId is missing", '{"id": "5"}'),
        (run, "c1", "vulnerabilities", None, "cveId is missing", '{"id": "6", "cut sho'),
    ]
    assert store.counts()["rejected_records"] == 2


def test_checkpoints_round_trip_by_scope(store: Store, run: int) -> None:
    assert store.get_checkpoint("c1", "threats") is None
    value = {"updated_at": "2025-01-01T00:00:00.000000Z", "tie": [LEADING_ZEROS], "n": 3}
    store.write_page(run, "c1", "threats", checkpoint=value)
    store.write_page(run, "c1", "threats", checkpoint={"other": True}, scope="site:1")
    assert store.get_checkpoint("c1", "threats") == value
    assert store.get_checkpoint("c1", "threats", "site:1") == {"other": True}
    assert store.get_checkpoint("c2", "threats") is None
    store.write_page(run, "c1", "threats", checkpoint={})  # an empty checkpoint is still one
    assert store.get_checkpoint("c1", "threats") == {}
    store.write_page(run, "c1", "threats", findings=[threat(AGENT, "2" * 18)])
    assert store.get_checkpoint("c1", "threats") == {}  # a page without one leaves it


def test_a_failing_page_writes_nothing_at_all(store: Store, run: int) -> None:
    store.write_page(
        run,
        "c1",
        "threats",
        assets=[asset(AGENT)],
        findings=[threat(AGENT, "2" * 18)],
        checkpoint={"updated_at": "2025-01-01T00:00:00.000000Z"},
    )
    before = (
        list(store.query_assets()),
        list(store.query_findings()),
        history_rows(store),
        store.counts(),
    )
    broken = msgspec.structs.replace(threat(AGENT, "3" * 18), title=None)  # NOT NULL
    with pytest.raises(INTEGRITY_ERRORS):
        store.write_page(
            run,
            "c1",
            "threats",
            assets=[asset(AGENT, hostname="changed"), asset("100000000000000009")],
            findings=[threat(AGENT, "4" * 18), threat(AGENT, "2" * 18, severity="low"), broken],
            rejected=[rejected("7")],
            checkpoint={"updated_at": "2025-06-01T00:00:00.000000Z"},
        )
    after = (
        list(store.query_assets()),
        list(store.query_findings()),
        history_rows(store),
        store.counts(),
    )
    assert after == before
    assert store.get_checkpoint("c1", "threats") == {"updated_at": "2025-01-01T00:00:00.000000Z"}
    assert not store.conn.in_transaction
    ok = store.write_page(run, "c1", "threats", findings=[threat(AGENT, "4" * 18)])
    assert ok.created == 1  # the store carries on after the failure


def test_a_run_is_started_and_finished(store: Store) -> None:
    killed = store.start_run("c1", "threats", "incremental")
    run = store.start_run("c1", "threats", "incremental")
    assert run > killed
    (started,) = store.runs(connector="threats", limit=1)
    assert (started["outcome"], started["finished_at"], started["mode"]) == (
        "running",
        None,
        "incremental",
    )
    assert started["started_at"].endswith("Z")
    (aborted,) = [r for r in store.runs() if r["run_id"] == killed]
    assert aborted["outcome"] == "aborted" and aborted["finished_at"] is not None
    counts = {
        "records": 10,
        "pages": 2,
        "created": 4,
        "updated": 3,
        "unchanged": 2,
        "rejected": 1,
        "retries": 5,
        "throttled": 1,
    }
    store.finish_run(run, "partial", counts, True, "the console stopped paging early")
    (done,) = store.runs(connector="threats", limit=1)
    assert (done["outcome"], done["complete_snapshot"], done["error"]) == (
        "partial",
        True,
        "the console stopped paging early",
    )
    assert (
        done["records"],
        done["created"],
        done["updated"],
        done["unchanged"],
        done["rejected"],
    ) == (
        10,
        4,
        3,
        2,
        1,
    )
    assert done["counts"] == counts
    assert done["finished_at"] >= done["started_at"]
