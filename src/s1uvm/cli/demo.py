"""``s1uvm demo``: the whole product in one command, with no console of your own — the
simulated console on loopback over real HTTP, ``check``, a full ``sync`` into a database, what
was stored, and queries to try next."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from s1uvm.check import check
from s1uvm.cli.commands import print_report, sync_consoles, sync_exit_code
from s1uvm.cli.common import guarded
from s1uvm.config import ConsoleConfig, console_name
from s1uvm.connectors import ORDER
from s1uvm.s1 import ApiToken
from s1uvm.simulator import Console, SimConfig, SimulatorServer


@click.command("demo")
@click.option("--db", metavar="PATH", help="Database to fill (default: a new temporary file).")
@click.option("--agents", default=500, show_default=True, help="Size of the simulated fleet.")
@click.option("--seed", default=7, show_default=True)
@click.option("--debug", is_flag=True)
@guarded
def demo_cmd(db: str | None, agents: int, seed: int, debug: bool) -> None:
    """Run s1uvm end to end against the built-in simulated console."""
    if db is None:
        folder = tempfile.mkdtemp(prefix="s1uvm-demo-")
        db = str(Path(folder) / "s1uvm.db")
    started = time.monotonic()
    console = Console(SimConfig(seed=seed, agents=agents))
    state = console.state()["counts"]
    click.echo(
        f"Simulated SentinelOne console: {state['agents']:,} agents, "
        f"{state['threats']:,} threats, {state['risks']:,} vulnerabilities "
        f"(seed {seed})"
    )
    with SimulatorServer(console) as server:
        url = server.url
        cfg = ConsoleConfig(console_name(url), url, ApiToken(console.token), ORDER)
        click.echo(f"\n$ s1uvm check   # against {server.url}")
        with cfg.client() as client:
            print_report(check(cfg, client))
        click.echo(f"\n$ s1uvm sync --db {db}")
        results = sync_consoles([cfg], db, full=True)
    code = sync_exit_code(results)
    from s1uvm.store import open_store

    store = open_store(db)
    try:
        counts: dict[str, Any] = store.counts()
    finally:
        store.close()
    click.echo(f"\nStored in {db}:")
    for key, value in counts.items():
        click.echo(f"  {key}: {value}")
    here = "" if os.environ.get("S1UVM_DB") == db else f" --db {db}"
    hints = [
        f"s1uvm findings{here} --severity critical --state open",
        f"s1uvm findings{here} --kind threat --format json --limit 3",
        f"s1uvm assets{here} --state retired",
        f"s1uvm status{here}",
        "sqlite3 " + db + ' "select severity, count(*) from findings group by 1"',  # noqa: S608
    ]
    click.echo("\nTry next:\n" + "\n".join("  " + h for h in hints))
    click.echo(
        "\nWith your own console: S1_API_TOKEN=... s1uvm check --url "
        "https://<tenant>.sentinelone.net"
    )
    click.echo(f"Done in {time.monotonic() - started:.1f}s.")
    sys.exit(code)
