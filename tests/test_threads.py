"""Every s1uvm command runs with the short interpreter-lock interval, so a writer holding the
database's write lock gets Python back soon after each row SQLite writes."""

from __future__ import annotations

import subprocess
import sys

from s1uvm._threads import SWITCH_INTERVAL_S


def test_the_cli_hands_the_interpreter_lock_over_sooner_than_python_by_default() -> None:
    code = (
        "import atexit, sys; from s1uvm.cli import main; "
        "atexit.register(lambda: print(sys.getswitchinterval())); "
        "sys.argv = ['s1uvm', '--version']; main()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    default = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.getswitchinterval())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(out.stdout.split()[-1]) == SWITCH_INTERVAL_S
    assert float(default.stdout) > SWITCH_INTERVAL_S
