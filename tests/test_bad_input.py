"""The bad-input catalogue: every way a user (or a console) can hand s1uvm something wrong gets
its documented exit code and one clear line on stderr — no traceback — and nothing half-written.
Malformed API records are kept aside in rejected_records while the rest is stored."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from s1uvm.s1._retry import BASE_ENV
from s1uvm.simulator import Console, SimConfig, SimulatorServer, TokenSpec
from s1uvm.simulator.timefmt import US_PER_DAY, now_us
from s1uvm.store import open_store
from tests.connectors.real import REAL

pytestmark = pytest.mark.system

TOKEN = "good-token-0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class Case:
    name: str
    args: list[str]
    code: int
    message: str
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    console = Console(
        SimConfig(
            seed=81,
            agents=40,
            tokens=[
                TokenSpec(value=TOKEN),
                TokenSpec(value="expired-token-0123456789", expires_us=now_us() - US_PER_DAY),
                TokenSpec(value="revoked-token-0123456789", revoked=True),
            ],
        )
    )
    with SimulatorServer(console) as running:
        yield running


def write(name: str, text: str, mode: int = 0o600) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.write_text(text)
        os.chmod(path, mode)

    return setup


def make_db(tmp: Path) -> None:
    """The database a sync would have left (read commands need one)."""
    open_store(tmp / "s.db").close()


def db_and_plain_file(tmp: Path) -> None:
    make_db(tmp)
    (tmp / "plain").write_text("x")


def write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


URL = "URL"  # replaced by the simulator's address
CASES = [
    # URLs
    Case("empty url", ["check", "--url", ""], 2, "the Server URL is empty"),
    Case("blank url", ["check", "--url", "   "], 2, "the Server URL is empty"),
    Case("no scheme but spaces", ["check", "--url", "my console"], 2, "contains spaces"),
    Case(
        "http to a remote host",
        ["check", "--url", "http://acme.sentinelone.net"],
        2,
        "must use https://",
    ),
    Case("login portal", ["check", "--url", "https://console.sentinelone.net"], 2, "login portal"),
    Case(
        "ftp scheme", ["check", "--url", "ftp://acme.sentinelone.net"], 2, "not a console address"
    ),
    Case("bare word", ["check", "--url", "https://sentinelone"], 2, "not a console address"),
    Case("bad port", ["check", "--url", "https://acme.sentinelone.net:70000"], 2, "not a URL"),
    Case(
        "credentials in url",
        ["check", "--url", "https://u:p@acme.sentinelone.net"],
        2,
        "user name or password",
    ),
    Case("unicode host", ["check", "--url", "https://кonsole.sentinelone.net"], 2, "non-ASCII"),
    Case("unreachable host", ["check", "--url", "http://127.0.0.1:9"], 4, "cannot reach"),
    Case(
        "wrong host (nothing listening)",
        ["sync", "--url", "https://127.0.0.2:1"],
        4,
        "cannot reach",
    ),
    # tokens
    Case("no token", ["check", "--url", URL], 2, "no API token", env={"S1_API_TOKEN": ""}),
    Case("empty token", ["check", "--url", URL], 2, "no API token", env={"S1_API_TOKEN": ""}),
    Case("whitespace token", ["check", "--url", URL], 2, "empty", env={"S1_API_TOKEN": "  "}),
    Case(
        "scheme-only token", ["check", "--url", URL], 2, "empty", env={"S1_API_TOKEN": "ApiToken "}
    ),
    Case(
        "newline inside token",
        ["check", "--url", URL],
        2,
        "line break",
        env={"S1_API_TOKEN": "abc\ndef"},
    ),
    Case(
        "wrong token",
        ["check", "--url", URL],
        3,
        "rejected the API token",
        env={"S1_API_TOKEN": "wrong-token-0123456789"},
    ),
    Case(
        "expired token",
        ["check", "--url", URL],
        3,
        "rejected the API token",
        env={"S1_API_TOKEN": "expired-token-0123456789"},
    ),
    Case(
        "revoked token",
        ["sync", "--url", URL],
        3,
        "rejected the API token",
        env={"S1_API_TOKEN": "revoked-token-0123456789"},
    ),
    Case(
        "sync --all without a config file",
        ["sync", "--all"],
        2,
        "--all syncs every [[console]] of a config file",
        env={"S1_URL": URL},
    ),
    Case(
        "sync --all with --url",
        ["sync", "--all", "--url", URL],
        2,
        "leave out --url",
    ),
    Case("token as a flag", ["check", "--url", URL, "--token", TOKEN], 2, "No such option"),
    Case(
        "missing token file", ["check", "--url", URL, "--token-file", "nope"], 2, "does not exist"
    ),
    Case(
        "empty token file",
        ["check", "--url", URL, "--token-file", "tok"],
        2,
        "empty",
        setup=write("tok", ""),
    ),
    Case(
        "token file is a FIFO (must not hang)",
        ["check", "--url", URL, "--token-file", "fifo"],
        2,
        "is not a regular file",
        setup=lambda tmp: os.mkfifo(tmp / "fifo", 0o600),
    ),
    Case(
        "token file is /dev/zero (must not grow)",
        ["check", "--url", URL, "--token-file", "/dev/zero"],
        2,
        "token file /dev/zero is not a regular file (a folder, device or pipe)",
    ),
    Case(
        "token file far larger than a token",
        ["check", "--url", URL, "--token-file", "big"],
        2,
        "token file big is larger than 64 KiB; it should hold only the API token",
        setup=write("big", "x" * 70_000),
    ),
    Case(
        "token file not UTF-8",
        ["check", "--url", URL, "--token-file", "latin"],
        2,
        "it is not UTF-8 text",
        setup=lambda tmp: write_bytes(tmp / "latin", b"caf\xe9-token"),
    ),
    # config files
    Case(
        "bad TOML",
        ["sync", "--config", "c.toml"],
        2,
        "not valid TOML",
        setup=write("c.toml", "[[console]\nurl="),
    ),
    Case(
        "unknown key",
        ["sync", "--config", "c.toml"],
        2,
        "unknown key",
        setup=write("c.toml", "colour = 'blue'\n"),
    ),
    Case(
        "token in config",
        ["sync", "--config", "c.toml"],
        2,
        "unknown key",
        setup=write("c.toml", "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken = 'x'\n"),
    ),
    Case("missing config", ["sync", "--config", "missing.toml"], 2, "does not exist"),
    Case(
        "endless config file",
        ["sync", "--config", "/dev/zero"],
        2,
        "config file /dev/zero is not a regular file",
    ),
    Case(
        "config file is a FIFO",
        ["status", "--config", "fifo"],
        2,
        "config file fifo is not a regular file",
        setup=lambda tmp: os.mkfifo(tmp / "fifo"),
    ),
    Case(
        "huge config file",
        ["sync", "--config", "c.toml"],
        2,
        "larger than 1 MiB",
        setup=write("c.toml", "# " + "x" * (1024 * 1024) + "\n"),
    ),
    Case(
        "config token file missing",
        ["sync", "--config", "c.toml"],
        2,
        "does not exist",
        setup=write(
            "c.toml", "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_file = 'gone'\n"
        ),
    ),
    Case(
        "config unknown connector",
        ["sync", "--config", "c.toml"],
        2,
        "unknown connector",
        setup=write(
            "c.toml",
            "[[console]]\nurl = 'https://a.sentinelone.net'\n"
            "token_env = 'S1_API_TOKEN'\nconnectors = ['cves']\n",
        ),
    ),
    Case(
        "duplicate console names",
        ["sync", "--config", "c.toml"],
        2,
        "used twice",
        setup=write(
            "c.toml",
            "[[console]]\nname='a'\nurl='https://a.sentinelone.net'\n"
            "token_env='S1_API_TOKEN'\n[[console]]\nname='a'\n"
            "url='https://b.sentinelone.net'\ntoken_env='S1_API_TOKEN'\n",
        ),
    ),
    # command line
    Case(
        "unknown connector flag",
        ["sync", "--url", URL, "--connectors", "cves"],
        2,
        "unknown connector",
    ),
    Case("unknown command", ["synk"], 2, "No such command"),
    Case("bad format", ["findings", "--format", "xml"], 2, "Invalid value"),
    Case("bad inactive days", ["sync", "--url", URL, "--inactive-days", "0"], 2, "Invalid value"),
    Case("bad export mode", ["export", "--format", "ocsf", "--mode", "all"], 2, "Invalid value"),
    Case("parquet to stdout", ["export", "--format", "parquet"], 2, "cannot stream", setup=make_db),
    Case("bad --since", ["export", "--format", "jsonl", "--since", "soon"], 2, "not an ISO-8601"),
    Case("missing CA bundle", ["check", "--url", URL, "--ca-bundle", "nope.pem"], 2, "CA bundle"),
    # databases
    Case(
        "corrupt database",
        ["status", "--db", "bad.db"],
        2,
        "is damaged",
        setup=write("bad.db", "not a database" * 100),
    ),
    Case(
        "database under a file",
        ["sync", "--url", URL, "--db", "plain/s.db"],
        2,
        "cannot create",
        setup=write("plain", "x"),
    ),
    *(
        Case(
            f"{args[0]} never creates a database",
            [*args, "--db", "missing.db"],
            2,
            "no s1uvm database at missing.db; give the --db (or S1UVM_DB) a sync wrote, or run "
            "s1uvm sync first",
        )
        for args in (
            ["status"],
            ["assets"],
            ["findings"],
            ["export", "--format", "jsonl", "--mode", "state"],
        )
    ),
    Case("read command given a folder as --db", ["assets", "--db", "."], 2, "--db . is a folder"),
    # exports
    Case(
        "--out is a folder",
        ["export", "--format", "csv", "--mode", "state", "--out", "."],
        2,
        "--out . is a folder; give a file name in it, e.g. out.csv",
        setup=make_db,
    ),
    Case(
        "--out under a file",
        ["export", "--format", "csv", "--mode", "state", "--out", "plain/f.csv"],
        2,
        "--out plain/f.csv: plain is a file, not a folder",
        setup=db_and_plain_file,
    ),
    Case(
        "--out is a full device",  # written in place, never replaced: the device says it is full
        ["export", "--format", "csv", "--mode", "state", "--out", "/dev/full"],
        2,
        "cannot write /dev/full: No space left on device",
        setup=make_db,
    ),
    # enumerated options
    Case(
        "unknown finding state",
        ["findings", "--state", "open,closed"],
        2,
        "--state 'closed' is not known; use one or more of: open, reopened, fixed, stale, "
        "archived, suppressed",
        setup=make_db,
    ),
    Case(
        "unknown severity",
        ["findings", "--severity", "urgent"],
        2,
        "--severity 'urgent' is not known; use one or more of: critical, high, medium, low, info",
        setup=make_db,
    ),
    Case(
        "unknown finding kind",
        ["findings", "--kind", "virus"],
        2,
        "--kind 'virus' is not known; use one or more of: vulnerability, threat",
        setup=make_db,
    ),
    Case(
        "a finding state given to assets",
        ["assets", "--state", "open"],
        2,
        "--state 'open' is not known; use one or more of: active, inactive, retired",
        setup=make_db,
    ),
    Case(
        "unknown export kind",
        ["export", "--format", "jsonl", "--kind", "cve"],
        2,
        "--kind 'cve' is not known; use one or more of: vulnerability, threat, asset",
        setup=make_db,
    ),
    Case(
        "unknown export severity",
        ["export", "--format", "jsonl", "--severity", ","],
        2,
        "--severity ',' is not known",
        setup=make_db,
    ),
    Case("negative --limit", ["findings", "--limit", "-1"], 2, "Invalid value for '--limit'"),
    # config values of the wrong type
    *(
        Case(
            f"config {what}",
            ["sync", "--config", "c.toml"],
            2,
            message,
            setup=write("c.toml", text),
        )
        for what, text, message in (
            (
                "url as a list",
                "[[console]]\nurl = ['https://a.sentinelone.net']\ntoken_env = 'S1_API_TOKEN'\n",
                "config file c.toml, console 1: url must be a quoted string, not a list",
            ),
            (
                "url as a number",
                "[[console]]\nurl = 5\ntoken_env = 'S1_API_TOKEN'\n",
                "config file c.toml, console 1: url must be a quoted string, not a number",
            ),
            (
                "token_file as a number",
                "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_file = 5\n",
                "console 1: token_file must be a quoted string, not a number",
            ),
            (
                "db as a number",
                "db = 5\n",
                'config file c.toml: db must be a quoted string, not a number (e.g. db = "...")',
            ),
            ("console as a value", "console = 'x'\n", "config file c.toml: use [[console]] tables"),
        )
    ),
    # CA bundles and URLs
    Case(
        "CA bundle is a folder",
        ["check", "--url", URL, "--ca-bundle", "."],
        2,
        "CA bundle . is a folder; give the PEM file of the CA",
    ),
    Case(
        "CA bundle is not a certificate",
        ["check", "--url", URL, "--ca-bundle", "ca.pem"],
        4,
        "the CA bundle ca.pem holds no certificate TLS can use",
        setup=write("ca.pem", "not a certificate\n"),
    ),
    Case(
        "SSL_CERT_FILE is not a certificate",
        ["sync", "--url", URL],
        4,
        "holds no certificate TLS can use",
        env={"SSL_CERT_FILE": "ca.pem"},
        setup=write("ca.pem", "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"),
    ),
    Case(
        "per-console CA bundle missing",
        ["sync", "--config", "c.toml"],
        2,
        "config file c.toml, console 1: CA bundle gone.pem does not exist",
        setup=write(
            "c.toml",
            "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_env = 'S1_API_TOKEN'\n"
            "ca_bundle = 'gone.pem'\n",
        ),
    ),
    Case(
        "a 70 kB URL",
        ["check", "--url", "https://a" + "b" * 70_000 + ".sentinelone.net"],
        2,
        "the Server URL is 70,025 characters long; paste just the console address",
    ),
    Case(
        "a host label over 63 characters",
        ["check", "--url", "https://" + "a" * 64 + ".sentinelone.net"],
        2,
        "is not a valid host name (a name is at most 253 characters, each part between dots "
        "at most 63)",
    ),
    Case(
        "postgres without the extra",
        ["status", "--db", "postgresql://localhost/x"],
        2,
        "PostgreSQL",
    ),
]


def run(
    args: list[str], env: dict[str, str], cwd: Path, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    # The catalogue asserts what a failure says, not how patiently it was retried.
    full[BASE_ENV] = "0.01"
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "s1uvm", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=120,
        check=False,
        preexec_fn=preexec,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, server: SimulatorServer, tmp_path: Path) -> None:
    if case.setup:
        case.setup(tmp_path)
    args = [server.url if a == URL else a for a in case.args]
    env = {"S1_API_TOKEN": TOKEN, "S1UVM_DB": str(tmp_path / "s.db"), **case.env}
    p = run(args, env, tmp_path)
    assert p.returncode == case.code, (p.stdout, p.stderr)
    assert case.message in p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    errors = [
        line
        for line in p.stderr.splitlines()
        if line.startswith(("s1uvm:", "Error:")) and "warning" not in line
    ]
    if case.code in (2,) and not case.message.startswith(("No such", "Invalid")):
        assert len(errors) == 1, p.stderr
    assert TOKEN not in p.stdout + p.stderr


def test_catalogue_size() -> None:
    assert len(CASES) + len(MALFORMED) >= 40


def test_a_token_file_readable_by_others_warns(server: SimulatorServer, tmp_path: Path) -> None:
    write("tok", TOKEN, 0o644)(tmp_path)
    p = run(["check", "--url", server.url, "--token-file", "tok"], {}, tmp_path)
    assert p.returncode == 0
    assert "readable by other users" in p.stderr


def test_an_unwritable_database_file(server: SimulatorServer, tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    open_store(db).close()
    os.chmod(db, 0o400)
    os.chmod(tmp_path, 0o500)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        p = run(["status", "--db", str(db)], {}, tmp_path)
        assert p.returncode == 2
        assert "not readable and writable" in p.stderr
    finally:
        os.chmod(tmp_path, 0o700)


def test_a_full_disk_keeps_the_store_intact(server: SimulatorServer, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    assert (
        run(
            ["sync", "--url", server.url, "--db", str(db), "--connectors", "assets"],
            {"S1_API_TOKEN": TOKEN},
            tmp_path,
        ).returncode
        == 0
    )
    size = db.stat().st_size

    def tiny_disk() -> None:  # writes beyond this size fail as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 4096, size + 4096))

    p = run(
        ["sync", "--url", server.url, "--db", str(db)], {"S1_API_TOKEN": TOKEN}, tmp_path, tiny_disk
    )
    assert p.returncode == 2, p.stderr
    assert "could not be written" in p.stderr
    assert "Traceback" not in p.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (
        run(
            ["sync", "--url", server.url, "--db", str(db)], {"S1_API_TOKEN": TOKEN}, tmp_path
        ).returncode
        == 0
    )


def test_read_commands_leave_a_missing_database_missing(tmp_path: Path) -> None:
    for args in (["status"], ["assets"], ["findings", "--format", "csv"]):
        p = run([*args, "--db", "nowhere/s.db"], {}, tmp_path)
        assert p.returncode == 2, p.stderr
    assert list(tmp_path.iterdir()) == [], "no file and no folder made"


def test_read_commands_leave_an_empty_postgresql_schema_empty(tmp_path: Path) -> None:
    import psycopg

    from tests.databases import postgres_schema

    with postgres_schema() as url:
        for args in (["status"], ["assets"], ["findings"], ["export", "--format", "jsonl"]):
            p = run([*args, "--db", url], {}, tmp_path)
            assert p.returncode == 2, p.stderr
            (line,) = p.stderr.splitlines()
            assert "no s1uvm tables" in line
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchone()
        assert tables == (0,), "no table was made"


def test_a_disk_that_fills_during_an_export_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    console = Console(SimConfig(seed=82, agents=300))
    with SimulatorServer(console) as server:
        sync = ["sync", "--url", server.url, "--db", str(db), "--connectors", "assets"]
        assert run(sync, {"S1_API_TOKEN": console.token}, tmp_path).returncode == 0
    out = tmp_path / "out" / "assets.csv"
    before = sorted(p.name for p in tmp_path.iterdir())

    # A write beyond 48 KiB fails as on a full disk: room for the database's 32 KiB shared
    # memory file, not for 300 assets as CSV.
    def tiny_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, 48 * 1024))

    export = ["export", "--db", str(db), "--format", "csv", "--mode", "state", "--kind", "asset"]
    p = run([*export, "--out", str(out)], {}, tmp_path, tiny_disk)
    assert p.returncode == 2, p.stderr
    assert p.stderr == (
        f"s1uvm: cannot write {out}: File too large; free space or choose another --out "
        "(nothing half-written was kept)\n"
    )
    assert list(out.parent.iterdir()) == [], "no partial file left"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "out"])
    assert run([*export, "--out", str(out)], {}, tmp_path).returncode == 0
    assert out.read_text().startswith("asset_id,")


def test_a_full_standard_output_is_one_line(tmp_path: Path) -> None:
    from tests.store.rows import asset

    store = open_store(tmp_path / "s.db")
    try:
        run_id = store.start_run("c1", "assets", "full")
        store.write_page(run_id, "c1", "assets", assets=[asset(f"{i:019d}") for i in range(50)])
    finally:
        store.close()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    export = ["export", "--db", str(tmp_path / "s.db"), "--format", "jsonl", "--mode", "state"]
    with open("/dev/full", "w") as stdout:
        p = subprocess.run(
            [sys.executable, "-m", "s1uvm", *export],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=full,
            timeout=60,
            check=False,
        )
    assert p.returncode == 2
    assert p.stderr == (
        "s1uvm: cannot write standard output: No space left on device; free space or choose "
        "another --out (nothing half-written was kept)\n"
    )


def test_damage_in_the_middle_of_the_database_is_reported_as_damage(
    server: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "s.db"
    sync = ["sync", "--url", server.url, "--db", str(db)]
    assert run(sync, {"S1_API_TOKEN": TOKEN}, tmp_path).returncode == 0
    data = bytearray(db.read_bytes())
    start = len(data) // 2 // 4096 * 4096  # pages in the middle: opening reads none of them
    data[start:] = b"\xff" * (len(data) - start)
    db.write_bytes(bytes(data))
    p = run(["findings", "--db", str(db)], {}, tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr == (
        "s1uvm: the database is damaged (database disk image is malformed); restore it from "
        "a backup, or move it aside and sync again into a new one\n"
    )


# Malformed API records: served as given (--data), kept aside with a reason, the rest stored.
GOOD = json.loads((REAL / "app_mgmt_risks_elastic_2025.json").read_text())
MALFORMED: list[tuple[str, object, str]] = [
    ("missing id", {k: v for k, v in GOOD[0].items() if k != "id"}, "missing required field `id`"),
    ("null id", dict(GOOD[0], id=None), "got `null` - at `$.id`"),
    ("id of the wrong type", dict(GOOD[0], id=["1"]), "got `array` - at `$.id`"),
    ("id with letters", dict(GOOD[0], id="12ab"), "not an id"),
    ("missing CVE", {k: v for k, v in GOOD[0].items() if k != "cveId"}, "cveId is missing"),
    ("null CVE", dict(GOOD[0], cveId=None), "cveId is missing"),
]


def test_malformed_records_are_rejected_and_the_rest_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    odd = [
        dict(
            GOOD[1],
            id="3000000000000000001",
            baseScore=True,
            severity=None,
            detectionDate=True,
            applicationVendor="x" * 100_000,
        ),  # odd but usable
        dict(GOOD[2], id="3000000000000000002", applicationVersion=7, endpointId=None),
        dict(GOOD[3], id="3000000000000000002"),  # a duplicated id in one page
    ]
    risks = [r for _, r, _ in MALFORMED] + odd + GOOD
    (data / "risks.json").write_text(json.dumps(risks))
    shutil.copy(REAL / "agents_v21_cribl_2025.json", data / "agents.json")
    threats = json.loads((REAL / "threats_v21_elastic.json").read_text())
    threats.append(dict(threats[0], id=None))
    threats.append(dict(threats[1], id="2120407777501474999", threatInfo="True"))
    (data / "threats.json").write_text(json.dumps(threats))
    console = Console(SimConfig(data_dir=data, tokens=[TokenSpec(value=TOKEN)]))
    db = tmp_path / "s.db"
    with SimulatorServer(console) as srv:
        p = run(["sync", "--url", srv.url, "--db", str(db)], {"S1_API_TOKEN": TOKEN}, tmp_path)
    assert p.returncode == 0, p.stderr
    with sqlite3.connect(db) as conn:
        reasons = [
            r[0]
            for r in conn.execute(
                "SELECT reason FROM rejected_records WHERE connector = 'vulnerabilities'"
            )
        ]
        threat_reasons = [
            r[0]
            for r in conn.execute(
                "SELECT reason FROM rejected_records WHERE connector = 'threats' ORDER BY id"
            )
        ]
        cves = {
            r[0] for r in conn.execute("SELECT cve_id FROM findings WHERE kind = 'vulnerability'")
        }
        threats_stored = {
            r[0] for r in conn.execute("SELECT source_id FROM findings WHERE kind = 'threat'")
        }
    assert len(reasons) == len(MALFORMED)
    for _, _, reason in MALFORMED:  # served in id order, so compare as a set of reasons
        assert any(reason in got for got in reasons), (reason, reasons)
    assert len(threat_reasons) == 2  # no id; threatInfo a string instead of an object
    assert {g["cveId"] for g in GOOD} <= cves  # the good records all arrived
    assert "2120407777501474999" not in threats_stored
    assert {t["id"] for t in threats[:2]} <= threats_stored  # the good threats arrived
    assert {"3000000000000000001", "3000000000000000002"} <= {
        r[0] for r in sqlite3.connect(db).execute("SELECT source_id FROM findings")
    }
    assert "rejected" in p.stdout


def test_an_expired_token_is_said_once_not_once_per_connector(
    server: SimulatorServer, tmp_path: Path
) -> None:
    p = run(
        ["sync", "--url", server.url],
        {"S1_API_TOKEN": "expired-token-0123456789", "S1UVM_DB": str(tmp_path / "s.db")},
        tmp_path,
    )
    assert p.returncode == 3, p.stderr
    assert p.stdout == ""
    (line,) = p.stderr.splitlines()
    assert "rejected the API token" in line and "failed ()" not in line


def test_sync_all_syncs_the_config_files_consoles_not_the_environments(
    server: SimulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "tok").write_text(TOKEN)
    (tmp_path / "tok").chmod(0o600)
    (tmp_path / "c.toml").write_text(
        f'[[console]]\nname = "from-file"\nurl = "{server.url}"\ntoken_file = "tok"\n'
        'connectors = ["threats"]\n'
    )
    env = {
        "S1_URL": "https://elsewhere.sentinelone.net",
        "S1UVM_DB": str(tmp_path / "s.db"),
        "S1UVM_CONFIG": str(tmp_path / "c.toml"),
    }
    p = run(["sync", "--all"], env, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("from-file/threats: success")
