"""Page sizes follow the records' size: about ``PAGE_BYTES`` of JSON a page, within the API's
bounds (s1-api.md §4: limit 1–1000); bookmarks never run ahead of the run; threats are read
whole once a day."""

from __future__ import annotations

import logging

import pytest

from s1uvm.connectors.base import PAGE_BYTES, Context, capped_bookmark, page_size
from s1uvm.connectors.threats import ThreatsConnector


def test_a_page_holds_about_page_bytes_of_records() -> None:
    assert page_size(7_000) * 7_000 <= PAGE_BYTES < (page_size(7_000) + 1) * 7_000
    assert page_size(3_500) == PAGE_BYTES // 3_500


def test_small_records_keep_the_api_maximum_and_huge_ones_a_useful_minimum() -> None:
    assert page_size(600) == 1000
    assert page_size(1) == 1000
    assert page_size(10**9) == 100
    assert page_size(50, most=300) == 300  # /groups takes at most 300


def test_a_record_from_the_future_does_not_move_the_bookmark_past_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = "2026-06-01T12:00:00.000000Z"
    with caplog.at_level(logging.WARNING):
        got = capped_bookmark(None, ["2099-01-01T00:00:00.000000Z"], now)
    assert got == "2026-06-01T11:59:00.000000Z"  # the run's start, less the lag
    assert "after the run began" in caplog.text
    # A bookmark already there is never moved back, and a later run moves on normally.
    assert capped_bookmark(got, ["2026-06-01T11:00:00.000000Z"], now) == got
    later = "2026-06-02T12:00:00.000000Z"
    assert capped_bookmark(got, ["2026-06-02T10:00:00.000000Z"], later) == (
        "2026-06-02T10:00:00.000000Z"
    )


def test_threats_are_read_whole_once_a_day_and_incrementally_between() -> None:
    connector = ThreatsConnector()
    ctx = Context("c", "2026-06-02T12:00:00.000000Z")
    first = connector.plan(None, full=False, ctx=ctx)
    assert first.mode == "full"
    done = connector.final_checkpoint(
        {"updated_at": "2099-01-01T00:00:00.000000Z"}, first, True, ctx
    )
    assert done is not None
    assert done["last_full_at"] == ctx.now
    assert done["updated_at"] == "2026-06-02T11:59:00.000000Z"  # a bookmark from the future, undone
    soon = Context("c", "2026-06-02T18:00:00.000000Z")
    assert connector.plan(done, full=False, ctx=soon).mode == "incremental"
    next_day = Context("c", "2026-06-03T12:00:00.000000Z")
    assert connector.plan(done, full=False, ctx=next_day).mode == "full"
    assert connector.plan(done, full=True, ctx=soon).mode == "full"
