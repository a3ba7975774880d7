"""Start-up: commands that do not serve the simulated console never import it (nor uvicorn),
and the two that do still appear in ``--help`` and run."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from s1uvm.cli.main import cli


def test_importing_the_cli_leaves_the_simulator_and_uvicorn_unloaded() -> None:
    code = (
        "import sys, s1uvm.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith(('s1uvm.simulator', 'uvicorn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_simulator_commands_are_listed_and_load_when_asked_for() -> None:
    runner = CliRunner()
    listing = runner.invoke(cli, ["--help"])
    assert listing.exit_code == 0
    names = [line.split()[0] for line in listing.output.split("Commands:")[1].splitlines() if line]
    assert names == [
        "assets",
        "check",
        "demo",
        "export",
        "findings",
        "simulator",
        "status",
        "sync",
        "worker",
    ]
    serve = runner.invoke(cli, ["simulator", "serve", "--help"])
    assert serve.exit_code == 0 and "--agents" in serve.output
    demo = runner.invoke(cli, ["demo", "--help"])
    assert demo.exit_code == 0 and "simulated console" in demo.output
