"""The store's one error type: a line that says what to fix (exit code 2)."""

from s1uvm._errors import UsageError


class StoreError(UsageError):
    """The database cannot be opened, migrated or written; the message says what to fix."""
