"""Client-side pacing, on a fake clock: per-endpoint buckets, sharing, slow-down after 429."""

from __future__ import annotations

import threading

import pytest

from s1uvm.s1 import RateLimiter, shared_limiter
from s1uvm.s1._ratelimit import RECOVER_AFTER, endpoint_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/threats", "/threats"),
        ("/agents", "/agents"),
        ("/agents/count", "/agents"),
        ("/application-management/risks", "/application-management/risks"),
        ("/user", "/user"),
        ("/users/api-token-details", "/users"),
        ("/system/info", "/system/info"),
    ],
)
def test_paths_map_to_the_published_limits(path: str, key: str) -> None:
    assert endpoint_of(path) == key


def test_requests_are_spaced_at_the_endpoint_rate_after_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(50 + 100):  # /threats: burst 50, then 10/s
        limiter.acquire("/threats")
    assert clock.now - start == pytest.approx(100 / 10.0, rel=0.01)
    start = clock.now
    for _ in range(26):  # /agents: burst 1, 25/s
        limiter.acquire("/agents")
    assert clock.now - start == pytest.approx(25 / 25.0, rel=0.01)


def test_a_429_halves_the_rate_and_successes_restore_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert limiter.rate("/threats") == 10.0
    limiter.throttled("/threats")
    assert limiter.rate("/threats") == 5.0
    limiter.throttled("/threats")
    assert limiter.rate("/threats") == 2.5
    for _ in range(RECOVER_AFTER * 10):
        limiter.success("/threats")
    assert limiter.rate("/threats") == 10.0
    assert limiter.rate("/agents") == 25.0  # other endpoints untouched


def test_connectors_with_one_token_share_one_budget() -> None:
    assert shared_limiter("abc") is shared_limiter("abc")
    assert shared_limiter("abc") is not shared_limiter("def")


def test_threads_never_exceed_the_budget() -> None:
    clock = FakeClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.now += seconds

    limiter = RateLimiter(limits={"/x": (100.0, 10.0)}, clock=clock, sleep=sleep)
    granted: list[float] = []

    def worker() -> None:
        for _ in range(50):
            limiter.acquire("/x")
            with lock:
                granted.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 200
    # 200 tokens at 100/s with a burst of 10 need at least 1.9 s of (fake) time.
    assert max(granted) - 1000.0 >= 1.9 - 1e-9
