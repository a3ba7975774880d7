"""The store's one error type: a line that says what to fix (exit code 2)."""


class StoreError(Exception):
    pass
