"""Opening a PostgreSQL database through psycopg 3 (the ``postgres`` extra), and the small
connection surface the store uses — ``execute``, ``executemany``, ``commit``, ``rollback`` — so
one store serves both backends. Autocommit, with explicit ``BEGIN`` for each write
transaction, so an idle worker never holds a transaction open. ``executemany`` runs in
psycopg's pipeline mode: one round trip per batch, not one per row. Large reads go through a
server-side cursor, so an export streams instead of arriving whole."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from s1uvm.store._errors import StoreError

CONNECT_TIMEOUT_S = 10
# Rows fetched per round trip when streaming: records carry their raw JSON (a few KB each),
# so a hundred keep the reader's memory near a megabyte.
STREAM_ROWS = 100
_names = itertools.count()


def shown_url(url: str) -> str:
    """The URL without its password: what messages and ``status`` may show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class PgConnection:
    """A psycopg connection with the sqlite3-like surface the store speaks."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        with self._conn.cursor() as cur:
            cur.executemany(sql, rows)

    def stream(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        """The column names, then the rows, from a server-side cursor. WITH HOLD lets it
        outlive its statement's transaction, so writes may go on while a query is read."""
        with self._conn.cursor(name=f"s1uvm_{next(_names)}", withhold=True) as cur:
            cur.itersize = STREAM_ROWS
            cur.execute(sql, params)
            yield [c.name for c in cur.description or ()]
            yield from cur

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Rows into ``table`` through COPY: PostgreSQL's bulk path, one stream per batch."""
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def stage(self, table: str) -> str:
        """A session-private staging table shaped like ``table``, emptied at every commit: a
        page is COPYed there, then upserted into ``table`` by one statement."""
        name = f"s1uvm_stage_{table}"
        self._conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE {table} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        return name

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        self._conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        import psycopg.pq

        return bool(self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)

    def close(self) -> None:
        self._conn.close()


def connect(url: str) -> PgConnection:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "a postgresql:// database needs the postgres extra: pip install 's1uvm[postgres]'"
        ) from None
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="s1uvm",
            # Plan every statement for the data as it is now: a plan cached while the tables
            # were empty would scan them once they hold millions of rows. Bulk writes go
            # through COPY, so per-statement planning costs little.
            prepare_threshold=None,
        )
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(
            f"cannot connect to the PostgreSQL database {shown_url(url)}: {reason}; check "
            "the URL, that the server runs and that the user may connect"
        ) from None
    return PgConnection(conn)
