"""Two syncs on one SQLite file at the same time: the second waits for the first's page
transactions (WAL, busy timeout), both finish, and the database stays intact and correct."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from s1uvm.s1 import ApiToken, RateLimiter, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from tests.truth import served

pytestmark = pytest.mark.system


def test_two_concurrent_syncs_never_corrupt_the_store(tmp_path: Path) -> None:
    console = Console(SimConfig(seed=61, agents=1500, risks_per_agent=10))
    db = tmp_path / "s.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    env.update({"S1_API_TOKEN": console.token, "S1UVM_DB": str(db)})
    with SimulatorServer(console) as server:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "s1uvm", "sync", "--url", server.url],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], results
        with S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as c:
            threats = {t["id"] for t in served(c, "/threats")}
            agents = {a["id"] for a in served(c, "/agents", isDecommissioned="true,false")}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored_threats = {
            r[0] for r in conn.execute("SELECT source_id FROM findings WHERE kind = 'threat'")
        }
        stored_agents = {r[0] for r in conn.execute("SELECT agent_id FROM assets")}
        created_twice = conn.execute(
            "SELECT count(*) FROM (SELECT finding_id FROM finding_history WHERE event_type = "
            "'created' GROUP BY finding_id HAVING count(*) > 1)"
        ).fetchone()[0]
    assert stored_threats == threats
    assert stored_agents == agents
    assert created_twice == 0
