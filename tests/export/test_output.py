"""Bookmarks mean what they say and files stay safe: aliases of one path share a bookmark, a
filtered export has its own, ``{date}`` files continue one feed, older bookmark names carry
on, nothing new leaves the file alone, special files are written in place, links planted at
any name the export could create are never followed, files are 0600, Parquet's staging
never outlives the export."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s1uvm.cli.main import cli
from s1uvm.export import ExportError, export
from s1uvm.store import Store, open_store
from tests.databases import BACKENDS, database
from tests.store.rows import threat, vuln

AGENT = "100000000000000001"
DAY1 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DAY2 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as where:
        yield where


@pytest.fixture
def store(target: str) -> Iterator[Store]:
    s = open_store(target)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "data" / "s.db")
    yield s
    s.close()


def write(store: Store, *rows: Any) -> None:
    run = store.start_run("c1", "vulnerabilities", "snapshot")
    store.write_page(run, "c1", "vulnerabilities", findings=list(rows))


def seed(store: Store) -> None:
    write(
        store,
        vuln(AGENT, "CVE-2024-0001", severity="critical"),
        vuln(AGENT, "CVE-2024-0002", severity="high"),
        threat(AGENT, "9000000000000000001", severity="critical"),
        threat(AGENT, "9000000000000000002", severity="low"),
    )


def events_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def snapshot(path: Path) -> tuple[bytes, int, int]:
    info = path.stat()
    return path.read_bytes(), info.st_ino, info.st_mtime_ns


def test_aliases_of_one_path_share_one_bookmark(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
    seed(store)
    first = export(store, fmt="jsonl", out="day1.jsonl")
    assert first.records == 4 and first.bookmark == f"jsonl:{tmp_path.resolve()}/day1.jsonl"
    before = snapshot(tmp_path / "day1.jsonl")
    for alias in ("./day1.jsonl", str(tmp_path / "day1.jsonl"), "alias/day1.jsonl"):
        again = export(store, fmt="jsonl", out=alias)
        assert again.nothing_new and again.records == 0 and again.bookmark == first.bookmark
        assert snapshot(tmp_path / "day1.jsonl") == before  # left exactly as it was
    write(store, vuln(AGENT, "CVE-2024-0001", severity="critical", state="fixed"))
    later = export(store, fmt="jsonl", out="alias/day1.jsonl")
    assert later.records == 1
    (event,) = events_in(tmp_path / "day1.jsonl")
    assert (event["event_type"], event["old_state"], event["new_state"]) == (
        "fixed",
        "open",
        "fixed",
    )


def test_a_filtered_export_never_moves_another_exports_bookmark(
    store: Store, tmp_path: Path
) -> None:
    seed(store)
    out = tmp_path / "feed.jsonl"
    filtered = export(store, fmt="jsonl", out=str(out), kind="threat", severity="Critical")
    assert filtered.records == 1
    assert filtered.bookmark == f"jsonl:{out}?kind=threat&severity=critical"
    assert {e["source_id"] for e in events_in(out)} == {"9000000000000000001"}
    everything = export(store, fmt="jsonl", out=str(out))
    assert everything.records == 4 and everything.bookmark == f"jsonl:{out}"
    # The same filters, spelt differently, are the same feed; it has nothing new.
    again = export(store, fmt="jsonl", out=str(out), kind="threat", severity="critical,")
    assert again.nothing_new and again.bookmark == filtered.bookmark
    # A named bookmark keeps the filters it was run with.
    export(store, fmt="jsonl", out="-", bookmark="siem", severity="critical", stdout=io.StringIO())
    with pytest.raises(ExportError, match="bookmark 'siem' was last used with filters"):
        export(store, fmt="jsonl", bookmark="siem", stdout=io.StringIO())


def test_a_dated_file_name_continues_one_feed(store: Store, tmp_path: Path) -> None:
    seed(store)
    template = str(tmp_path / "out" / "findings-{date}.jsonl")
    day1 = export(store, fmt="jsonl", out=template, now=DAY1)
    assert day1.path == str(tmp_path / "out" / "findings-2026-12-01.jsonl")
    assert day1.bookmark == f"jsonl:{tmp_path}/out/findings-{{date}}.jsonl"
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    write(store, threat(AGENT, "9000000000000000002", severity="low", state="fixed"))
    day2 = export(store, fmt="jsonl", out=template, now=DAY2)
    assert (day1.records, day2.records, day2.bookmark) == (4, 1, day1.bookmark)
    assert [e["event_type"] for e in events_in(Path(str(day2.path)))] == ["fixed"]
    assert len(events_in(Path(str(day1.path)))) == 4
    stamped = export(store, fmt="jsonl", out=str(tmp_path / "{datetime}-{time}.jsonl"), now=DAY1)
    assert stamped.nothing_new is False and stamped.path == str(
        tmp_path / "20261201T060000Z-060000.jsonl"
    )
    with pytest.raises(ExportError, match=r"unknown placeholder \{day\}; use \{date\}"):
        export(store, fmt="jsonl", out=str(tmp_path / "f-{day}.jsonl"))


def test_bookmarks_stored_by_earlier_versions_carry_on(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(store, vuln(AGENT, "CVE-2024-0001"), vuln(AGENT, "CVE-2024-0002"))
    delivered = max(int(r[0]) for r in store.conn.execute("SELECT event_id FROM finding_history"))
    # As an earlier version stored it: keyed on the --out text as typed, an event id only.
    store.conn.execute(
        store.dialect.sql(
            "INSERT INTO export_bookmarks (name, event_id, updated_at) VALUES (?, ?, ?)"
        ),
        ("jsonl:day1.jsonl", delivered, "2026-12-01T00:00:00.000000Z"),
    )
    store.conn.execute(
        store.dialect.sql(
            "INSERT INTO export_bookmarks (name, event_id, updated_at) VALUES (?, ?, ?)"
        ),
        ("siem", delivered, "2026-12-01T00:00:00.000000Z"),
    )
    write(store, vuln(AGENT, "CVE-2024-0003"))
    assert export(store, fmt="jsonl", out="day1.jsonl").records == 1
    assert [e["cve_id"] for e in events_in(tmp_path / "day1.jsonl")] == ["CVE-2024-0003"]
    assert export(store, fmt="jsonl", out="day1.jsonl").nothing_new
    assert [e["cve_id"] for e in _stdout(store, bookmark="siem")] == ["CVE-2024-0003"]
    assert _stdout(store, bookmark="siem") == []


def _stdout(store: Store, **kw: Any) -> list[dict[str, Any]]:
    buf = io.StringIO()
    export(store, fmt="jsonl", stdout=buf, **kw)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_nothing_new_says_so_and_leaves_the_file(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    s = open_store(db)
    seed(s)
    s.close()
    out = tmp_path / "feed.csv"
    runner = CliRunner()
    first = runner.invoke(cli, ["export", "--db", db, "--format", "csv", "--out", str(out)])
    assert first.exit_code == 0, first.stderr
    assert first.stderr == f"4 records written to {out}\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    before = snapshot(out)
    second = runner.invoke(cli, ["export", "--db", db, "--format", "csv", "--out", str(out)])
    assert second.exit_code == 0
    (line,) = second.stderr.splitlines()
    assert line.startswith("s1uvm: no new events since 20")
    assert line.endswith(f"(the last export of bookmark 'csv:{out}'); {out} left as it was")
    assert snapshot(out) == before
    never = runner.invoke(
        cli,
        [
            "export",
            "--db",
            db,
            "--format",
            "csv",
            "--out",
            str(tmp_path / "x.csv"),
            "--state",
            "suppressed",
        ],
    )
    assert never.exit_code == 0
    assert never.stderr == (
        f"s1uvm: no events yet (for bookmark 'csv:{tmp_path}/x.csv?state=suppressed'); "
        "nothing written\n"
    )
    assert not (tmp_path / "x.csv").exists()


def test_csv_change_rows_say_what_changed(sqlite_store: Store) -> None:
    seed(sqlite_store)
    write(sqlite_store, vuln(AGENT, "CVE-2024-0001", severity="critical", state="fixed"))
    buf = io.StringIO()
    export(sqlite_store, fmt="csv", stdout=buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["event_type"] for r in rows] == ["created"] * 4 + ["fixed"]
    fixed = rows[-1]
    assert (fixed["old_state"], fixed["new_state"]) == ("open", "fixed")
    assert json.loads(fixed["changed"])["state"] == ["open", "fixed"]
    assert rows[0]["changed"] == ""


def test_a_fifo_is_written_in_place_and_the_bookmark_waits_for_a_whole_write(
    sqlite_store: Store, tmp_path: Path
) -> None:
    write(sqlite_store, *(vuln(AGENT, f"CVE-2024-{n:04d}") for n in range(400)))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o600)

    def read(limit: int | None) -> tuple[threading.Thread, list[bytes]]:
        got: list[bytes] = []

        def run() -> None:
            with open(fifo, "rb") as f:
                got.append(f.read(limit) if limit else f.read())

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, got

    # A reader that goes away after 100 bytes: the write fails, the bookmark stays.
    reader, _ = read(100)
    with pytest.raises(BrokenPipeError):
        export(sqlite_store, fmt="ocsf", out=str(fifo))
    reader.join(5)
    reader, got = read(None)
    result = export(sqlite_store, fmt="ocsf", out=str(fifo))
    reader.join(10)
    events = [json.loads(line) for line in got[0].decode().splitlines()]
    assert result.records == len(events) == 400
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO, not a file in its place
    assert export(sqlite_store, fmt="ocsf", out=str(fifo)).nothing_new  # never opened: no reader
    assert sorted(os.listdir(tmp_path)) == ["data", "pipe"]


def test_parquet_streams_into_a_fifo_and_a_socket_is_refused_in_one_line(
    sqlite_store: Store, tmp_path: Path
) -> None:
    import socket

    duckdb = pytest.importorskip("duckdb")
    seed(sqlite_store)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o600)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert export(sqlite_store, fmt="parquet", mode="state", out=str(fifo)).records == 4
    reader.join(10)
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(got[0])
    count = duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [str(copy)])
    assert count.fetchone() == (4,)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(ExportError, match=r"^cannot write to --out .*sock: "):
            export(sqlite_store, fmt="jsonl", out=str(tmp_path / "sock"), bookmark="b")
    # The failed export did not move its bookmark.
    assert export(sqlite_store, fmt="jsonl", bookmark="b", stdout=io.StringIO()).records == 4


def test_a_character_device_is_written_in_place(sqlite_store: Store) -> None:
    seed(sqlite_store)
    before = os.lstat("/dev/null")
    result = export(sqlite_store, fmt="jsonl", out="/dev/null")
    after = os.lstat("/dev/null")
    assert result.records == 4 and result.bookmark == "jsonl:/dev/null"
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert export(sqlite_store, fmt="jsonl", out="/dev/null").nothing_new


def test_no_link_planted_at_any_name_the_export_could_create_is_followed(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("duckdb")
    seed(sqlite_store)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    # The target itself: refused, the link and what it points to untouched.
    (out / "feed.jsonl").symlink_to(victim)
    with pytest.raises(ExportError, match="is a symbolic link"):
        export(sqlite_store, fmt="jsonl", out=str(out / "feed.jsonl"))
    assert victim.read_text() == "precious\n" and (out / "feed.jsonl").is_symlink()
    # Every temporary name: make the first name tried one where a link waits.
    for name in (".s1uvm-planted.tmp", ".s1uvm-planted", ".data.jsonl", ".data.parquet.jsonl"):
        (out / name).symlink_to(victim_dir if name == ".s1uvm-planted" else victim)
    names = iter(["planted", "fresh1", "planted", "fresh2", "planted", "fresh3"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    jsonl = export(sqlite_store, fmt="jsonl", out=str(out / "data.jsonl"))
    parquet = export(sqlite_store, fmt="parquet", mode="state", out=str(out / "data.parquet"))
    assert (jsonl.records, parquet.records) == (4, 4)
    assert list(names) == ["planted", "fresh3"]  # the planted names were tried, and passed over
    assert victim.read_text() == "precious\n" and os.listdir(victim_dir) == []
    for made in ("data.jsonl", "data.parquet"):
        info = os.lstat(out / made)
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert sorted(os.listdir(out)) == sorted(
        [
            "feed.jsonl",
            "data.jsonl",
            "data.parquet",
            ".s1uvm-planted.tmp",
            ".s1uvm-planted",
            ".data.jsonl",
            ".data.parquet.jsonl",
        ]
    )


def test_parquet_has_its_schema_and_leaves_no_staging_behind(
    sqlite_store: Store, tmp_path: Path
) -> None:
    duckdb = pytest.importorskip("duckdb")
    seed(sqlite_store)
    write(sqlite_store, vuln(AGENT, "CVE-2024-0001", severity="critical", state="fixed"))
    changes = tmp_path / "changes.parquet"
    assert export(sqlite_store, fmt="parquet", out=str(changes)).records == 5
    empty = tmp_path / "empty.parquet"
    assert (
        export(sqlite_store, fmt="parquet", mode="state", state="archived", out=str(empty)).records
        == 0
    )
    con = duckdb.connect()
    types = dict(
        (r[0], r[1])
        for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(changes)]).fetchall()
    )
    assert types["event_id"] == "BIGINT" and types["changed"] == "VARCHAR"
    assert types["event_at"] == types["first_seen_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["cvss_score"] == "DOUBLE" and types["app_version"] == "VARCHAR[]"
    assert types["source_id"] == types["finding_id"] == "VARCHAR"
    fixed = con.execute(
        "SELECT changed FROM read_parquet(?) WHERE event_type = 'fixed'", [str(changes)]
    ).fetchone()
    assert json.loads(fixed[0])["state"] == ["open", "fixed"]
    empty_types = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(empty)]).fetchall()
    assert [r[0] for r in empty_types][:3] == ["hostname", "finding_id", "kind"]
    for path in (changes, empty):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Interrupted halfway: no staging folder, no file, the old file as it was.
    rows = sqlite_store.findings_with_assets

    def interrupted(**kw: Any) -> Iterator[dict[str, Any]]:
        yield next(rows(**kw))
        raise KeyboardInterrupt

    sqlite_store.findings_with_assets = interrupted  # type: ignore[method-assign]
    before = snapshot(empty)
    with pytest.raises(KeyboardInterrupt):
        export(sqlite_store, fmt="parquet", mode="state", out=str(empty))
    assert snapshot(empty) == before
    assert sorted(os.listdir(tmp_path)) == ["changes.parquet", "data", "empty.parquet"]


def test_a_terminated_export_leaves_no_staging_and_keeps_its_bookmark(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    pytest.importorskip("duckdb")
    db = str(tmp_path / "s.db")
    s = open_store(db)
    seed(s)
    s.close()
    staging = tmp_path / "tmp"
    staging.mkdir()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o600)
    args = ["export", "--db", db, "--format", "parquet", "--out", str(fifo), "--bookmark", "b"]
    env = {**os.environ, "TMPDIR": str(staging)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "s1uvm", *args], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        # The Parquet file is built in its staging folder; the export waits for a reader.
        deadline = time.monotonic() + 60
        while not any(staging.glob(".s1uvm-*/out.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (1, 130) and "Traceback" not in err
    assert os.listdir(staging) == []
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    s = open_store(db)
    try:
        assert export(s, fmt="jsonl", bookmark="b", stdout=io.StringIO()).records == 4
    finally:
        s.close()
