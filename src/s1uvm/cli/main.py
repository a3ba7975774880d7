"""Entry point: the command group, the exit codes of design.md, and one-line errors."""

from __future__ import annotations

import sys

import click

from s1uvm import __version__
from s1uvm._memory import tune_malloc
from s1uvm._threads import tune_threads
from s1uvm.cli.commands import assets_cmd, check_cmd, findings_cmd, status_cmd, sync_cmd
from s1uvm.cli.demo import demo_cmd
from s1uvm.cli.export import export_cmd
from s1uvm.cli.simulator import simulator
from s1uvm.cli.worker import worker_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s1uvm")
def cli() -> None:
    """s1uvm: SentinelOne threats, vulnerabilities and assets in one store, with lifecycle."""


for command in (
    demo_cmd,
    check_cmd,
    sync_cmd,
    status_cmd,
    assets_cmd,
    findings_cmd,
    export_cmd,
    worker_cmd,
    simulator,
):
    cli.add_command(command)


def main() -> None:
    tune_malloc()
    tune_threads()
    try:
        cli.main(prog_name="s1uvm", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)
