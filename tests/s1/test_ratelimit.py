"""Client-side pacing, on a fake clock: per-endpoint buckets a little under the published
limits, sharing, slow-down after 429; and against a console enforcing those limits, no 429."""

from __future__ import annotations

import threading

import pytest

from s1uvm.s1 import ApiToken, RateLimiter, S1Client, Walk, shared_limiter
from s1uvm.s1._ratelimit import BURST_HEADROOM, RATE_HEADROOM, RECOVER_AFTER, endpoint_of
from s1uvm.simulator import Console, SimConfig, SimulatorServer

PACE = 1.0 - RATE_HEADROOM  # the share of a published rate the client uses


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


def test_requests_are_spaced_just_under_the_endpoint_rate_after_most_of_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    burst = int(50 * (1 - BURST_HEADROOM))  # /threats: burst 50, then 10/s
    start = clock.now
    for _ in range(burst):
        limiter.acquire("/threats")
    assert clock.now == start  # the burst, less the slack left to the console
    for _ in range(100):
        limiter.acquire("/threats")
    assert clock.now - start == pytest.approx(100 / (10.0 * PACE), rel=0.01)
    start = clock.now
    for _ in range(26):  # /agents: burst 1 (kept whole), 25/s
        limiter.acquire("/agents")
    assert clock.now - start == pytest.approx(25 / (25.0 * PACE), rel=0.01)


def test_a_429_halves_the_rate_and_successes_restore_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert limiter.rate("/threats") == pytest.approx(10.0 * PACE)
    limiter.throttled("/threats")
    assert limiter.rate("/threats") == pytest.approx(5.0 * PACE)
    limiter.throttled("/threats")
    assert limiter.rate("/threats") == pytest.approx(2.5 * PACE)
    for _ in range(RECOVER_AFTER * 10):
        limiter.success("/threats")
    assert limiter.rate("/threats") == pytest.approx(10.0 * PACE)
    assert limiter.rate("/agents") == pytest.approx(25.0 * PACE)  # other endpoints untouched


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


def test_a_console_enforcing_the_published_limits_is_never_pushed_to_429() -> None:
    """Past the burst, paced against a console whose buckets match the published table: the
    slack the client leaves absorbs the jitter between its clock and the console's."""
    console = Console(SimConfig(seed=11, agents=150, rate_limits=True))
    with (
        SimulatorServer(console) as server,
        S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as client,
    ):
        walk = Walk(client, "/threats", {}, limit=1)
        pages = sum(1 for _ in walk)
    assert pages > 50  # beyond the console's burst of 50
    assert client.stats.throttled == 0 and client.stats.retries == 0
