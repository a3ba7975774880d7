"""``s1uvm sync`` against a hostile console over real HTTP, in a subprocess whose peak memory
is measured (``wait4``'s rusage, not timed): each bound ends that connector with one line and
the documented exit code, memory stays flat, and the store keeps what was good."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.store import open_store

EPOCH = 1_780_000_000_000_000
MB = 1024 * 1024


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes


@pytest.fixture
def hostile() -> Iterator[tuple[Console, SimulatorServer]]:
    console = Console(SimConfig(seed=9, agents=80, epoch_us=EPOCH, trickle_seconds=0.2))
    with SimulatorServer(console) as server:
        yield console, server


def sync(server: SimulatorServer, console: Console, db: Path, *args: str, **env: str) -> Run:
    """Run the CLI in a child process and read its own peak RSS from ``wait4``."""
    out, err = db.with_suffix(".out"), db.with_suffix(".err")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_", "SSL_"))}
    environ.update(S1_API_TOKEN=console.token, **env)
    with out.open("wb") as stdout, err.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "s1uvm", "sync", "--url", server.url, "--db", str(db), *args],
            stdout=stdout,
            stderr=stderr,
            env=environ,
        )
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            if child.poll() is None:
                child.kill()
        child.returncode = os.waitstatus_to_exitcode(status)
    return Run(child.returncode, out.read_text(), err.read_text(), usage.ru_maxrss * 1024)


def clean_peak(server: SimulatorServer, console: Console, tmp_path: Path) -> int:
    run = sync(server, console, tmp_path / "clean.db", "--connectors", "assets")
    assert run.code == 0, run.stderr
    return run.peak_rss


def error_lines(run: Run) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.strip()]


def test_a_gzip_bomb_costs_a_failed_connector_not_the_memory(
    hostile: tuple[Console, SimulatorServer], tmp_path: Path
) -> None:
    console, server = hostile
    base = clean_peak(server, console, tmp_path)
    console.set_faults("gzip-bomb:1.0:agents")  # 1 GiB once inflated, about 1 MB sent
    run = sync(
        server, console, tmp_path / "s.db", "--connectors", "assets", S1UVM_MAX_RESPONSE_MB="16"
    )
    assert run.code == 4, run.stderr
    assert "the answer is larger than 16 MiB once decompressed" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    # The bound's 16 MB and a little: not the gigabyte (nor a fraction of it).
    assert run.peak_rss < base + 48 * MB, (run.peak_rss // MB, base // MB)


def test_an_endless_body_costs_a_failed_connector_not_the_memory(
    hostile: tuple[Console, SimulatorServer], tmp_path: Path
) -> None:
    console, server = hostile
    base = clean_peak(server, console, tmp_path)
    console.set_faults("endless-body:1.0:agents")
    run = sync(
        server, console, tmp_path / "s.db", "--connectors", "assets", S1UVM_MAX_RESPONSE_MB="16"
    )
    assert run.code == 4, run.stderr
    assert "the answer is larger than 16 MiB (its body did not end)" in run.stdout + run.stderr
    assert run.peak_rss < base + 48 * MB, (run.peak_rss // MB, base // MB)


def test_a_trickling_body_ends_at_the_deadline(
    hostile: tuple[Console, SimulatorServer], tmp_path: Path
) -> None:
    console, server = hostile
    console.set_faults("slow-body:1.0:agents")  # a byte every 0.2 s: each read is in time
    run = sync(
        server, console, tmp_path / "s.db", "--connectors", "assets", S1UVM_REQUEST_DEADLINE="2"
    )
    assert run.code == 4, run.stderr
    assert "took longer than 2 s in all" in run.stdout + run.stderr


def test_a_fresh_cursor_on_every_page_ends_the_walk(
    hostile: tuple[Console, SimulatorServer], tmp_path: Path
) -> None:
    console, server = hostile
    base = clean_peak(server, console, tmp_path)
    console.set_faults("fresh-cursor:1.0:agents")
    db = tmp_path / "s.db"
    run = sync(server, console, db, "--connectors", "assets")
    assert run.code == 1, run.stderr
    assert "the console still handed out a next cursor after 11 pages" in run.stdout + run.stderr
    assert run.peak_rss < base + 32 * MB
    clean, store = open_store(tmp_path / "clean.db"), open_store(db)
    try:
        (last,) = store.last_runs()
        assert last["outcome"] == "partial" and not last["complete_snapshot"]
        assert "\n" not in last["error"]
        # The pages it read were good ones (the same page again and again), stored once.
        assert store.counts()["assets"] == clean.counts()["assets"]
    finally:
        store.close()
        clean.close()


def test_bounds_given_wrong_are_a_usage_error(
    hostile: tuple[Console, SimulatorServer], tmp_path: Path
) -> None:
    console, server = hostile
    run = sync(server, console, tmp_path / "s.db", S1UVM_MAX_RESPONSE_MB="lots")
    assert run.code == 2
    assert error_lines(run) == [
        "s1uvm: S1UVM_MAX_RESPONSE_MB='lots' is not a positive number; unset it or give e.g. 128"
    ]
