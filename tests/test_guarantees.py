"""The store's guarantees, tried the way a hostile user would, over real HTTP and real
processes, on SQLite and PostgreSQL; each test ends with the store compared to the console's
truth:

* two and three syncs at once, with nothing changed (no state changes at all) and with
  changes between (exactly the truth, each change recorded once);
* the same URL with a token of another scope (refused; --console; --rescope);
* two simulated consoles on one machine into one database;
* a risk whose endpoint is in no listed site;
* a console clock from the future;
* Ctrl-C once (partial, resumable, exit 130) and twice (aborted at once), and a killed sync.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s1uvm.config import console_name
from s1uvm.connectors import make
from s1uvm.s1 import ApiToken, RateLimiter, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer, TokenSpec
from s1uvm.store import Store, open_store
from s1uvm.sync import run_connector
from tests.databases import BACKENDS, database
from tests.truth import machine_keys, open_machine_keys, served

pytestmark = pytest.mark.system


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as where:
        yield where


def env_for(db: str, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    env.update({"S1_API_TOKEN": token, "S1UVM_DB": db})
    return env


def sync(url: str, db: str, token: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "s1uvm", "sync", "--url", url, *args],
        env=env_for(db, token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in out + err, err
    return proc.returncode, out, err


def truth_matches(store: Store, url: str, token: str, name: str, site: str | None = None) -> None:
    """The store holds exactly what the console serves: every agent and threat, one open
    finding per machine + CVE + product for exactly the risks served now (of the endpoints
    in ``site`` only, when the console was rescoped to it)."""
    with S1Client(url, ApiToken(token), limiter=RateLimiter()) as c:
        agents = {a["id"] for a in served(c, "/agents", isDecommissioned="true,false")}
        threats = {t["id"]: t["threatInfo"] for t in served(c, "/threats")}
        risks = served(c, "/application-management/risks")
    assets = [a for a in store.query_assets(console=name) if site in (None, a["site_id"])]
    assert {a["agent_id"] for a in assets} == agents
    inside = {a["agent_id"] for a in assets}
    mine = [
        f for f in store.query_findings(console=name) if site is None or f["agent_id"] in inside
    ]
    stored_threats = {f["source_id"]: f for f in mine if f["kind"] == "threat"}
    assert set(stored_threats) == set(threats)
    for tid, info in threats.items():
        resolved = info["incidentStatus"] == "resolved"
        assert (stored_threats[tid]["state"] in ("fixed", "suppressed")) == resolved
    open_now = open_machine_keys(mine)
    assert len(open_now) == len(set(open_now)), "one finding per machine + CVE + product"
    assert set(open_now) == machine_keys(risks, {a["agent_id"]: a["asset_id"] for a in assets})


def history_count(store: Store) -> Counter[str]:
    rows = store.conn.execute("SELECT event_type, count(*) FROM finding_history GROUP BY 1")
    return Counter({str(k): int(v) for k, v in rows.fetchall()})


def states(store: Store) -> dict[str, str]:
    return {f["finding_id"]: f["state"] for f in store.query_findings()}


BIG = SimConfig(seed=81, agents=2700, risks_per_agent=12, threats_per_agent=0.3)


@pytest.mark.parametrize("at_once", [2, 3])
def test_syncs_at_once_change_nothing_when_nothing_changed(target: str, at_once: int) -> None:
    console = Console(BIG)
    assert console.state()["counts"]["risks"] >= 30_000
    with SimulatorServer(console) as server:
        code, _, err = finished(sync(server.url, target, console.token))
        assert code == 0, err
        store = open_store(target)
        try:
            before, history = states(store), history_count(store)
        finally:
            store.close()
        procs = [sync(server.url, target, console.token) for _ in range(at_once)]
        results = [finished(p) for p in procs]
        assert [r[0] for r in results] == [0] * at_once, [r[2] for r in results]
        waited = sum("waiting for the sync of" in r[2] for r in results)
        assert waited >= 1, "the later syncs waited for the one holding the console"
        store = open_store(target)
        try:
            assert states(store) == before, "no state changed"
            assert history_count(store) == history, "no history row was written"
            truth_matches(store, server.url, console.token, console_name(server.url))
        finally:
            store.close()


def test_syncs_at_once_after_changes_record_each_change_once(target: str) -> None:
    console = Console(BIG)
    with SimulatorServer(console) as server:
        code, _, err = finished(sync(server.url, target, console.token))
        assert code == 0, err
        console.advance(72)
        procs = [sync(server.url, target, console.token) for _ in range(3)]
        results = [finished(p) for p in procs]
        assert [r[0] for r in results] == [0, 0, 0], [r[2] for r in results]
        store = open_store(target)
        try:
            truth_matches(store, server.url, console.token, console_name(server.url))
            per_finding = Counter(
                (h[0], h[1])
                for h in store.conn.execute(
                    "SELECT finding_id, event_type FROM finding_history"
                ).fetchall()
            )
            assert per_finding, "the advance changed something"
            assert max(n for (_, e), n in per_finding.items() if e == "created") == 1
            assert max(n for (_, e), n in per_finding.items() if e == "fixed") == 1
            assert history_count(store)["fixed"] > 0
        finally:
            store.close()


def test_runs_that_bypass_the_lease_still_close_nothing_falsely(target: str) -> None:
    """Library callers can run connectors without the console's lease: three vulnerability
    snapshots of an unchanged console written side by side still change no state."""
    console = Console(BIG)
    with SimulatorServer(console) as server:
        with S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as client:
            store = open_store(target)
            try:
                for name in ("assets", "threats", "vulnerabilities"):
                    assert run_connector(store, client, make(name), "sim").outcome == "success"
                before, history = states(store), history_count(store)
            finally:
                store.close()
        outcomes: list[str] = []

        def snapshot() -> None:
            with S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as c:
                own = open_store(target)
                try:
                    result = run_connector(own, c, make("vulnerabilities"), "sim")
                    outcomes.append(result.outcome)
                finally:
                    own.close()

        threads = [threading.Thread(target=snapshot) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes == ["success"] * 3
        store = open_store(target)
        try:
            assert states(store) == before
            after = history_count(store)
            for event in ("fixed", "stale", "archived", "reopened", "created"):
                assert after[event] == history[event], event
        finally:
            store.close()


def test_a_token_of_another_scope_on_the_same_url_is_refused(target: str) -> None:
    console = Console(SimConfig(seed=82, agents=400))
    assert console.world is not None
    site = console.world.sites[0].id
    narrow = console.add_token(TokenSpec(scope="site", scope_id=site))
    with SimulatorServer(console) as server:
        name = console_name(server.url)
        assert finished(sync(server.url, target, console.token))[0] == 0
        store = open_store(target)
        try:
            before = states(store)
        finally:
            store.close()

        code, out, err = finished(sync(server.url, target, narrow.value))
        assert code == 2
        assert len(err.strip().splitlines()) == 1, err
        assert "scope tenant, now scope site" in err and "--rescope" in err and out == ""
        store = open_store(target)
        try:
            assert states(store) == before, "a refused sync wrote nothing"
        finally:
            store.close()

        # Another name: a console of its own, the first one untouched.
        code, _, err = finished(sync(server.url, target, narrow.value, "--console", "one-site"))
        assert code == 0, err
        store = open_store(target)
        try:
            assert {k: v for k, v in states(store).items() if k in before} == before
            truth_matches(store, server.url, narrow.value, "one-site")
            truth_matches(store, server.url, console.token, name)
        finally:
            store.close()

        # --rescope: the name's scope becomes the site; what left it is archived, never fixed.
        code, out, err = finished(sync(server.url, target, narrow.value, "--rescope"))
        assert code == 0, err
        assert "archived as out of scope" in out
        store = open_store(target)
        try:
            truth_matches(store, server.url, narrow.value, name, site)
            assets = {a["agent_id"]: a for a in store.query_assets(console=name)}
            after = list(store.query_findings(console=name))
            outside = [
                f
                for f in after
                if f["agent_id"] in assets and assets[f["agent_id"]]["site_id"] != site
            ]
            assert outside and all(
                f["state"] in ("archived", "fixed", "suppressed") for f in outside
            )
            changed = {f["finding_id"] for f in outside if before.get(f["finding_id"]) == "open"}
            now = states(store)
            assert changed and all(now[fid] == "archived" for fid in changed)
            reasons = {
                h["changed"].get("reason")
                for fid in list(changed)[:20]
                for h in store.history(fid)[-1:]
            }
            assert reasons == {"out of scope"}
            assert history_count(store)["fixed"] == 0, "leaving the scope fixed nothing"
        finally:
            store.close()


def test_two_simulated_consoles_on_one_machine_keep_apart(target: str) -> None:
    one, two = Console(SimConfig(seed=83, agents=300)), Console(SimConfig(seed=84, agents=200))
    with SimulatorServer(one) as first, SimulatorServer(two) as second:
        for server, console in ((first, one), (second, two)):
            code, out, err = finished(sync(server.url, target, console.token))
            assert code == 0, err
            assert " 0 fixed" in out and "/assets: success (full) — " in out
        for server, console in ((first, one), (second, two)):  # and once more, nothing new
            code, out, err = finished(sync(server.url, target, console.token))
            assert code == 0 and out.count(" 0 new, 0 changed, 0 fixed") == 3, out
        store = open_store(target)
        try:
            for server, console in ((first, one), (second, two)):
                truth_matches(store, server.url, console.token, console_name(server.url))
            assert history_count(store)["fixed"] == 0
            names = {c["console"] for c in store.consoles()}
            assert names == {console_name(first.url), console_name(second.url)}
        finally:
            store.close()


def test_a_risk_whose_endpoint_is_in_no_listed_site_is_not_lost(target: str) -> None:
    console = Console(SimConfig(seed=85, agents=400))
    assert console.world is not None
    hidden = console.world.sites.pop()  # its agents and risks are served; the site is not
    with SimulatorServer(console) as server:
        code, out, err = finished(sync(server.url, target, console.token))
        assert code == 0, err
        assert "reading them again in one walk" in err
        store = open_store(target)
        try:
            truth_matches(store, server.url, console.token, console_name(server.url))
            in_hidden = [a for a in store.query_assets() if a["site_id"] == hidden.id]
            assert in_hidden
            (run,) = [r for r in store.last_runs() if r["connector"] == "vulnerabilities"]
            assert run["complete_snapshot"]
        finally:
            store.close()
        code, out, err = finished(sync(server.url, target, console.token))  # nothing changed
        assert code == 0 and out.count(" 0 fixed") == 3 and " 0 stale" in out, out


def test_a_console_clock_from_the_future_does_not_move_checkpoints(target: str) -> None:
    year_2100 = 4_102_444_800_000_000  # 2100-01-01, in microseconds
    console = Console(SimConfig(seed=86, agents=200, epoch_us=year_2100))
    with SimulatorServer(console) as server:
        code, _, err = finished(sync(server.url, target, console.token))
        assert code == 0, err
        assert "the console's clock says 21" in err
        store = open_store(target)
        try:
            now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 300))
            for connector in ("threats", "assets"):
                checkpoint = store.get_checkpoint(console_name(server.url), connector)
                assert checkpoint is not None
                assert checkpoint["updated_at"] < now, (connector, checkpoint)
            truth_matches(store, server.url, console.token, console_name(server.url))
        finally:
            store.close()


def runs_of(target: str) -> list[dict[str, Any]]:
    store = open_store(target)
    try:
        return store.runs(limit=50)
    finally:
        store.close()


def wait_for_pages(target: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        store = open_store(target)
        try:
            if store.counts()["findings_total"] > 2000:
                return
        finally:
            store.close()
        time.sleep(0.1)
    raise AssertionError("the sync wrote no pages in time")


SLOW = SimConfig(seed=87, agents=2500, risks_per_agent=12, latency_ms=40)


def test_ctrl_c_stops_at_a_page_boundary_and_the_next_sync_resumes(target: str) -> None:
    console = Console(SLOW)
    with SimulatorServer(console) as server:
        proc = sync(server.url, target, console.token)
        wait_for_pages(target, proc)
        proc.send_signal(signal.SIGINT)
        code, out, err = finished(proc, timeout=60)
        assert code == 130, err
        assert "stopping after the current page" in err
        outcomes = {r["connector"]: r["outcome"] for r in runs_of(target)}
        assert "partial" in outcomes.values() and "running" not in outcomes.values()
        assert "aborted" not in outcomes.values()
        assert "partial" in out  # the summary of what was done
        status = subprocess.run(
            [sys.executable, "-m", "s1uvm", "status"],
            env=env_for(target, ""),
            capture_output=True,
            text=True,
            check=False,
        )
        assert status.returncode == 0 and "held by" not in status.stdout
        code, _, err = finished(sync(server.url, target, console.token))
        assert code == 0, err
        store = open_store(target)
        try:
            truth_matches(store, server.url, console.token, console_name(server.url))
            assert history_count(store)["fixed"] == 0
        finally:
            store.close()


def test_ctrl_c_twice_stops_at_once_and_a_killed_sync_is_not_shown_running(target: str) -> None:
    # Requests of two seconds: the first Ctrl-C waits for the pages in flight, the second
    # does not.
    console = Console(SLOW)
    with SimulatorServer(console) as server:
        proc = sync(server.url, target, console.token)
        wait_for_pages(target, proc)
        console.config.latency_ms = 2000
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        code, _, err = finished(proc, timeout=30)
        assert code == 130, err
        outcomes = [r["outcome"] for r in runs_of(target)]
        assert "aborted" in outcomes and "running" not in outcomes
        store = open_store(target)
        try:
            (row,) = store.consoles()
            assert row["lease_owner"] is None, "the console was handed back"
        finally:
            store.close()

        console.config.latency_ms = SLOW.latency_ms
        proc = sync(server.url, target, console.token)
        deadline = time.monotonic() + 60
        while not any(r["outcome"] == "running" for r in runs_of(target)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        status = subprocess.run(
            [sys.executable, "-m", "s1uvm", "status", "--json"],
            env=env_for(target, ""),
            capture_output=True,
            text=True,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert '"outcome": "running"' not in status.stdout
        assert "its process ended before the run finished" in status.stdout
        # The next sync takes the dead process's console at once and ends with the truth.
        started = time.monotonic()
        code, _, err = finished(sync(server.url, target, console.token))
        assert code == 0, err
        assert "waiting for" not in err and time.monotonic() - started < 120
        store = open_store(target)
        try:
            truth_matches(store, server.url, console.token, console_name(server.url))
        finally:
            store.close()
