"""The token is a secret: after a full run with --debug (request logs on), it appears in no
output, no log, no database byte, no export and no process argument list."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from s1uvm.simulator import Console, SimConfig, SimulatorServer


def test_the_token_leaves_no_trace(tmp_path: Path) -> None:
    console = Console(SimConfig(seed=51, agents=60, faults="503:0.1,429:0.05"))
    db = tmp_path / "s.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    env.update({"S1_API_TOKEN": console.token, "S1UVM_DB": str(db)})
    token = console.token
    artefacts: list[str] = []
    with SimulatorServer(console) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "s1uvm", "sync", "--url", server.url, "--debug"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        artefacts += [cmdline, out, err]
        assert "GET /threats" in err  # the debug log really logged requests
        for args in (
            ["check", "--url", server.url, "--debug"],
            ["status", "--json"],
            ["export", "--format", "ocsf", "--mode", "state"],
            ["export", "--format", "jsonl", "--mode", "state"],
            ["findings", "--format", "json"],
            ["assets", "--format", "csv"],
        ):
            p = subprocess.run(
                [sys.executable, "-m", "s1uvm", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert p.returncode == 0, (args, p.stderr)
            artefacts += [p.stdout, p.stderr]
    for text in artefacts:
        assert token not in text
    for path in tmp_path.iterdir():
        assert token.encode() not in path.read_bytes(), path
    with sqlite3.connect(db) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608 - table names
                assert token not in repr(row)
    assert (db.stat().st_mode & 0o777) == 0o600
