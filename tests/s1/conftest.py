"""Fixtures for the wire layer: a simulated console over real HTTP and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s1uvm.s1 import ApiToken, RateLimiter, RetryPolicy, S1Client
from s1uvm.simulator import Console, SimConfig, SimulatorServer


class NoSleep:
    """Records the waits a client asks for instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def console() -> Console:
    return Console(SimConfig(seed=11, agents=120, epoch_us=1_780_000_000_000_000))


@pytest.fixture
def server(console: Console) -> Iterator[SimulatorServer]:
    with SimulatorServer(console) as running:
        yield running


@pytest.fixture
def sleeps() -> NoSleep:
    return NoSleep()


@pytest.fixture
def client(server: SimulatorServer, console: Console, sleeps: NoSleep) -> Iterator[S1Client]:
    with S1Client(
        server.url,
        ApiToken(console.token),
        retry=RetryPolicy(base=0.01, cap=0.02),
        limiter=RateLimiter(),
        sleep=sleeps,
        timeout=5,
    ) as c:
        yield c
