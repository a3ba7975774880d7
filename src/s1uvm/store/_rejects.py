"""Writing rejected records: each kept once per console and connector, however many runs meet
it again (the same raw text → the same ``raw_hash``; a later meeting updates its run, reason
and time). A NUL is stored as U+FFFD in their text, as neither PostgreSQL's text holds one."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from s1uvm.model import Rejected
from s1uvm.store._dialect import Connection, Dialect, raw_text

_UPSERT = (
    "INSERT INTO rejected_records (run_id, console, connector, source_id, reason, raw, "
    "raw_hash, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (console, connector, raw_hash) DO UPDATE SET run_id = excluded.run_id, "
    "source_id = excluded.source_id, reason = excluded.reason, at = excluded.at"
)


def _clean(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text


def raw_hash(raw: str) -> str:
    """The key of a reject's raw text (the schema migration spells the same)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def write_rejected(
    conn: Connection, dialect: Dialect, run_id: int, rejected: Sequence[Rejected], now: str
) -> None:
    rows = []
    for r in rejected:
        raw = _clean(raw_text(r.raw)) or ""
        rows.append(
            (
                run_id,
                r.console,
                r.connector,
                _clean(r.source_id),
                _clean(r.reason) or "",
                raw,
                raw_hash(raw),
                now,
            )
        )
    conn.executemany(dialect.sql(_UPSERT), rows)
