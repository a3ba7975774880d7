"""How SQLite means to run a statement the store makes: for tests that a look-up is served by
the index meant for it, not by reading the table."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from s1uvm.store import Store


def plan_of(store: Store, action: Callable[[], object], statement: str) -> str:
    """The query plan of the first statement beginning with ``statement`` that ``action``
    runs on ``store`` (a SQLite one), its values as they were bound."""
    conn = store.conn
    assert isinstance(conn, sqlite3.Connection)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    found = next(s for s in statements if s.startswith(statement))
    return " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {found}"))
