"""Backoff grows, is capped, is jittered, and defers to Retry-After."""

from __future__ import annotations

import logging
import random

import pytest

from s1uvm.s1 import RetryPolicy
from s1uvm.s1._retry import BASE_ENV, _parse_base, parse_retry_after


def test_backoff_grows_exponentially_within_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0, rng=random.Random(3))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        waits = [policy.delay(attempt, None) for _ in range(200)]
        assert min(waits) >= ceiling / 2
        assert max(waits) <= ceiling
        assert len({round(w, 6) for w in waits}) > 100  # jittered, not a fixed step


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0, retry_after_cap=60.0)
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(5, 0.0) == 0.0
    assert policy.delay(1, 3600.0) == 60.0


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("-3") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_the_first_backoff_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(BASE_ENV, raising=False)
    assert RetryPolicy().base == 0.5
    monkeypatch.setenv(BASE_ENV, "0.01")
    policy = RetryPolicy(rng=random.Random(1))
    assert policy.base == 0.01
    # Six tries wait five times: at most 0.01 + 0.02 + 0.04 + 0.08 + 0.16 seconds in all.
    assert 0.155 <= sum(policy.delay(n, None) for n in range(1, 6)) <= 0.31
    for bad in ("soon", "0", "-1", "61", "nan"):
        monkeypatch.setenv(BASE_ENV, bad)
        _parse_base.cache_clear()  # the warning is once per value and process
        with caplog.at_level(logging.WARNING, logger="s1uvm.s1._retry"):
            caplog.clear()
            assert RetryPolicy().base == 0.5
        assert [r.getMessage() for r in caplog.records] == [
            f"{BASE_ENV}={bad!r} is not a number of seconds in (0, 60]; using 0.5"
        ]
