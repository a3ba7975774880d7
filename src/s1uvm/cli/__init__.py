"""The ``s1uvm`` command."""

from s1uvm.cli.main import main

__all__ = ["main"]
