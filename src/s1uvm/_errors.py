"""The root of every error s1uvm reports to its user. Each kind carries the exit code
design.md gives it, so the command line maps a failure to its code from the exception's type,
and a program calling s1uvm catches ``s1uvm.Error`` for all of them (and only them)."""

from __future__ import annotations

from typing import ClassVar

EXIT_OK, EXIT_SYNC, EXIT_USAGE, EXIT_AUTH, EXIT_NETWORK = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report a process ended by SIGINT


class Error(Exception):
    """Something the user can fix, in one line that says how. ``exit_code`` is what the
    ``s1uvm`` command exits with for it: 1 unless a subclass says otherwise."""

    exit_code: ClassVar[int] = EXIT_SYNC


class UsageError(Error):
    """A usage or configuration mistake: the URL, the token, a file, the database."""

    exit_code: ClassVar[int] = EXIT_USAGE
