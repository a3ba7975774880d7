"""Cursor pagination (s1-api.md §4): the same filters on every page plus ``cursor``, pages of
1000, and the loop guards real consoles need. A walk says how it ended, so a caller can tell a
complete walk (the last page said so) from one that had to stop early."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from s1uvm.s1._errors import Body, RunawayWalk
from s1uvm.s1._salvage import Unsplittable, split_page

if TYPE_CHECKING:
    from s1uvm.s1._client import S1Client

log = logging.getLogger("s1uvm.s1")

PAGE_SIZE = 1000
MAX_EMPTY_WITH_CURSOR = 3  # consecutive empty pages that still have a cursor, followed
MAX_REPEATS = 3  # consecutive repeats of one cursor, asked again before giving up
# Pages a walk may take beyond those its announced total needs: records added while it walks
# (and empty pages some consoles send) make a few more. Past that, or past the absolute cap
# when the console announces no total, a console handing out a fresh cursor on every page
# would be followed forever.
PAGE_MARGIN = 1.25
EXTRA_PAGES = 10
MAX_PAGES = 20_000  # 20 million records at the API's 1000 a page


class _Pagination(msgspec.Struct):
    nextCursor: str | None = None
    totalItems: int | None = None


class _ListEnvelope(msgspec.Struct):
    data: list[msgspec.Raw] | None = None
    pagination: _Pagination | None = None


class _SitesData(msgspec.Struct):
    sites: list[msgspec.Raw] | None = None


class _SitesEnvelope(msgspec.Struct):
    data: _SitesData | None = None
    pagination: _Pagination | None = None


@dataclass(slots=True)
class Page:
    """One page: each record's raw JSON bytes, and where the walk stands."""

    items: list[msgspec.Raw]
    cursor: str | None  # the cursor that fetched this page (None for the first)
    next_cursor: str | None
    total: int | None

    @property
    def size(self) -> int:
        """Bytes of raw JSON the page holds (what read-ahead budgets)."""
        return sum(map(len, self.items))


def decode_page(body: Body, nested: str | None = None) -> tuple[list[msgspec.Raw], _Pagination]:
    """A list page's records (raw) and pagination. A record no decoder can read (nested too
    deep, a lone surrogate) would make the whole envelope unreadable, on every run: then the
    records are split apart by structure (``_salvage``), each to be decoded, or rejected, alone."""
    try:
        return _decode_envelope(body, nested)
    except (msgspec.DecodeError, RecursionError) as exc:
        failure: BaseException = exc
    try:
        items, rest = split_page(body, nested)
        _, pagination = _decode_envelope(rest, nested)
    except (Unsplittable, msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        if isinstance(failure, RecursionError):
            raise msgspec.DecodeError("JSON is nested too deeply") from None
        raise failure from None
    log.warning("a page held a record that could not be read; the others are kept")
    return items, pagination


def _decode_envelope(body: Body, nested: str | None) -> tuple[list[msgspec.Raw], _Pagination]:
    if nested == "sites":
        sites = msgspec.json.decode(body, type=_SitesEnvelope)
        items = (sites.data.sites if sites.data else None) or []
        return items, sites.pagination or _Pagination()
    env = msgspec.json.decode(body, type=_ListEnvelope)
    return env.data or [], env.pagination or _Pagination()


@dataclass(slots=True)
class Walk:
    """Iterate to get pages. After iteration ``end`` is ``last-page`` (complete),
    ``empty-page`` or ``repeated-cursor`` (the console stopped making progress)."""

    client: S1Client
    path: str
    params: dict[str, Any]
    limit: int = PAGE_SIZE
    cursor: str | None = None  # resume here (a checkpointed cursor)
    nested: str | None = None  # "sites": the list sits under data.sites
    end: str | None = None
    pages: int = 0
    records: int = 0
    total: int | None = None
    max_pages: int = MAX_PAGES
    _seen: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return self.end == "last-page"

    @property
    def page_bound(self) -> int:
        """The most pages this walk may take: its announced total's pages with a margin."""
        if self.total is None:
            return self.max_pages
        needed = math.ceil(self.total * PAGE_MARGIN / max(1, self.limit)) + EXTRA_PAGES
        return min(self.max_pages, needed)

    def _check_runaway(self) -> None:
        """Before following one more cursor."""
        if self.pages < self.page_bound:
            return
        announced = (
            f"it announced {self.total:,} records"
            if self.total is not None
            else "it announced no total"
        )
        raise RunawayWalk(
            f"GET {self.path}: the console still handed out a next cursor after {self.pages:,} "
            f"pages ({announced}, {self.limit:,} a page); stopped — the console is broken or "
            "not a SentinelOne console",
            endpoint=self.path,
        )

    def __iter__(self) -> Iterator[Page]:
        cursor = self.cursor
        empties = repeats = 0
        while True:
            params = dict(self.params, limit=self.limit)
            if cursor:
                params["cursor"] = cursor
            items, pagination = self.client.get(
                self.path, params, decode=lambda b: decode_page(b, self.nested)
            )
            if len(items) > self.limit and not self.nested:
                # A page holds at most what was asked for; more is a console that is broken
                # or hostile (thousands of tiny records would each become a row or a reject).
                raise RunawayWalk(
                    f"GET {self.path}: the console sent {len(items):,} records for a page of "
                    f"at most {self.limit:,}; stopped — the console is broken or not a "
                    "SentinelOne console",
                    endpoint=self.path,
                )
            nxt = pagination.nextCursor or None  # null, missing and "" all end the walk
            if pagination.totalItems is not None and self.total is None:
                self.total = pagination.totalItems
            self.pages += 1
            if items:
                empties = 0
                self.records += len(items)
                yield Page(items, cursor, nxt, pagination.totalItems)
            if nxt is None:
                self.end = "last-page"
                return
            self._check_runaway()
            if not items:
                # An empty page that still carries a cursor: some consoles send one at the
                # end, some mid-walk; follow it a little before calling the walk stuck.
                empties += 1
                if empties > MAX_EMPTY_WITH_CURSOR:
                    log.warning(
                        "%s: %d empty pages that still had a cursor; stopping", self.path, empties
                    )
                    self.end = "empty-page"
                    return
                cursor = nxt
                continue
            if nxt == cursor or nxt in self._seen:
                repeats += 1
                log.warning(
                    "%s: the console repeated a cursor%s",
                    self.path,
                    "; asking again" if repeats <= MAX_REPEATS else "; stopping",
                )
                if repeats > MAX_REPEATS:
                    self.end = "repeated-cursor"
                    return
                continue  # ask for the same cursor once more
            repeats = 0
            if cursor:
                self._seen.add(cursor)
            cursor = nxt
