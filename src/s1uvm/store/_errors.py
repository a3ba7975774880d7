"""The store's one error type: a line that says what to fix (exit code 2)."""

from s1uvm._errors import Error, UsageError


class StoreError(UsageError):
    """The database cannot be opened, migrated or written; the message says what to fix."""


class LeaseLost(Error):
    """The run's console lease is held by another run now (ours expired while this process
    was stopped or cut off): the page was not written, and the run ends there."""
