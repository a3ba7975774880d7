"""Page sizes follow the records' size: about ``PAGE_BYTES`` of JSON a page, within the API's
bounds (s1-api.md §4: limit 1–1000)."""

from __future__ import annotations

from s1uvm.connectors.base import PAGE_BYTES, page_size


def test_a_page_holds_about_page_bytes_of_records() -> None:
    assert page_size(7_000) * 7_000 <= PAGE_BYTES < (page_size(7_000) + 1) * 7_000
    assert page_size(3_500) == PAGE_BYTES // 3_500


def test_small_records_keep_the_api_maximum_and_huge_ones_a_useful_minimum() -> None:
    assert page_size(600) == 1000
    assert page_size(1) == 1000
    assert page_size(10**9) == 100
    assert page_size(50, most=300) == 300  # /groups takes at most 300
