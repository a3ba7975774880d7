"""The store: assets, findings, their history, the run ledger and checkpoints — SQLite by
default, written dialect-neutral for PostgreSQL. It knows SQL and nothing of HTTP."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from s1uvm.store._errors import StoreError
from s1uvm.store._sqlite import connect, open_error
from s1uvm.store._store import ASSET_COLUMNS, FINDING_COLUMNS, PageResult, Store


def open_store(target: str | os.PathLike[str]) -> Store:
    """A path opens (or creates) a SQLite database, migrated to this version's schema. Every
    problem becomes a ``StoreError`` whose message is one line saying what to fix."""
    text = os.fspath(target)
    if text.startswith(("postgresql://", "postgres://")):
        raise StoreError(
            "PostgreSQL needs the postgres extra; it is not available in this "
            "version yet — use a file path for --db"
        )
    path = Path(text).expanduser()
    conn = connect(path)
    try:
        return Store(conn, str(path))
    except sqlite3.Error as exc:
        conn.close()
        raise open_error(str(path), exc) from None
    except BaseException:
        conn.close()
        raise


__all__ = [
    "ASSET_COLUMNS",
    "FINDING_COLUMNS",
    "PageResult",
    "Store",
    "StoreError",
    "open_store",
]
