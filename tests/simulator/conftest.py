"""The console under test: the simulator over real HTTP, or — when S1_URL and S1_API_TOKEN
are set — a real console, for the read-only checks marked ``realconsole`` (the others skip)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest

from s1uvm.simulator import Console, SimConfig, SimulatorServer

EPOCH = 1_780_000_000_000_000  # 2026-05-28T20:26:40Z: fixed, so timestamps are reproducible


@dataclass
class Target:
    url: str
    token: str
    sim: Console | None

    def client(self, token: str | None = None) -> httpx2.Client:
        return httpx2.Client(
            base_url=f"{self.url}/web/api/v2.1",
            timeout=30,
            headers={"Authorization": f"ApiToken {token or self.token}"},
        )

    def need_sim(self) -> Console:
        if self.sim is None:
            pytest.skip("needs the simulator (S1_URL points at a real console)")
        return self.sim


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    url, token = os.environ.get("S1_URL"), os.environ.get("S1_API_TOKEN")
    if url and token:
        yield Target(url.rstrip("/"), token, None)
        return
    console = Console(SimConfig(seed=3, agents=240, epoch_us=EPOCH))
    with SimulatorServer(console) as server:
        yield Target(server.url, console.token, console)


@pytest.fixture
def api(target: Target) -> Iterator[httpx2.Client]:
    with target.client() as client:
        yield client
