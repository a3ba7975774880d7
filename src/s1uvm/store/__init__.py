"""The store: assets, findings, their history, the run ledger and checkpoints — SQLite by
default, written dialect-neutral for PostgreSQL. It knows SQL and nothing of HTTP."""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path

from s1uvm.store import _postgres
from s1uvm.store._dialect import POSTGRES
from s1uvm.store._errors import LeaseLost, StoreError
from s1uvm.store._sqlite import connect, open_error, release, writers
from s1uvm.store._store import ASSET_COLUMNS, FINDING_COLUMNS, PageResult, Store


def open_store(target: str | os.PathLike[str]) -> Store:
    """A path opens (or creates) a SQLite database, a ``postgresql://`` URL a PostgreSQL one;
    either is migrated to this version's schema. Every problem becomes a ``StoreError``
    whose message is one line saying what to fix."""
    text = os.fspath(target)
    if text.startswith(("postgresql://", "postgres://")):
        return _open_postgres(text)
    path = Path(text).expanduser()
    conn = connect(path)
    turns = writers(path)
    try:
        return Store(conn, str(path), write_lock=turns, on_close=functools.partial(release, turns))
    except sqlite3.Error as exc:
        conn.close()
        release(turns)
        raise open_error(str(path), exc) from None
    except BaseException:
        conn.close()
        release(turns)
        raise


def postgres_has_store(url: str) -> bool:
    """Whether the PostgreSQL database at ``url`` (its schema on the search path) holds an
    s1uvm store: for read commands, which must never create one. Connection problems are
    left for ``open_store`` to report."""
    conn = _postgres.connect(url)
    try:
        row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        return bool(row and row[0])
    finally:
        conn.close()


def _open_postgres(url: str) -> Store:
    conn = _postgres.connect(url)
    try:
        return Store(conn, _postgres.shown_url(url), POSTGRES)
    except StoreError:
        conn.close()
        raise
    except Exception as exc:  # the driver's own errors: say what failed, in one line
        conn.close()
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(
            f"cannot prepare the PostgreSQL database {_postgres.shown_url(url)}: {reason}; "
            "check that the user may create tables in its schema"
        ) from None


__all__ = [
    "ASSET_COLUMNS",
    "FINDING_COLUMNS",
    "LeaseLost",
    "PageResult",
    "Store",
    "StoreError",
    "open_store",
    "postgres_has_store",
]
