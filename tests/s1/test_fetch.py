"""Fetching ahead and side by side: the same pages as a plain walk, each once; errors raised in the
caller's thread after the pages before them; pages prepared (transformed) in a thread of their
own; read-ahead bounded in bytes; and an early stop that leaves no thread running. Against the
simulated console over real HTTP."""

from __future__ import annotations

import threading
import time

import msgspec
import pytest

from s1uvm.s1 import Fetcher, Page, RequestRejected, S1Client, Walk, site_ids
from s1uvm.simulator import Console

RISKS = "/application-management/risks"


def ids(pages: list[list[msgspec.Raw]]) -> list[str]:
    return [msgspec.json.decode(r)["id"] for page in pages for r in page]


def test_one_walk_fetched_ahead_keeps_its_order(client: S1Client) -> None:
    plain = ids([p.items for p in Walk(client, "/agents", {}, limit=7)])
    walk = Walk(client, "/agents", {}, limit=7)
    fetched = Fetcher([walk], workers=3)
    assert ids([p.items for p in fetched]) == plain
    assert fetched.complete and fetched.end == "last-page"
    assert fetched.total == len(plain)


def test_pages_are_prepared_off_the_callers_thread_in_walk_order(client: S1Client) -> None:
    plain = ids([p.items for p in Walk(client, "/agents", {}, limit=7)])
    caller = threading.get_ident()

    def prepare(page: Page) -> tuple[int, list[str]]:
        return threading.get_ident(), ids([page.items])

    got = list(Fetcher([Walk(client, "/agents", {}, limit=7)], workers=2, prepare=prepare))
    assert [i for _, chunk in got for i in chunk] == plain
    assert caller not in {thread for thread, _ in got}


def test_an_error_in_prepare_is_raised_in_the_caller(client: S1Client) -> None:
    def prepare(page: Page) -> int:
        raise ValueError("cannot prepare this page")

    with pytest.raises(ValueError, match="cannot prepare"):
        list(Fetcher([Walk(client, "/agents", {}, limit=7)], prepare=prepare))


def test_site_partitions_cover_the_snapshot_once(client: S1Client, console: Console) -> None:
    sites = site_ids(client)
    assert len(sites) >= 2
    whole = ids([p.items for p in Walk(client, RISKS, {}, limit=100)])
    walks = [Walk(client, RISKS, {"siteIds": s}, limit=100) for s in sites]
    got = ids([p.items for p in Fetcher(walks, workers=3)])
    assert sorted(got) == sorted(whole) and len(got) == len(set(got))


def test_an_error_comes_after_the_pages_before_it(client: S1Client) -> None:
    good = Walk(client, "/agents", {}, limit=50)
    bad = Walk(client, "/agents", {"sortBy": "nonsense"}, limit=50)
    seen: list[int] = []

    def consume() -> None:
        for page in Fetcher([good, bad], workers=1):  # one thread: good's pages, then bad
            seen.append(len(page.items))

    with pytest.raises(RequestRejected):
        consume()
    assert sum(seen) == good.records > 0
    assert not bad.complete


def _settle(walk: Walk) -> int:
    """The walk's page count once it has stopped moving (the fetcher ran as far as it may)."""
    last = -1
    while walk.pages != last:
        last = walk.pages
        time.sleep(0.3)
    return last


@pytest.mark.parametrize("pages_ahead", [1, 3])
def test_read_ahead_is_bounded_in_bytes(client: S1Client, pages_ahead: int) -> None:
    params = {"isDecommissioned": "true,false"}
    size = next(iter(Walk(client, "/agents", params, limit=2))).size
    walk = Walk(client, "/agents", params, limit=2)
    # Room for a little less than ``pages_ahead`` pages: the last one that starts still fits.
    fetched = Fetcher([walk], workers=1, ahead=int((pages_ahead - 0.5) * size))
    pages = iter(fetched)
    next(pages)
    assert _settle(walk) == 1 + pages_ahead  # the page taken and those waiting
    next(pages)  # taking one makes room for one more
    assert _settle(walk) == 2 + pages_ahead
    pages.close()


def test_read_ahead_grows_with_the_walks_running_side_by_side(client: S1Client) -> None:
    """Each walk has one request in flight, so partitions fetched in parallel get room for a
    page each: with two walks, twice what one would be allowed."""
    params = {"isDecommissioned": "true,false"}
    size = next(iter(Walk(client, "/agents", params, limit=2))).size
    walks = [Walk(client, "/agents", params, limit=2) for _ in range(2)]
    fetched = Fetcher(walks, workers=2, ahead=int(3.5 * size))
    pages = iter(fetched)
    try:
        next(pages)
        time.sleep(0.3)
        for w in walks:
            _settle(w)
        fetched_pages = sum(w.pages for w in walks)
        # Room for 7 pages waiting (each walk may start one more while the other's is on its
        # way); one bound shared by both would have stopped them at 3 + 2.
        assert 1 + 7 <= fetched_pages <= 1 + 7 + 2, fetched_pages
    finally:
        pages.close()


def test_pages_read_ahead_wait_as_json_and_only_the_next_is_prepared(client: S1Client) -> None:
    """Rows take more memory than their JSON: one page is prepared ahead of the caller, the
    others read ahead wait unprepared."""
    params = {"isDecommissioned": "true,false"}
    size = next(iter(Walk(client, "/agents", params, limit=2))).size
    walk = Walk(client, "/agents", params, limit=2)
    prepared: list[Page] = []

    def prepare(page: Page) -> Page:
        prepared.append(page)
        return page

    fetched = Fetcher([walk], workers=1, ahead=int(3.5 * size), prepare=prepare)
    pages = iter(fetched)
    try:
        next(pages)
        assert _settle(walk) == 1 + 4  # the page taken and four read ahead …
        assert len(prepared) == 2  # … of which only the next one is prepared
        next(pages)
        time.sleep(0.3)
        assert len(prepared) == 3
    finally:
        pages.close()


def test_an_early_stop_ends_the_threads(client: S1Client) -> None:
    walk = Walk(client, "/agents", {"isDecommissioned": "true,false"}, limit=2)
    fetched = Fetcher([walk], workers=1, ahead=1)
    pages = iter(fetched)
    next(pages)
    time.sleep(0.3)
    before = threading.active_count()
    pages.close()  # the caller stops early (a break, a SIGTERM)
    deadline = time.monotonic() + 5
    while any(t.name.startswith("fetch-") and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a fetch thread outlived close()"
        time.sleep(0.05)
    assert threading.active_count() <= before
    assert not fetched.complete
