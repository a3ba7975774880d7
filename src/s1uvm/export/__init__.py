"""Exports: OCSF 1.8.0, JSON Lines, CSV and Parquet, as the current state or as the changes
since the last export (a bookmark on ``finding_history``, advanced only once the output is
complete, so repeated exports never skip or repeat a change). Rows stream from the store to the
output; nothing builds the whole file in memory."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import msgspec

from s1uvm._text import csv_cell
from s1uvm.export import ocsf
from s1uvm.store import ASSET_COLUMNS, FINDING_COLUMNS

FORMATS = ("ocsf", "jsonl", "csv", "parquet")
MODES = ("changes", "state")
# CSV: the data contract's columns, without raw JSON and our bookkeeping.
_NOT_IN_CSV = ("raw", "last_run_id", "created_at", "updated_at", "source_updated_at")
CSV_FINDING_COLUMNS = ("hostname", *(c for c in FINDING_COLUMNS if c not in _NOT_IN_CSV))
CSV_ASSET_COLUMNS = (*(c for c in ASSET_COLUMNS if c not in _NOT_IN_CSV), "superseded_by")
CHANGE_COLUMNS = ("event_id", "event_at", "event_type", "old_state", "new_state")


class ExportError(Exception):
    """A usage problem (exit code 2)."""


class ExportStore(Protocol):
    def changes(
        self,
        after_event: int,
        *,
        kind: str | None = ...,
        state: str | None = ...,
        severity: str | None = ...,
        since: str | None = ...,
    ) -> Iterator[dict[str, Any]]: ...

    def findings_with_assets(
        self,
        *,
        kind: str | None = ...,
        state: str | None = ...,
        severity: str | None = ...,
        since: str | None = ...,
    ) -> Iterator[dict[str, Any]]: ...

    def query_assets(
        self,
        *,
        console: str | None = ...,
        host: str | None = ...,
        lifecycle: str | None = ...,
        limit: int | None = ...,
    ) -> Iterator[dict[str, Any]]: ...

    def get_bookmark(self, name: str) -> int: ...

    def set_bookmark(self, name: str, event_id: int) -> None: ...


@dataclass(slots=True)
class Result:
    records: int = 0
    last_event: int | None = None
    path: str | None = None


def _kinds(kind: str | None, fmt: str, mode: str) -> set[str]:
    if kind:
        kinds = {k.strip().lower() for k in kind.split(",") if k.strip()}
        unknown = kinds - {"vulnerability", "threat", "asset"}
        if unknown:
            raise ExportError(
                f"unknown --kind {', '.join(sorted(unknown))}; use vulnerability, threat or asset"
            )
        return kinds
    if mode == "state" and fmt in ("ocsf", "jsonl"):
        return {"vulnerability", "threat", "asset"}
    return {"vulnerability", "threat"}


def _flat(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _items(
    store: ExportStore,
    fmt: str,
    mode: str,
    kinds: set[str],
    state: str | None,
    severity: str | None,
    since: str | None,
    bookmark: int,
    processed: int,
    result: Result,
) -> Iterator[dict[str, Any]]:
    finding_kinds = ",".join(sorted(kinds - {"asset"})) or None
    if mode == "changes":
        if kinds == {"asset"}:
            raise ExportError("assets have no change feed; use --mode state for them")
        for row in store.changes(
            bookmark, kind=finding_kinds, state=state, severity=severity, since=since
        ):
            result.last_event = row["event_id"]
            if fmt == "ocsf":
                activity = ocsf.ACTIVITY_ID.get(row["event_type"], 2)
                yield ocsf.finding_event(
                    row,
                    activity_id=activity,
                    event_time=row["event_at"],
                    event_key=row["event_id"],
                    processed=processed,
                )
            else:
                yield row
        return
    if finding_kinds:
        for row in store.findings_with_assets(
            kind=finding_kinds, state=state, severity=severity, since=since
        ):
            if fmt == "ocsf":
                activity = 1 if row.get("history_rows") == 1 else 2
                yield ocsf.finding_event(
                    row,
                    activity_id=activity,
                    event_time=row["updated_at"],
                    event_key=("state", row["updated_at"]),
                    processed=processed,
                )
            else:
                row.pop("history_rows", None)
                yield row
    if "asset" in kinds:
        for row in store.query_assets(lifecycle=state):
            yield ocsf.device_event(row, processed) if fmt == "ocsf" else dict(row, kind="asset")


def export(
    store: ExportStore,
    *,
    fmt: str,
    mode: str = "changes",
    out: str = "-",
    kind: str | None = None,
    state: str | None = None,
    severity: str | None = None,
    since: str | None = None,
    bookmark: str | None = None,
    stdout: TextIO | None = None,
    csv_raw: bool = False,
) -> Result:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if mode not in MODES:
        raise ExportError(f"unknown mode {mode!r}; use changes or state")
    kinds = _kinds(kind, fmt, mode)
    if fmt == "csv" and "asset" in kinds and len(kinds) > 1:
        raise ExportError(
            "CSV holds one table: export findings and assets separately (--kind asset)"
        )
    if fmt == "parquet" and out == "-":
        raise ExportError("Parquet cannot stream to stdout; give --out FILE.parquet")
    name = bookmark or f"{fmt}:{out}"
    start = store.get_bookmark(name) if mode == "changes" else 0
    processed = int(datetime.now(UTC).timestamp() * 1000)
    result = Result()
    items = _items(store, fmt, mode, kinds, state, severity, since, start, processed, result)
    if out == "-":
        target = stdout if stdout is not None else _stdout()
        result.records = _write(items, fmt, kinds, mode, target, csv_raw)
        target.flush()
    else:
        result.records = _write_file(items, fmt, kinds, mode, Path(out), csv_raw)
        result.path = out
    if mode == "changes" and result.last_event is not None:
        store.set_bookmark(name, result.last_event)  # only after the output is complete
    return result


def _stdout() -> TextIO:
    import sys

    return sys.stdout


def _write(
    items: Iterator[dict[str, Any]],
    fmt: str,
    kinds: set[str],
    mode: str,
    target: TextIO,
    csv_raw: bool = False,
) -> int:
    n = 0
    if fmt in ("ocsf", "jsonl"):
        encode = msgspec.json.Encoder(enc_hook=str).encode
        for item in items:
            target.write(encode(item).decode())
            target.write("\n")
            n += 1
        return n
    columns: tuple[str, ...] = CSV_ASSET_COLUMNS if kinds == {"asset"} else CSV_FINDING_COLUMNS
    if mode == "changes":
        columns = CHANGE_COLUMNS + columns
    writer = csv.DictWriter(target, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for item in items:
        if csv_raw:
            writer.writerow({c: _flat(item.get(c)) for c in columns})
        else:  # a cell a spreadsheet would run as a formula is neutralised (``_text``)
            writer.writerow({c: csv_cell(_flat(item.get(c))) for c in columns})
        n += 1
    return n


def _write_file(
    items: Iterator[dict[str, Any]],
    fmt: str,
    kinds: set[str],
    mode: str,
    path: Path,
    csv_raw: bool = False,
) -> int:
    """Write to a private temporary file beside the target, then rename: a reader never sees
    half a file, and an interrupted export leaves the old file (and the bookmark) alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        if fmt == "parquet":
            os.close(fd)
            n = _parquet(items, Path(tmp))
        else:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                n = _write(items, fmt, kinds, mode, f, csv_raw)
        os.replace(tmp, path)
        return n
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _quote(path: Path) -> str:
    """A file path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def _parquet(items: Iterator[dict[str, Any]], path: Path) -> int:
    try:
        import duckdb  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ExportError("Parquet needs the parquet extra: pip install 's1uvm[parquet]'") from None
    staging = path.with_suffix(".jsonl")
    n = 0
    with open(staging, "w", encoding="utf-8") as f:
        for item in items:
            item.pop("raw", None)
            f.write(json.dumps(item, default=str) + "\n")
            n += 1
    source, target = _quote(staging), _quote(path)
    try:
        # Stream instead of holding the table: one thread, no ordering guarantee, a cap.
        con = duckdb.connect(
            config={"threads": 1, "memory_limit": "256MB", "preserve_insertion_order": False}
        )
        select = (
            f"SELECT * FROM read_json_auto({source}, format = 'newline_delimited')"  # noqa: S608
            if n
            else "SELECT NULL::VARCHAR AS finding_id WHERE false"
        )
        con.execute(f"COPY ({select}) TO {target} (FORMAT parquet)")
        con.close()
    finally:
        staging.unlink(missing_ok=True)
    return n
