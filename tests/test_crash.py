"""Crash safety: ``s1uvm sync`` SIGKILLed at a random moment of a sync of more than 50,000
records, then resumed, twenty-five times (the console moving on now and then); after every
resume the store equals the console's truth exactly — nothing lost, nothing duplicated, nothing
wrongly closed — and the killed runs are on record as aborted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from s1uvm.s1 import ApiToken, RateLimiter, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import open_store
from tests.truth import machine_keys, open_machine_keys, served

pytestmark = pytest.mark.system

KILLS = int(os.environ.get("S1UVM_KILLS", "25"))


def truth(url: str, token: str) -> dict[str, Any]:
    with S1Client(url, ApiToken(token), limiter=RateLimiter()) as c:
        return {
            "assets": {a["id"] for a in served(c, "/agents", isDecommissioned="true,false")},
            "threats": {t["id"] for t in served(c, "/threats")},
            "risks": served(c, "/application-management/risks"),
        }


def stored(db: Path) -> dict[str, Any]:
    store = open_store(db)
    try:
        vulns = list(store.query_findings(kind="vulnerability"))
        assets = list(store.query_assets())
        return {
            "asset_of": {a["agent_id"]: a["asset_id"] for a in assets},
            "assets": {a["agent_id"] for a in assets},
            "threats": {f["source_id"] for f in store.query_findings(kind="threat")},
            "open": open_machine_keys(vulns),
        }
    finally:
        store.close()


def sync(url: str, token: str, db: Path, full: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    env.update({"S1_API_TOKEN": token, "S1UVM_DB": str(db)})
    args = [sys.executable, "-m", "s1uvm", "sync", "--url", url] + (["--full"] if full else [])
    return subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    console = Console(SimConfig(seed=44, agents=3500, risks_per_agent=14, threats_per_agent=0.5))
    counts = console.state()["counts"]
    assert counts["agents"] + counts["threats"] + counts["risks"] >= 50_000
    db = tmp_path / "s.db"
    rng = random.Random(7)
    with SimulatorServer(console) as server:
        started = time.monotonic()
        clean = sync(server.url, console.token, tmp_path / "timing.db")
        assert clean.wait(300) == 0
        full_time = time.monotonic() - started
        killed = 0
        want = truth(server.url, console.token)
        for trial in range(KILLS):
            if trial % 5 == 4:
                console.advance(24)  # the truth moves on between crashes
                want = truth(server.url, console.token)
            proc = sync(server.url, console.token, db, full=trial % 3 == 0)
            time.sleep(rng.uniform(0.05, full_time))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(60)
            resumed = sync(server.url, console.token, db)
            _, err = resumed.communicate(timeout=300)
            assert resumed.returncode == 0, err
            have = stored(db)
            for key in ("assets", "threats"):
                assert have[key] == want[key], (trial, key)
            assert len(have["open"]) == len(set(have["open"])), (trial, "open ones once")
            served_keys = machine_keys(want["risks"], have["asset_of"])
            assert set(have["open"]) == served_keys, (trial, "open = served risks")
        assert killed >= KILLS * 3 // 4, "most trials were killed mid-sync"
    store = open_store(db)
    try:
        outcomes = {r["outcome"] for r in store.runs(limit=1000)}
        dupes = store.conn.execute(
            "SELECT count(*) FROM (SELECT finding_id FROM finding_history WHERE event_type = "
            "'created' GROUP BY finding_id HAVING count(*) > 1)"
        ).fetchone()[0]
    finally:
        store.close()
    assert "aborted" in outcomes
    assert "running" not in outcomes
    assert dupes == 0, "no finding was created twice"
