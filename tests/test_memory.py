"""The malloc settings that keep a long sync's memory flat take effect on Linux/glibc."""

from __future__ import annotations

import subprocess
import sys

import pytest

from s1uvm._memory import tune_malloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_malloc_is_tuned_on_linux() -> None:
    # In a fresh interpreter: the settings are process-wide.
    code = "from s1uvm._memory import tune_malloc; print(tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_tuning_twice_is_harmless() -> None:
    assert tune_malloc() == tune_malloc()
