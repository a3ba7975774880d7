"""Parquet through DuckDB, with a schema of our own: every column's type is stated, so a file
has the same columns and types whatever rows it holds (an all-empty column would otherwise be
guessed as JSON null, and a file with no rows not guessed at all).

Rows are staged as JSON Lines in a private folder (``mkdtemp``: 0700, a random name) beside
the target, DuckDB writes the Parquet file in that folder (and spills there, not in the working
directory), and the finished file, made 0600, is renamed into place. The folder is removed on
every way out — an error, Ctrl-C or success. A special file target gets the finished bytes
streamed into it; its staging folder is in the system's temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from s1uvm.export._output import OutputError, copy_to_special

_LISTS = frozenset(("app_version", "ipv4", "ipv6", "mac", "a_ipv4", "a_mac"))
_BOOLS = frozenset(("is_active", "is_decommissioned", "is_uninstalled"))
_INTS = frozenset(("event_id", "run_id", "last_run_id", "reopen_count"))
_FLOATS = frozenset(("cvss_score",))


def column_type(name: str) -> str:
    """The DuckDB type of one of our columns, by its name (ids and JSON stay text)."""
    if name in _LISTS:
        return "VARCHAR[]"
    if name in _BOOLS:
        return "BOOLEAN"
    if name in _INTS:
        return "BIGINT"
    if name in _FLOATS:
        return "DOUBLE"
    if name.endswith("_at"):
        return "TIMESTAMPTZ"
    return "VARCHAR"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write(
    items: Iterable[dict[str, Any]], columns: Sequence[str], target: Path, *, special: bool
) -> int:
    try:
        import duckdb  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise OutputError("Parquet needs the parquet extra: pip install 's1uvm[parquet]'") from None
    folder = Path(tempfile.mkdtemp(prefix=".s1uvm-", dir=None if special else target.parent))
    try:
        staging, built = folder / "rows.jsonl", folder / "out.parquet"
        n = _stage(items, columns, staging)
        schema = "{" + ", ".join(f"{_quote(c)}: {_quote(column_type(c))}" for c in columns) + "}"
        con = duckdb.connect(
            config={
                # Stream instead of holding the table: one thread, no ordering guarantee, a cap.
                "threads": 1,
                "memory_limit": "256MB",
                "preserve_insertion_order": False,
                "temp_directory": str(folder / "spill"),
            }
        )
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(
                f"COPY (SELECT * FROM read_json({_quote(str(staging))}, "  # noqa: S608
                f"format = 'newline_delimited', columns = {schema})) "
                f"TO {_quote(str(built))} (FORMAT parquet)"
            )
        finally:
            con.close()
        if special:
            copy_to_special(built, target)
        else:
            os.chmod(built, 0o600)
            os.replace(built, target)
        return n
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stage(items: Iterable[dict[str, Any]], columns: Sequence[str], staging: Path) -> int:
    n = 0
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        for line in _lines(items, columns):
            f.write(line)
            n += 1
    return n


def _lines(items: Iterable[dict[str, Any]], columns: Sequence[str]) -> Iterator[str]:
    for item in items:
        row = {c: item.get(c) for c in columns}
        if isinstance(row.get("changed"), dict | list):
            row["changed"] = json.dumps(row["changed"], sort_keys=True)
        yield json.dumps(row, default=str) + "\n"
