"""The console the simulator's contract suite talks to, always over real HTTP.

By default that is the simulator, served by uvicorn on 127.0.0.1. With ``S1_URL`` and
``S1_API_TOKEN`` set it is a real SentinelOne console instead: the read-only checks marked
``realconsole`` then test *our assumptions* against it, and everything that needs the
simulator's controls (``/_sim``, extra tokens, faults, rate limits, exact counts) is skipped.

    S1_URL=https://usea1-xyz.sentinelone.net S1_API_TOKEN=... \\
        pytest tests/simulator -m realconsole
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from s1uvm.simulator import Console, SimConfig, SimulatorServer, TokenSpec

EPOCH = 1_780_000_000_000_000  # 2026-05-28T20:26:40Z: fixed, so timestamps are reproducible
PREFIX = "/web/api/v2.1"
REAL_URL = os.environ.get("S1_URL", "").strip().rstrip("/")
REAL_TOKEN = os.environ.get("S1_API_TOKEN", "").strip()
REAL = bool(REAL_URL and REAL_TOKEN)
NEEDS_SIM = "needs the simulator's controls (S1_URL points the suite at a real console)"


class _PatientTransport(httpx2.HTTPTransport):
    """Against a real console the suite must not trip its rate limits into failures: a 429 is
    retried after Retry-After (bounded), as any well-behaved client would."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        for _ in range(5):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.close()
            try:
                wait = float(response.headers.get("retry-after", "1"))
            except ValueError:
                wait = 1.0
            time.sleep(min(max(wait, 0.1), 10.0))
        return super().handle_request(request)


@dataclass
class ConsoleUnderTest:
    """Where the suite sends requests, and the simulator behind it (None on a real console)."""

    url: str  # scheme://host:port, without the API prefix
    token: str
    sim: Console | None
    ca_bundle: str | None = None  # the simulator's private CA when served with TLS

    def client(self, token: str | None = None, timeout: float = 30) -> httpx2.Client:
        """A client for the v2.1 API with ``token`` (default: the suite's own)."""
        verify: ssl.SSLContext | bool = True
        if self.ca_bundle:
            verify = ssl.create_default_context(cafile=self.ca_bundle)
        return httpx2.Client(
            base_url=f"{self.url}{PREFIX}",
            timeout=timeout,
            verify=verify,
            headers={"Authorization": f"ApiToken {token or self.token}"},
            transport=_PatientTransport(verify=verify) if self.sim is None else None,
        )

    def need_sim(self) -> Console:
        """The simulator, or skip: the caller asserts what only the simulator guarantees."""
        if self.sim is None:
            pytest.skip(NEEDS_SIM)
        return self.sim

    def scoped_token(self, scope: str, scope_id: str | None = None) -> TokenSpec:
        """A fresh simulator token scoped to an account or a site (the first one by default)."""
        return self.need_sim().add_token(TokenSpec(scope=scope, scope_id=scope_id))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A bare ``pytest`` runs the fast tier: the ``system`` suites take minutes, so they run
    when asked for — by ``-m`` (``-m system``, or ``-m "system or not system"`` for both), or
    by naming their files or tests on the command line."""
    if config.option.markexpr or config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    system = [item for item in items if item.get_closest_marker("system") is not None]
    if system:
        config.hook.pytest_deselected(items=system)
        items[:] = [item for item in items if item.get_closest_marker("system") is None]


@pytest.fixture(scope="session")
def console() -> Iterator[ConsoleUnderTest]:
    """One console shared by the read-only checks: they never change it (tokens aside)."""
    if REAL:
        yield ConsoleUnderTest(REAL_URL, REAL_TOKEN, None)
        return
    sim = Console(SimConfig(seed=3, agents=240, epoch_us=EPOCH))
    with SimulatorServer(sim) as server:
        yield ConsoleUnderTest(server.url, sim.token, sim)


@pytest.fixture
def s1(console: ConsoleUnderTest) -> Iterator[httpx2.Client]:
    """An HTTP client for the shared console, with the suite's token."""
    with console.client() as client:
        yield client


Serve = Callable[..., ConsoleUnderTest]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start private simulators (``serve(SimConfig(...), tls=False)``) for tests that change
    the world, faults or limits; all are stopped at teardown. Skips on a real console."""
    if REAL:
        pytest.skip(NEEDS_SIM)
    with ExitStack() as stack:

        def start(config: SimConfig, tls: bool = False) -> ConsoleUnderTest:
            sim = Console(config)
            server = stack.enter_context(SimulatorServer(sim, tls=tls))
            return ConsoleUnderTest(server.url, sim.token, sim, server.ca_bundle)

        yield start


# -- helpers shared by the contract modules ---------------------------------------------------


def items_of(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a list page: ``/sites`` nests them under ``data.sites`` (s1-api.md §3)."""
    data = body["data"]
    records: list[dict[str, Any]] = data["sites"] if path == "/sites" else data
    return records


def walk(client: httpx2.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a cursor walk, re-sending the same filters with each cursor (as every
    consumer does, s1-api.md §4). ``limit`` is the page size (default 100); with ``cap``, stop
    after at least that many records. Both are taken out of ``params``, so filters given as a
    mapping of strings mix freely with them."""
    limit = int(params.pop("limit", 100))
    cap: int | None = params.pop("cap", None)
    if path == "/groups":
        limit = min(limit, 300)  # its own cap (s1-api.md §4)
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100_000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query)
        assert response.status_code == 200, (path, query, response.text)
        body = response.json()
        out += items_of(path, body)
        cursor = body["pagination"]["nextCursor"]
        if not cursor or (cap is not None and len(out) >= cap):
            return out
    raise AssertionError(f"{path}: the walk did not end")


def total(client: httpx2.Client, path: str, **params: Any) -> int:
    """``totalItems`` of a ``countOnly`` request."""
    response = client.get(path, params={**params, "countOnly": "true"})
    assert response.status_code == 200, response.text
    count: int = response.json()["pagination"]["totalItems"]
    return count


def validation_error(response: httpx2.Response) -> str:
    """Assert a 400 Validation Error (code 4000010) and return its detail."""
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == 4000010
    detail: str = error["detail"]
    return detail


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]
