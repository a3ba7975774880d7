"""Reading: filters as the CLI passes them (comma lists, case-insensitive host and CVE),
iterators that stream from the cursor, the run ledger as status shows it, and counts."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import msgspec
import pytest

from s1uvm.store import Store, open_store
from tests.store.plans import plan_of
from tests.store.rows import asset, threat, vuln

WEB, DB, LAB = "1" * 18, "2" * 18, "3" * 18


@pytest.fixture
def filled(store: Store) -> Store:
    run = store.start_run("c1", "vulnerabilities", "snapshot")
    store.write_page(
        run,
        "c1",
        "assets",
        assets=[
            asset(WEB, hostname="WEB-01"),
            asset(DB, hostname="db_02", lifecycle="inactive"),
            asset(LAB, hostname="lab", lifecycle="retired"),
        ],
    )
    store.write_page(
        run,
        "c1",
        "vulnerabilities",
        findings=[
            vuln(WEB, "CVE-2024-1", severity="critical"),
            vuln(WEB, "CVE-2024-12", severity="medium"),
            vuln(DB, "CVE-2024-2", severity="low"),
            threat(DB, "9" * 18, severity="medium", state="fixed", incident_status="resolved"),
            threat(LAB, "8" * 18, severity="high"),
        ],
    )
    other = store.start_run("c2", "vulnerabilities", "snapshot")
    store.write_page(
        other,
        "c2",
        "vulnerabilities",
        findings=[msgspec.structs.replace(vuln(WEB, "CVE-2024-1"), console="c2", finding_id="x")],
    )
    return store


def cves(store: Store, **filters: Any) -> set[str | None]:
    return {f["cve_id"] or f["source_id"] for f in store.query_findings(**filters)}


def test_finding_filters(filled: Store) -> None:
    s = filled
    assert cves(s, severity="critical") == {"CVE-2024-1"}
    assert cves(s, severity="Critical, LOW", console="c1") == {"CVE-2024-1", "CVE-2024-2"}
    assert cves(s, kind="threat") == {"9" * 18, "8" * 18}
    assert cves(s, kind="threat,vulnerability", console="c1") == cves(s, console="c1")
    assert cves(s, state="fixed") == {"9" * 18}
    assert cves(s, state="open", kind="threat") == {"8" * 18}
    assert cves(s, host="web") == {"CVE-2024-1", "CVE-2024-12"}
    assert cves(s, host="B-0") == {"CVE-2024-1", "CVE-2024-12"}  # a substring, any case
    assert cves(s, host="b_0") == {"CVE-2024-2", "9" * 18}  # "_" is a character, not a wildcard
    assert cves(s, host="%") == set()
    assert cves(s, cve="cve-2024-1", console="c1") == {"CVE-2024-1"}  # exact: not CVE-2024-12
    assert cves(s, cve="CVE-2024-1") == {"CVE-2024-1"}
    assert len(list(s.query_findings(cve="CVE-2024-1"))) == 2  # on both consoles
    assert cves(s, console="c2") == {"CVE-2024-1"}
    assert cves(s, severity="medium", kind="vulnerability") == {"CVE-2024-12"}
    assert len(list(s.query_findings(limit=2))) == 2
    assert cves(s, severity="none-such") == set()


def test_findings_carry_their_hostname(filled: Store) -> None:
    hosts = {
        f["cve_id"] or f["source_id"]: f["hostname"] for f in filled.query_findings(console="c1")
    }
    assert hosts == {
        "CVE-2024-1": "WEB-01",
        "CVE-2024-12": "WEB-01",
        "CVE-2024-2": "db_02",
        "9" * 18: "db_02",
        "8" * 18: "lab",
    }


def test_asset_filters(filled: Store) -> None:
    def hosts(**filters: Any) -> list[str]:
        return [a["hostname"] for a in filled.query_assets(**filters)]

    assert hosts() == ["WEB-01", "db_02", "lab"]
    assert hosts(host="DB") == ["db_02"]
    assert hosts(host="_") == ["db_02"]
    assert hosts(lifecycle="inactive,retired") == ["db_02", "lab"]
    assert hosts(console="c2") == []
    assert len(list(filled.query_assets(limit=1))) == 1


def test_queries_stream_rows_instead_of_loading_them(store: Store) -> None:
    run = store.start_run("c1", "vulnerabilities", "snapshot")
    raw = msgspec.Raw(msgspec.json.encode({"pad": "x" * 4000}))
    for page in range(5):
        store.write_page(
            run,
            "c1",
            "vulnerabilities",
            findings=[vuln(str(10**17 + page), f"CVE-2024-{i}", raw=raw) for i in range(1000)],
        )
    rows = store.query_findings()  # 5000 rows of > 4 KB: > 20 MB if held at once
    tracemalloc.start()
    try:
        count = sum(1 for _ in rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 5000
    assert peak < 2_000_000, peak


def test_a_query_is_lazy_and_can_be_abandoned(store: Store) -> None:
    run = store.start_run("c1", "assets", "full")
    store.write_page(run, "c1", "assets", assets=[asset(str(10**17 + i)) for i in range(3000)])
    rows = store.query_assets()
    first = next(rows)
    store.write_page(run, "c1", "assets", assets=[asset(str(10**18 + 1))])  # writes carry on
    assert first["agent_id"] == str(10**17)
    assert sum(1 for _ in rows) >= 2999


def test_runs_newest_first_and_the_last_run_of_each_connector(store: Store) -> None:
    first = store.start_run("c1", "assets", "full")
    store.write_page(first, "c1", "assets", checkpoint={"updated_at": "a"})
    store.finish_run(first, "success", {"records": 1}, True, None)
    second = store.start_run("c1", "assets", "incremental")
    store.write_page(second, "c1", "assets", checkpoint={"updated_at": "b"})
    store.finish_run(second, "failed", {"records": 0}, False, "HTTP 401")
    threats = store.start_run("c1", "threats", "full")
    store.finish_run(threats, "success", {"records": 5}, False, None)
    elsewhere = store.start_run("c2", "assets", "full")

    assert [r["run_id"] for r in store.runs()] == [elsewhere, threats, second, first]
    assert [r["run_id"] for r in store.runs(console="c1", connector="assets")] == [second, first]
    assert [r["run_id"] for r in store.runs(limit=1)] == [elsewhere]

    last = {(r["console"], r["connector"]): r for r in store.last_runs()}
    assert {k: v["run_id"] for k, v in last.items()} == {
        ("c1", "assets"): second,
        ("c1", "threats"): threats,
        ("c2", "assets"): elsewhere,
    }
    a = last[("c1", "assets")]
    assert (a["outcome"], a["error"], a["checkpoint"], a["counts"]) == (
        "failed",
        "HTTP 401",
        {"updated_at": "b"},
        {"records": 0},
    )
    assert a["complete_snapshot"] is False
    assert last[("c2", "assets")]["outcome"] == "running"
    assert last[("c2", "assets")]["checkpoint"] is None
    assert last[("c1", "threats")]["counts"] == {"records": 5}


def test_counts(filled: Store) -> None:
    counts = filled.counts()
    assert counts == {
        "assets": {"active": 1, "inactive": 1, "retired": 1},
        "vulnerabilities": {"open": 4},
        "threats": {"fixed": 1, "open": 1},
        "assets_total": 3,
        "findings_total": 6,
        "runs": 2,
        "rejected_records": 0,
    }


def test_history_is_oldest_first(store: Store) -> None:
    run = store.start_run("c1", "threats", "full")
    t = threat(WEB, "7" * 18)
    for severity in ("high", "low", "critical"):
        store.write_page(
            run, "c1", "threats", findings=[msgspec.structs.replace(t, severity=severity)]
        )
    history = store.history(t.finding_id)
    assert [h["event_type"] for h in history] == ["created", "updated", "updated"]
    assert [h["changed"] for h in history] == [
        None,
        {"severity": ["high", "low"]},
        {"severity": ["low", "critical"]},
    ]
    assert all(h["run_id"] == run for h in history)
    assert history[0]["event_id"] < history[1]["event_id"] < history[2]["event_id"]


def test_a_cve_is_found_through_its_index(db: Path) -> None:
    """``findings --cve`` reads the CVE's findings, not the whole table: the query compares
    the stored (upper-case) column itself, so SQLite can use ``findings_cve``."""
    store = open_store(str(db))
    try:
        plan = plan_of(store, lambda: list(store.query_findings(cve="cve-2024-1")), "SELECT f.*")
    finally:
        store.close()
    assert "findings_cve" in plan, plan
