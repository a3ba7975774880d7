"""``s1uvm worker``: share the configured consoles with other workers through the database."""

from __future__ import annotations

import re
import signal
import sys
from types import FrameType
from typing import Any

import click

from s1uvm.cli.commands import summary_line
from s1uvm.cli.common import EXIT_OK, console_options, guarded, run_options, settings
from s1uvm.lease import default_owner
from s1uvm.worker import Worker, WorkerOptions

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``1d`` (or plain seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match or float(match[1]) <= 0:
        raise click.BadParameter(f"{text!r} is not a duration such as 90s, 30m, 1h or 1d")
    return float(match[1]) * _UNITS[match[2] or "s"]


def _duration_option(ctx: click.Context, param: click.Parameter, value: str) -> float:
    return duration(value)


@click.command("worker")
@console_options
@click.option(
    "--every",
    callback=_duration_option,
    metavar="DURATION",
    default="1h",
    show_default=True,
    help="How often each console is synced.",
)
@click.option(
    "--lease",
    callback=_duration_option,
    metavar="DURATION",
    default="2m",
    show_default=True,
    help="How long a console stays leased without a heartbeat (a crashed worker's "
    "consoles are taken over after this).",
)
@click.option(
    "--poll",
    callback=_duration_option,
    metavar="DURATION",
    default="10s",
    show_default=True,
    help="How often an idle worker looks for a due console.",
)
@click.option("--once", is_flag=True, help="Sync what is due now, then exit (for cron).")
@click.option("--id", "owner", metavar="NAME", help="This worker's name (default host:pid).")
@run_options
@guarded
def worker_cmd(
    every: float,
    lease: float,
    poll: float,
    once: bool,
    owner: str | None,
    connectors: str | None,
    inactive_days: int,
    **opts: Any,
) -> None:
    """Sync the configured consoles on a schedule, sharing them with any other workers on the
    same database: each console is leased by one worker at a time. SIGTERM finishes the
    current page, commits it and exits."""
    cfg = settings(opts, connectors=connectors)
    options = WorkerOptions(
        every=every,
        lease=lease,
        poll=poll,
        once=once,
        owner=owner or default_owner(),
        inactive_days=inactive_days,
    )
    worker = Worker(
        cfg.consoles,
        cfg.db,
        options,
        report=lambda r: click.echo(f"[{options.owner}] {summary_line(r)}"),
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        click.echo(f"[{options.owner}] stopping after the current page", err=True)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(
        f"[{options.owner}] worker on {len(cfg.consoles)} console(s), every {every:g}s, "
        f"lease {lease:g}s",
        err=True,
    )
    worker.run()
    click.echo(f"[{options.owner}] stopped after {worker.runs} console run(s)", err=True)
    sys.exit(EXIT_OK)
