"""Exports: OCSF 1.8.0, JSON Lines, CSV and Parquet, as the current state or as the changes
since the last export with the same bookmark. The feed is exact on both backends (see
``store._feed``): each change reaches each bookmark once, in order per finding, and a bookmark
is used by one export at a time. A bookmark moves only once its output is complete. Rows
stream from the store to the output; nothing builds the whole file in memory. Where the bytes
go, and how a file is kept safe, is ``_output``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import msgspec

from s1uvm._errors import UsageError
from s1uvm._text import csv_cell
from s1uvm.export import _output, _parquet, ocsf
from s1uvm.export._output import OutputError
from s1uvm.store import ASSET_COLUMNS, FINDING_COLUMNS
from s1uvm.store._feed import Batch, Bookmark, BookmarkBusy, Feed, FeedError, Position

FORMATS = ("ocsf", "jsonl", "csv", "parquet")
MODES = ("changes", "state")
# CSV: the data contract's columns, without raw JSON and our bookkeeping.
_NOT_IN_CSV = ("raw", "last_run_id", "created_at", "updated_at", "source_updated_at")
CSV_FINDING_COLUMNS = ("hostname", *(c for c in FINDING_COLUMNS if c not in _NOT_IN_CSV))
CSV_ASSET_COLUMNS = (*(c for c in ASSET_COLUMNS if c not in _NOT_IN_CSV), "superseded_by")
# What each change is: the history row's own fields, ``changed`` as {column: [old, new]}.
CHANGE_COLUMNS = ("event_id", "event_at", "event_type", "old_state", "new_state", "changed")
PARQUET_FINDING_COLUMNS = ("hostname", *(c for c in FINDING_COLUMNS if c != "raw"))
PARQUET_ASSET_COLUMNS = (*(c for c in ASSET_COLUMNS if c != "raw"), "superseded_by")


class ExportError(UsageError):
    """A usage problem (exit code 2)."""


class ExportBusy(Exception):
    """Another export is using the bookmark and the caller chose not to wait (exit code 1)."""


class ExportStore(Protocol):
    @property
    def feed(self) -> Feed: ...

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


@dataclass(slots=True)
class Result:
    records: int = 0
    last_event: int | None = None
    path: str | None = None  # the output file (placeholders filled in); None for stdout
    bookmark: str | None = None  # the bookmark used (changes)
    # Changes mode with nothing new: the output was left as it was. The time the bookmark last
    # moved (None: it never has).
    nothing_new: bool = False
    previous_export: str | None = None


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


def _listed(values: str | None) -> str | None:
    if not values:
        return None
    items = sorted({v.strip().lower() for v in values.split(",") if v.strip()})
    return ",".join(items) or None


def filters_key(kinds: set[str], state: str | None, severity: str | None, since: str | None) -> str:
    """The filters of a changes export in one canonical text ("" for none): part of the
    default bookmark's name, so a filtered export has a bookmark of its own."""
    parts = []
    finding_kinds = kinds - {"asset"}
    if finding_kinds != {"vulnerability", "threat"}:
        parts.append(f"kind={','.join(sorted(finding_kinds))}")
    for name, value in (("state", _listed(state)), ("severity", _listed(severity))):
        if value:
            parts.append(f"{name}={value}")
    if since:
        parts.append(f"since={since}")
    return "&".join(parts)


def bookmark_name(fmt: str, out: str, filters: str) -> str:
    """The default bookmark: the format, the output (see ``_output.identity``; a template's
    placeholders stay unexpanded) and the filters. Unfiltered, to stdout or to an absolute
    real path, it is the name earlier versions gave, so their bookmarks carry on."""
    name = f"{fmt}:{_output.identity(out)}"
    return f"{name}?{filters}" if filters else name


