"""Entry point: the command group, the exit codes of design.md, and one-line errors."""

from __future__ import annotations

import importlib
import sys

import click

from s1uvm import __version__
from s1uvm._memory import tune_malloc
from s1uvm._threads import tune_threads
from s1uvm.cli.commands import assets_cmd, check_cmd, findings_cmd, status_cmd, sync_cmd
from s1uvm.cli.export import export_cmd
from s1uvm.cli.worker import worker_cmd

# Command name → (module, attribute) of the commands imported only when used.
_LAZY = {
    "demo": ("s1uvm.cli.demo", "demo_cmd"),
    "simulator": ("s1uvm.cli.simulator", "simulator"),
}


class _Commands(click.Group):
    """The command group. ``demo`` and ``simulator`` serve the simulated console, and its
    modules (the world generator, uvicorn) take longer to import than the rest of s1uvm: they
    are imported when one of those two commands runs (or ``--help`` lists them), so ``sync``,
    ``export`` and the others start without them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY and cmd_name not in self.commands:
            module, attr = _LAZY[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s1uvm")
def cli() -> None:
    """s1uvm: SentinelOne threats, vulnerabilities and assets in one store, with lifecycle."""


for command in (
    check_cmd,
    sync_cmd,
    status_cmd,
    assets_cmd,
    findings_cmd,
    export_cmd,
    worker_cmd,
):
    cli.add_command(command)


def main() -> None:
    tune_malloc()
    tune_threads()
    try:
        cli.main(prog_name="s1uvm", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)
