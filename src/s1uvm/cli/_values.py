"""Checking what the read commands are given: list options against the values they can match
(an unknown one silently matched nothing), and a database that must already exist (a read
command that created an empty one would print an empty table for a mistyped path)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from s1uvm.cli.common import EXIT_USAGE, fail
from s1uvm.model import Kind, Lifecycle, Severity, State

LIFECYCLES = tuple(v.value for v in Lifecycle)
STATES = tuple(v.value for v in State)
SEVERITIES = tuple(v.value for v in Severity)
FINDING_KINDS = tuple(v.value for v in Kind)


def one_of(option: str, value: str | None, allowed: Iterable[str]) -> str | None:
    """A comma list of known values, normalised (``High, critical`` → ``high,critical``);
    one line and exit code 2 naming the allowed values otherwise."""
    if value is None:
        return None
    known = tuple(allowed)
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in known]
    if unknown or not items:
        shown = ", ".join(repr(v) for v in unknown) or repr(value)
        fail(f"{option} {shown} is not known; use one or more of: {', '.join(known)}", EXIT_USAGE)
    return ",".join(dict.fromkeys(items))


def existing_database(db: str) -> str:
    """``db`` when it is a PostgreSQL URL or a SQLite file that exists."""
    if db.startswith(("postgresql://", "postgres://")):
        from s1uvm.store import postgres_has_store

        if not postgres_has_store(db):
            fail(
                "no s1uvm tables in that PostgreSQL database (or schema); give the --db (or "
                "S1UVM_DB) a sync wrote, or run s1uvm sync first",
                EXIT_USAGE,
            )
        return db
    path = Path(db).expanduser()
    if path.is_dir():
        fail(f"--db {db} is a folder; give the database file a sync wrote", EXIT_USAGE)
    if not path.exists():
        fail(
            f"no s1uvm database at {db}; give the --db (or S1UVM_DB) a sync wrote, or run "
            "s1uvm sync first",
            EXIT_USAGE,
        )
    return db
