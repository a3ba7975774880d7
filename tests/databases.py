"""The two backends every store and lifecycle test runs on: a SQLite file, and a fresh schema
in the PostgreSQL server at 127.0.0.1:5432 (or ``S1UVM_TEST_POSTGRES``). Without a reachable
server the PostgreSQL cases report themselves skipped, with the reason."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

try:
    import psycopg

    INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
except ImportError:
    INTEGRITY_ERRORS = (sqlite3.IntegrityError,)
PG_URL = os.environ.get("S1UVM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


@functools.cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev,postgres]')"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {PG_URL} ({' '.join(str(exc).split())[:120]})"
    return None


def need_postgres() -> None:
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)


def schema_url(schema: str) -> str:
    """The test server's URL, with every table created in ``schema``."""
    joiner = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{joiner}options={quote(f'-csearch_path={schema}')}"


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose tables live in a new, empty schema, dropped afterwards."""
    import psycopg

    need_postgres()
    schema = f"s1uvm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """Where a store for ``backend`` lives: a SQLite path, or a PostgreSQL URL."""
    if backend == "sqlite":
        yield str(folder / "data" / "s1uvm.db")
    else:
        with postgres_schema() as url:
            yield url
