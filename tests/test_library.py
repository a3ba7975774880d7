"""The library API: what ``s1uvm`` exports, the error base and its exit codes, the store as a
context manager, ``sync_console`` over real HTTP, and docs/library.md's examples, run."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import s1uvm
from s1uvm.cli.common import exit_code_for
from s1uvm.cli.main import cli
from s1uvm.config import console_name
from s1uvm.s1 import ApiToken, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from tests.truth import served

DOC = Path(__file__).resolve().parents[1] / "docs" / "library.md"


def test_the_exported_names_are_exactly_these() -> None:
    assert sorted(s1uvm.__all__) == [
        "AuthenticationError",
        "ConfigError",
        "Error",
        "ExportError",
        "Kind",
        "Lifecycle",
        "PermissionDenied",
        "RunResult",
        "S1Error",
        "Severity",
        "State",
        "Store",
        "StoreError",
        "TLSError",
        "TokenError",
        "TransportError",
        "UsageError",
        "__version__",
        "open_store",
        "sync_console",
    ]
    for name in s1uvm.__all__:
        assert getattr(s1uvm, name) is not None


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (s1uvm.Error, 1),
        (s1uvm.S1Error, 1),
        (s1uvm.UsageError, 2),
        (s1uvm.ConfigError, 2),
        (s1uvm.TokenError, 2),
        (s1uvm.StoreError, 2),
        (s1uvm.ExportError, 2),
        (s1uvm.AuthenticationError, 3),
        (s1uvm.PermissionDenied, 3),
        (s1uvm.TransportError, 4),
        (s1uvm.TLSError, 4),
    ],
)
def test_every_user_facing_error_is_an_s1uvm_error_with_its_exit_code(
    error: type[s1uvm.Error], code: int
) -> None:
    assert issubclass(error, s1uvm.Error)
    assert error.exit_code == code
    assert exit_code_for(error("what to fix")) == code


def test_the_exit_code_follows_the_type_not_the_name() -> None:
    class Renamed(s1uvm.TransportError):
        pass

    class AuthenticationError(Exception):  # a foreign class that happens to share a name
        pass

    assert exit_code_for(Renamed("x")) == 4
    assert exit_code_for(AuthenticationError("x")) == 1
    assert exit_code_for(ValueError("x")) == 1
    assert issubclass(s1uvm.TokenError, ValueError)  # what callers of ApiToken caught before


def test_open_store_is_a_context_manager_that_closes(tmp_path: Path) -> None:
    with s1uvm.open_store(tmp_path / "s.db") as store:
        assert isinstance(store, s1uvm.Store)
        assert store.counts()["findings_total"] == 0
    with pytest.raises(sqlite3.ProgrammingError):
        store.counts()  # closed on the way out
    with pytest.raises(RuntimeError), s1uvm.open_store(tmp_path / "s.db") as again:
        raise RuntimeError
    with pytest.raises(sqlite3.ProgrammingError):
        again.counts()  # closed on the way out of an exception too


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SimulatorServer, Console]]:
    console = Console(SimConfig(seed=31, agents=40))
    with SimulatorServer(console) as running:
        yield running, console


def test_sync_console_stores_what_the_console_serves(
    server: tuple[SimulatorServer, Console], tmp_path: Path
) -> None:
    running, console = server
    db = tmp_path / "lib.db"
    results = s1uvm.sync_console(running.url, console.token, db, connectors=["threats", "assets"])
    name = console_name(running.url)  # the URL's host and port
    assert [(r.console, r.connector, r.outcome, r.exit_code) for r in results] == [
        (name, "assets", "success", 0),
        (name, "threats", "success", 0),
    ]
    with S1Client(running.url, ApiToken(console.token)) as client:
        agents = served(client, "/agents", isDecommissioned="true,false")
        threats = served(client, "/threats")
    with s1uvm.open_store(db) as store:
        assert sorted(a["agent_id"] for a in store.query_assets()) == sorted(
            a["id"] for a in agents
        )
        assert sorted(f["source_id"] for f in store.query_findings()) == sorted(
            t["id"] for t in threats
        )
        assert store.counts()["runs"] == 2


def test_sync_console_reports_a_rejected_token_per_connector(
    server: tuple[SimulatorServer, Console], tmp_path: Path
) -> None:
    running, _ = server
    results = s1uvm.sync_console(
        running.url, "not-the-token-0123456789", tmp_path / "s.db", connectors="threats"
    )
    assert [(r.outcome, r.error_type, r.exit_code) for r in results] == [
        ("failed", "AuthenticationError", 3)
    ]


def test_sync_console_refuses_mistakes_before_touching_anything(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    with pytest.raises(s1uvm.ConfigError, match="must use https://") as bad_url:
        s1uvm.sync_console("http://acme.sentinelone.net", "x" * 40, db)
    assert bad_url.value.exit_code == 2
    with pytest.raises(s1uvm.ConfigError, match="unknown connector"):
        s1uvm.sync_console("https://acme.sentinelone.net", "x" * 40, db, connectors=["cves"])
    with pytest.raises(s1uvm.ConfigError, match="line break"):
        s1uvm.sync_console("https://acme.sentinelone.net", "ab\ncd", db)
    assert not db.exists()


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.M | re.S)


def test_the_documented_examples_run_as_written(
    server: tuple[SimulatorServer, Console],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    running, console = server
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S1_URL", running.url)
    monkeypatch.setenv("S1_API_TOKEN", console.token)
    sync_example, error_example = _python_blocks()
    namespace: dict[str, object] = {}
    exec(compile(sync_example, str(DOC), "exec"), namespace)  # noqa: S102 - our own document
    lines = capsys.readouterr().out.splitlines()
    with s1uvm.open_store(tmp_path / "s1uvm.db") as store:
        critical = list(store.query_findings(kind="vulnerability", severity="critical"))
        counts = {r["connector"]: r["counts"]["records"] for r in store.runs()}
    opened = [f for f in critical if f["state"] in ("open", "reopened")]
    assert opened, "the seed must give the example something to print"
    assert lines[:3] == [
        f"assets success {counts['assets']}",
        f"threats success {counts['threats']}",
        f"vulnerabilities success {counts['vulnerabilities']}",
    ]
    assert lines[3:] == [f"{f['hostname']} {f['cve_id']} {f['title']}" for f in opened]

    exec(compile(error_example, str(DOC), "exec"), namespace)  # noqa: S102
    assert capsys.readouterr().out.startswith("2 the Server URL must use https://")


def test_the_cli_exits_with_the_error_types_code(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "file" / "s.db")])
    assert result.exit_code == 2
    assert result.output.startswith("s1uvm: ")
    assert "Traceback" not in result.output
