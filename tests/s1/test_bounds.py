"""Bounds on every response, against a hostile simulated console over real HTTP: a gzip bomb,
a body that never ends, a body that trickles, a fresh cursor on every page. Each is refused
with one line, within the bound, and never retried into a longer stall."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from s1uvm.s1 import (
    ApiToken,
    Body,
    Bounds,
    DeadlineExceeded,
    Page,
    RateLimiter,
    ResponseTooLarge,
    RetryPolicy,
    RunawayWalk,
    S1Client,
    Walk,
)
from s1uvm.s1._bounds import MIB, BodyReader
from s1uvm.s1._errors import LimitError, MalformedResponse
from s1uvm.simulator import Console, SimConfig, SimulatorServer
from s1uvm.simulator.hostile import gzip_bomb

EPOCH = 1_780_000_000_000_000


def as_json(body: Body) -> Any:
    return json.loads(body)


@pytest.fixture
def hostile() -> Iterator[tuple[Console, SimulatorServer]]:
    console = Console(SimConfig(seed=5, agents=60, epoch_us=EPOCH, trickle_seconds=0.05))
    with SimulatorServer(console) as server:
        yield console, server


def client_for(server: SimulatorServer, console: Console, bounds: Bounds) -> S1Client:
    return S1Client(
        server.url,
        ApiToken(console.token),
        limiter=RateLimiter(),
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.01),
        bounds=bounds,
    )


def test_the_bomb_is_a_valid_gzip_of_its_announced_size() -> None:
    bomb = gzip_bomb(8)
    assert len(bomb) < 16 * 1024
    assert gzip.decompress(bomb) == bytes(8 * MIB)


def test_a_gzip_bomb_stops_at_the_bound(hostile: tuple[Console, SimulatorServer]) -> None:
    console, server = hostile
    console.set_faults("gzip-bomb:1.0:agents")
    with client_for(server, console, Bounds(max_body=4 * MIB)) as client:
        with pytest.raises(ResponseTooLarge) as info:
            client.get("/agents", {"limit": 10}, decode=as_json)
        assert client.stats.requests == 1, "never retried"
    message = str(info.value)
    assert "\n" not in message
    assert "larger than 4 MiB once decompressed" in message
    assert "S1UVM_MAX_RESPONSE_MB" in message


def test_a_compressed_page_within_the_bound_is_read() -> None:
    body = json.dumps({"data": [{"id": "1"}], "pagination": {"nextCursor": None}}).encode()
    reader = BodyReader(Bounds(max_body=MIB), "test", 0.0, clock=lambda: 0.0)
    packed = gzip.compress(body)
    chunks = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    assert bytes(reader.read(chunks, "gzip", None)) == body
    assert bytes(reader.read([zlib.compress(body)], "deflate", None)) == body
    with pytest.raises(MalformedResponse, match="'br', which was not asked for"):
        reader.read([body], "br", None)
    with pytest.raises(MalformedResponse, match="corrupt"):
        reader.read([packed[:10] + b"\xff\xff\xff\xff"], "gzip", None)
    with pytest.raises(MalformedResponse, match="ended early"):
        reader.read([packed[:-12]], "gzip", None)


def test_an_endless_body_stops_at_the_bound(hostile: tuple[Console, SimulatorServer]) -> None:
    console, server = hostile
    console.set_faults("endless-body:1.0:agents")
    with client_for(server, console, Bounds(max_body=2 * MIB)) as client:
        with pytest.raises(ResponseTooLarge, match=r"larger than 2 MiB \(its body did not end\)"):
            client.get("/agents", {"limit": 10}, decode=as_json)
        assert client.stats.requests == 1


def test_a_length_beyond_the_bound_is_refused_before_reading() -> None:
    reader = BodyReader(Bounds(max_body=MIB), "https://x: GET /agents", 0.0)
    with pytest.raises(ResponseTooLarge, match="by its Content-Length"):
        reader.announced(str(MIB + 1))
    assert reader.announced(str(MIB)) == MIB
    assert reader.announced("junk") is None


def test_a_trickling_body_stops_at_the_deadline(
    hostile: tuple[Console, SimulatorServer],
) -> None:
    console, server = hostile
    console.set_faults("slow-body:1.0:system/info")
    # Every byte arrives well within the read timeout; only the deadline ends it.
    with client_for(server, console, Bounds(deadline=0.5)) as client:
        with pytest.raises(DeadlineExceeded) as info:
            client.get("/system/info", decode=as_json)
        assert client.stats.requests == 1
    assert str(info.value) == (
        f"{server.url}: GET /system/info took longer than 0.5 s in all (the console kept the "
        "answer trickling); check the console, or raise S1UVM_REQUEST_DEADLINE"
    )


def test_a_fresh_cursor_on_every_page_stops_at_the_announced_total(
    hostile: tuple[Console, SimulatorServer],
) -> None:
    console, server = hostile
    console.set_faults("fresh-cursor:1.0:agents")
    with client_for(server, console, Bounds()) as client:
        walk = Walk(client, "/agents", {}, limit=20)
        pages: list[Page] = []
        with pytest.raises(RunawayWalk) as info:
            pages.extend(walk)
    # 59 agents (the decommissioned one is not listed) at 20 a page: 3 pages, 4 with the
    # margin, plus 10 more.
    assert walk.total == 59
    assert walk.page_bound == 14
    assert len(pages) == walk.pages == 14
    assert str(info.value).startswith(
        "GET /agents: the console still handed out a next cursor after 14 pages "
        "(it announced 59 records, 20 a page)"
    )


def test_without_a_total_the_absolute_cap_stops_a_walk(
    hostile: tuple[Console, SimulatorServer],
) -> None:
    console, server = hostile
    console.set_faults("fresh-cursor:1.0:agents")
    with client_for(server, console, Bounds()) as client:
        walk = Walk(client, "/agents", {"skipCount": "true"}, limit=20, max_pages=7)
        with pytest.raises(RunawayWalk, match=r"after 7 pages \(it announced no total"):
            list(walk)
    assert walk.total is None


def test_a_clean_walk_is_untouched_by_the_bound(
    hostile: tuple[Console, SimulatorServer],
) -> None:
    console, server = hostile
    with client_for(server, console, Bounds()) as client:
        walk = Walk(client, "/agents", {}, limit=20)
        assert sum(len(p.items) for p in walk) == 59
    assert walk.complete and walk.pages == 3


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Bounds()),
        ({"S1UVM_MAX_RESPONSE_MB": "128", "S1UVM_REQUEST_DEADLINE": "30"}, Bounds(128 * MIB, 30)),
        ({"S1UVM_MAX_RESPONSE_MB": " "}, Bounds()),
    ],
)
def test_bounds_from_the_environment(env: dict[str, str], expected: Bounds) -> None:
    assert Bounds.from_env(env) == expected


@pytest.mark.parametrize("value", ["0", "-1", "lots", "inf", "nan"])
def test_a_bound_that_is_not_a_positive_number_is_a_usage_error(value: str) -> None:
    with pytest.raises(LimitError) as info:
        Bounds.from_env({"S1UVM_REQUEST_DEADLINE": value})
    assert str(info.value) == (
        f"S1UVM_REQUEST_DEADLINE={value!r} is not a positive number; unset it or give e.g. 128"
    )


def test_a_page_with_more_records_than_asked_for_stops_the_walk() -> None:
    """Thousands of tiny records in one page would each become a row or a reject: a console
    that sends more than the page's limit is stopped at once."""
    import http.server
    import threading

    from s1uvm.s1 import ApiToken, RateLimiter, RunawayWalk, Walk

    class Flood(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"data": [{"id": str(i)} for i in range(50)], "pagination": {"nextCursor": None}}
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flood)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with S1Client(url, ApiToken("t" * 30), limiter=RateLimiter()) as client:
            with pytest.raises(RunawayWalk, match="50 records for a page of at most 10"):
                list(Walk(client, "/agents", {}, limit=10))
            assert len(next(iter(Walk(client, "/agents", {}, limit=50))).items) == 50
    finally:
        server.shutdown()
