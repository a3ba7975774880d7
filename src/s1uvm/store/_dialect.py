"""What differs between SQLite and PostgreSQL, and nothing else: column types in migrations,
the placeholder style, how a write transaction starts, how a new row's id is learnt, and how
values cross the boundary (JSON, booleans, timestamps). Everything else — the statements
themselves, including ``INSERT … ON CONFLICT (…) DO UPDATE SET x = excluded.x`` — is one text
shared by both, so a second backend is a new ``Dialect`` value and a connection module, not a
second store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # design.md: UTC, ISO-8601, ending in Z (microseconds)
_decode_json = msgspec.json.Decoder()


def utcnow() -> str:
    """Now, in the one timestamp form the store writes (it sorts as text and as time)."""
    return datetime.now(UTC).strftime(TS_FORMAT)


def json_text(value: Any) -> str:
    """JSON as stored: the stdlib's spelling, so text written by any version compares equal."""
    return json.dumps(value)


def raw_text(raw: msgspec.Raw) -> str:
    """A record's raw JSON bytes as text; a stray invalid byte is replaced, never fatal."""
    return bytes(raw).decode("utf-8", "replace")


class Connection(Protocol):
    """What the store asks of a connection: sqlite3's own surface, which the PostgreSQL
    connection mirrors."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    types: Mapping[str, str]
    placeholder: str
    # SQLite: take the write lock at BEGIN, so a second writer waits (busy_timeout) up front
    # instead of failing when its read lock would have to be upgraded halfway through a page.
    begin_write: str
    list_tables: str  # the names of the tables in the schema, one per row
    # Taken first in the migration's transaction, so two processes opening a new database
    # together migrate it once (SQLite's BEGIN IMMEDIATE already serialises them).
    migration_lock: str
    # Appended to the SELECT that picks a console to lease: PostgreSQL lets concurrent workers
    # pass over each other's locked rows; SQLite's one writer needs nothing.
    skip_locked: str
    lastrowid: bool  # the cursor tells a new row's id; otherwise INSERT … RETURNING
    native_json: bool  # the driver hands JSON columns back already decoded (jsonb)
    native_timestamps: bool  # the driver hands timestamps back as datetime (timestamptz)
    # After a table's name: the index to read it through. SQLite's planner prefers a unique
    # index to a covering one that would spare it reading the rows; PostgreSQL plans by its
    # statistics and takes no hints.
    index_hint: str = ""

    def indexed_by(self, index: str) -> str:
        return self.index_hint.format(index)

    def ddl(self, text: str) -> str:
        """Migration text names types as ``{ts}``, ``{json}`` …; fill in this dialect's."""
        return text.format(**self.types)

    def sql(self, text: str) -> str:
        """Statements are written with ``?``; drivers that want ``%s`` also need a literal
        ``%`` doubled. Our statements hold no other ``?`` or ``%``: LIKE patterns are always
        bound values, never text."""
        if self.placeholder == "?":
            return text
        return text.replace("%", "%%").replace("?", self.placeholder)

    def upsert(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        *,
        keep: Sequence[str] = (),
        earliest: Sequence[str] = (),
        source: str | None = None,
    ) -> str:
        """Insert a row, or update the stored one with the same ``key``: columns in ``keep``
        keep their stored value, columns in ``earliest`` only ever move back in time. The rows
        come from bound values, or (``source``, a staging table) from a SELECT of its rows."""
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        rows = f"SELECT {names} FROM {source}" if source else f"VALUES ({marks})"
        sets: list[str] = []
        for c in columns:
            if c in key or c in keep:
                continue
            if c in earliest:
                sets.append(
                    f"{c} = CASE WHEN {table}.{c} IS NULL OR excluded.{c} < {table}.{c} "
                    f"THEN excluded.{c} ELSE {table}.{c} END"
                )
            else:
                sets.append(f"{c} = excluded.{c}")
        action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
        return self.sql(
            f"INSERT INTO {table} ({names}) {rows} ON CONFLICT ({', '.join(key)}) {action}"
        )

    def json_out(self, value: Any) -> Any:
        """A JSON column's value as Python data. Text that is not JSON (a rejected record's
        raw bytes may be cut short) comes back as the text itself."""
        if self.native_json or not isinstance(value, str):
            return value
        try:
            return _decode_json.decode(value)
        except msgspec.DecodeError:
            return value

    def bool_out(self, value: Any) -> bool | None:
        return None if value is None else bool(value)

    def ts_out(self, value: Any) -> Any:
        """A timestamp column's value in the store's text form, whatever the driver gives."""
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value.astimezone(UTC).strftime(TS_FORMAT)
        return value


SQLITE = Dialect(
    name="sqlite",
    types={
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "ts": "TEXT",
        "json": "TEXT",
        "bool": "INTEGER",
        "real": "REAL",
        "text": "TEXT",
        "int": "INTEGER",
    },
    placeholder="?",
    begin_write="BEGIN IMMEDIATE",
    migration_lock="",
    skip_locked="",
    list_tables=(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' "
        "ESCAPE '!'"
    ),
    lastrowid=True,  # RETURNING would need SQLite 3.35; lastrowid works on every version
    native_json=False,
    native_timestamps=False,
    index_hint=" INDEXED BY {}",
)
POSTGRES = Dialect(
    name="postgresql",
    types={
        "serial": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        "ts": "TIMESTAMPTZ",
        "json": "JSONB",
        "bool": "BOOLEAN",
        "real": "DOUBLE PRECISION",
        "text": "TEXT",
        "int": "BIGINT",
    },
    placeholder="%s",
    begin_write="BEGIN",
    migration_lock="SELECT pg_advisory_xact_lock(7150318226)",  # any fixed number of ours
    skip_locked=" FOR UPDATE SKIP LOCKED",
    list_tables=(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ),
    lastrowid=False,
    native_json=True,
    native_timestamps=True,
)
