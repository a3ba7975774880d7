"""What every connector is: which endpoint and filters to walk from a checkpoint (``plan``),
how to turn one page into rows (``transform``, pure), and how far the checkpoint may move after
each page and at the end. Connectors know nothing of HTTP or SQL; the sync engine runs them."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import msgspec

from s1uvm.connectors.normalise import Malformed
from s1uvm.model import AssetRow, FindingRow, Rejected
from s1uvm.s1 import PAGE_SIZE

R = TypeVar("R")
log = logging.getLogger("s1uvm.sync")


@dataclass(frozen=True, slots=True)
class Context:
    """What a run knows while transforming: whose data it is and what time it is there."""

    console: str
    now: str  # the console's clock at the start of the run (ISO-8601 UTC, Z)
    inactive_days: int = 30
    # The console's configured scope filter ({"siteIds": "1,2"} or {"accountIds": "3"}), sent
    # with every request so the run covers only that part of the token's scope.
    scope: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    path: str
    params: dict[str, Any]
    mode: str  # "incremental" | "full" | "snapshot"
    nested: str | None = None
    # A snapshot that may be fetched as independent partitions, one per site, side by side:
    # the filter that takes one site id. The sync engine lists the sites.
    partition: str | None = None
    # Records per request. A page is held whole while it is decoded and written, and the next
    # one is on its way meanwhile, so pages of big records are kept to a few hundred (see
    # ``PAGE_BYTES``): peak memory then stays the same however many pages a console has.
    page_size: int = PAGE_SIZE


# About how many bytes of JSON a page should hold: a thousand risks are 0.6 MB, a thousand
# agents 3.5 MB, a thousand threats 5 MB. Connectors size their pages to about this.
PAGE_BYTES = 1_500_000


def page_size(record_bytes: int, most: int = PAGE_SIZE) -> int:
    """Records per page for records of about ``record_bytes`` each: ``PAGE_BYTES`` worth, at
    least 100 (fewer would spend the rate limit on round trips), at most the API's 1000."""
    return max(100, min(most, PAGE_BYTES // record_bytes))


@dataclass(slots=True)
class Batch:
    assets: list[AssetRow] = field(default_factory=list)
    findings: list[FindingRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class Connector(Protocol):
    name: str

    def plan(self, checkpoint: dict[str, Any] | None, *, full: bool, ctx: Context) -> Plan: ...

    def transform(self, items: list[msgspec.Raw], ctx: Context) -> Batch: ...

    def page_checkpoint(
        self, checkpoint: dict[str, Any] | None, batch: Batch, plan: Plan, ctx: Context
    ) -> dict[str, Any] | None: ...

    def final_checkpoint(
        self, checkpoint: dict[str, Any] | None, plan: Plan, complete: bool, ctx: Context
    ) -> dict[str, Any] | None: ...


LAG = timedelta(seconds=60)


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def fmt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def capped_bookmark(previous: str | None, seen: list[str | None], now: str) -> str | None:
    """The next ``updatedAt__gte`` bookmark: the newest timestamp seen, but never later than the
    run's start minus a small lag (records written late with an earlier timestamp are then
    read again next run, not lost; re-reads are de-duplicated by key)."""
    newest = max((s for s in seen if s), default=None)
    if newest is None:
        return previous
    if newest > now:
        log.warning(
            "a record was updated at %s, after the run began (%s): kept, but the checkpoint "
            "stays at the run's start",
            newest[:19],
            now[:19],
        )
    cap = fmt(parse(now) - LAG)
    bookmark = min(newest, cap)
    if previous is not None and bookmark < previous:
        return previous
    return bookmark


def normalise_page(
    items: list[msgspec.Raw],
    decode: Callable[[msgspec.Raw], Any],
    to_row: Callable[[Any, msgspec.Raw, Context], R],
    ctx: Context,
    connector: str,
) -> tuple[list[R], list[Rejected]]:
    """Each raw record through ``decode`` and ``to_row``. A record that cannot be normalised
    is kept aside with its reason, never dropped, and the rest of the page goes on."""
    rows: list[R] = []
    rejected: list[Rejected] = []
    for raw in items:
        try:
            if bytes(raw).find(_NUL_ESCAPE) >= 0:
                refuse_nul(raw)
            rows.append(to_row(decode(raw), raw, ctx))
        except msgspec.DecodeError as exc:
            # msgspec's words for a lone surrogate ("Input data was truncated") mislead.
            reason = f"the record is not valid JSON ({exc})"
            rejected.append(reject(ctx, connector, raw, peek_id(raw), reason))
        except (msgspec.ValidationError, Malformed) as exc:
            rejected.append(reject(ctx, connector, raw, peek_id(raw), str(exc)))
        except RecursionError:
            reason = "the record is nested too deeply to be read"
            rejected.append(reject(ctx, connector, raw, peek_id(raw), reason))
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            # A value of a type no normaliser expected: that record alone is kept aside.
            reason = f"the record could not be normalised ({type(exc).__name__}: {exc})"
            rejected.append(reject(ctx, connector, raw, peek_id(raw), reason[:300]))
    return rows, rejected


_NUL_ESCAPE = b"\\u0000"
_LEADING_ID = re.compile(rb'\s*\{\s*"id"\s*:\s*"?(\d{1,40})"?\s*[,}]')


def refuse_nul(raw: msgspec.Raw) -> None:
    """A NUL in any string of the record rejects it, on every backend alike: PostgreSQL can
    hold NUL neither in text nor in jsonb, and a NUL in a name or path is never data. (The
    bytes matched may be an escaped backslash followed by "u0000": decoded, that holds none.)"""
    if _holds_nul(msgspec.json.decode(raw)):
        raise Malformed("a text field holds a NUL character")


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def bookmark_checkpoint(
    checkpoint: dict[str, Any] | None, seen: list[str | None], ctx: Context
) -> dict[str, Any]:
    """The checkpoint after a page of an ``updatedAt``-sorted walk."""
    cp = dict(checkpoint or {})
    bookmark = capped_bookmark(cp.get("updated_at"), seen, ctx.now)
    if bookmark is not None:
        cp["updated_at"] = bookmark
    return cp


def peek_id(raw: msgspec.Raw) -> Any:
    """The ``id`` of a record that would not decode, if it has one, for the rejection."""
    try:
        obj = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        # Unreadable as a whole: an id at the head of the record still says which it was.
        found = _LEADING_ID.match(bytes(raw)[:200])
        return found.group(1).decode() if found else None
    return obj.get("id") if isinstance(obj, dict) else None


def reject(ctx: Context, connector: str, raw: msgspec.Raw, source_id: Any, reason: str) -> Rejected:
    sid = (
        source_id
        if isinstance(source_id, str)
        else (str(source_id) if isinstance(source_id, int) else None)
    )
    return Rejected(console=ctx.console, connector=connector, source_id=sid, reason=reason, raw=raw)