def _flat(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _changes(batch: Batch, fmt: str, processed: int) -> Iterator[dict[str, Any]]:
    for row in batch.rows:
        if fmt == "ocsf":
            yield ocsf.change_event(row, processed)
        else:
            yield row


def _state(
    store: ExportStore,
    fmt: str,
    kinds: set[str],
    state: str | None,
    severity: str | None,
    since: str | None,
    processed: int,
) -> Iterator[dict[str, Any]]:
    finding_kinds = ",".join(sorted(kinds - {"asset"})) or None
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
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    now: datetime | None = None,
    csv_raw: bool = False,
) -> Result:
    """Write one export. ``out`` is ``-``, a path or a template with ``{date}``/``{time}``/
    ``{datetime}``. In changes mode the bookmark is ``bookmark`` or the default
    (``bookmark_name``); a second export of the same bookmark waits for the first (``wait``;
    ``on_wait`` is told once, with the bookmark's name), or raises ``ExportBusy``. CSV cells
    that a spreadsheet would run as formulas are neutralised unless ``csv_raw``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if mode not in MODES:
        raise ExportError(f"unknown mode {mode!r}; use changes or state")
    kinds = _kinds(kind, fmt, mode)
    if fmt in ("csv", "parquet") and "asset" in kinds and len(kinds) > 1:
        raise ExportError(
            f"{'CSV' if fmt == 'csv' else 'Parquet'} holds one table: export findings and "
            "assets separately (--kind asset)"
        )
    if mode == "changes" and kinds == {"asset"}:
        raise ExportError("assets have no change feed; use --mode state for them")
    if fmt == "parquet" and out == "-":
        raise ExportError("Parquet cannot stream to stdout; give --out FILE.parquet")
    started = now or datetime.now(UTC)
    try:
        path = None if out == "-" else Path(_output.expand(out, started)).expanduser()
        special = path is not None and _output.is_special(path)
    except OutputError as exc:
        raise ExportError(str(exc)) from None
    processed = int(started.timestamp() * 1000)
    result = Result(path=str(path) if path is not None else None)
    target = _Target(fmt, kinds, mode, path, special, stdout, csv_raw)
    if mode == "state":
        result.records = target.write(_state(store, fmt, kinds, state, severity, since, processed))
        return result
    filters = filters_key(kinds, state, severity, since)
    name = bookmark or bookmark_name(fmt, out, filters)
    result.bookmark = name
    feed = store.feed
    finding_kinds = ",".join(sorted(kinds - {"asset"}))
    try:
        with feed.lock(name, wait=wait, on_wait=(lambda: on_wait(name)) if on_wait else None):
            stored = _adopt_legacy(feed, name, fmt, out, bookmark, filters)
            if stored.filters is not None and stored.filters != filters:
                raise ExportError(
                    f"bookmark {name!r} was last used with filters "
                    f"{stored.filters or '(none)'!r}, this export has {filters or '(none)'!r}; "
                    "give each filtered feed a --bookmark of its own"
                )
            with feed.read(
                stored.position, kind=finding_kinds, state=state, severity=severity, since=since
            ) as batch:
                items = _changes(batch, fmt, processed)
                first = next(items, None)
                if first is None:
                    result.nothing_new = True
                    result.previous_export = stored.updated_at
                    if out == "-" and fmt == "csv":
                        target.write(iter(()))  # the header, as a reader of the stream expects
                else:
                    result.records = target.write(_chain(first, items))
                    result.last_event = batch.last_event
            # The output is complete (renamed, or closed without error): only now move on.
            if batch.position != stored.position:
                feed.save(name, batch.position, filters)
    except BookmarkBusy:
        raise ExportBusy(
            f"another export is using bookmark {name!r}; run again when it has finished, or "
            "without --no-wait to wait for it"
        ) from None
    except (OutputError, FeedError) as exc:
        raise ExportError(str(exc)) from None
    return result


def _adopt_legacy(
    feed: Feed, name: str, fmt: str, out: str, explicit: str | None, filters: str
) -> Bookmark:
    """The bookmark, or — for a default bookmark never used — the one an earlier version kept
    for the same format and ``--out`` text as typed (``ocsf:day1.jsonl``), so a feed run that
    way goes on where it was instead of starting over."""
    stored = feed.bookmark(name)
    if explicit or filters or stored.updated_at or out == "-":
        return stored
    legacy = feed.bookmark(f"{fmt}:{out}")
    if legacy.updated_at is None or legacy.name == name:
        return stored
    return Bookmark(name, legacy.position, None, legacy.updated_at)


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


@dataclass(slots=True)
class _Target:
    fmt: str
    kinds: set[str]
    mode: str
    path: Path | None
    special: bool
    stdout: TextIO | None
    csv_raw: bool = False

    def write(self, items: Iterator[dict[str, Any]]) -> int:
        if self.fmt == "parquet":
            assert self.path is not None
            if not self.special:
                _output.prepare_folder(self.path)
            return _parquet.write(items, self._parquet_columns(), self.path, special=self.special)
        if self.path is None:
            target = self.stdout if self.stdout is not None else _stdout()
            n = self._text(items, target)
            target.flush()
            return n
        if self.special:
            with _output.special_text(self.path) as f:
                return self._text(items, f)
        _output.prepare_folder(self.path)
        counted: list[int] = []

        def fill(fd: int) -> None:
            with open(fd, "w", newline="", encoding="utf-8", closefd=False) as f:
                counted.append(self._text(items, f))

        _output.replace_regular(self.path, fill)
        return counted[0]

    def _parquet_columns(self) -> tuple[str, ...]:
        if self.kinds == {"asset"}:
            return PARQUET_ASSET_COLUMNS
        if self.mode == "changes":
            return CHANGE_COLUMNS + PARQUET_FINDING_COLUMNS
        return PARQUET_FINDING_COLUMNS

    def _text(self, items: Iterator[dict[str, Any]], target: TextIO) -> int:
        n = 0
        if self.fmt in ("ocsf", "jsonl"):
            encode = msgspec.json.Encoder(enc_hook=str).encode
            for item in items:
                target.write(encode(item).decode())
                target.write("\n")
                n += 1
            return n
        columns: tuple[str, ...] = (
            CSV_ASSET_COLUMNS if self.kinds == {"asset"} else CSV_FINDING_COLUMNS
        )
        if self.mode == "changes":
            columns = CHANGE_COLUMNS + columns
        writer = csv.DictWriter(target, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for item in items:
            if self.csv_raw:
                writer.writerow({c: _flat(item.get(c)) for c in columns})
            else:  # a cell a spreadsheet would run as a formula is neutralised (``_text``)
                writer.writerow({c: csv_cell(_flat(item.get(c))) for c in columns})
            n += 1
        return n


def _stdout() -> TextIO:
    import sys

    return sys.stdout


__all__ = [
    "FORMATS",
    "MODES",
    "ExportBusy",
    "ExportError",
    "Position",
    "Result",
    "bookmark_name",
    "export",
    "filters_key",
]
