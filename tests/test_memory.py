"""The malloc settings that keep a long sync's memory flat take effect on Linux/glibc, and
free memory goes back to the OS, though not more often than it is worth."""

from __future__ import annotations

import subprocess
import sys

import pytest

from s1uvm import _memory
from s1uvm._memory import return_free_memory, tune_malloc

pytestmark = pytest.mark.system


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_malloc_is_tuned_on_linux() -> None:
    # In a fresh interpreter: the settings are process-wide.
    code = "from s1uvm._memory import tune_malloc; print(tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_tuning_twice_is_harmless() -> None:
    assert tune_malloc() == tune_malloc()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim is Linux-only")
def test_free_memory_is_returned_at_most_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(_memory, "_last_trim", -_memory.TRIM_EVERY_S)
    assert return_free_memory(lambda: now[0])
    now[0] += 0.5
    assert not return_free_memory(lambda: now[0])  # every page asks; once a second runs
    now[0] += _memory.TRIM_EVERY_S
    assert return_free_memory(lambda: now[0])
