"""The client against the simulated console over real HTTP: classification, retries, pacing,
TLS, and the token kept out of every error."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import httpx2
import pytest

from s1uvm.s1 import (
    ApiToken,
    AuthenticationError,
    Body,
    PermissionDenied,
    RateLimiter,
    RequestRejected,
    RetryPolicy,
    S1Client,
    S1Error,
    ServerError,
    TLSError,
    TransportError,
)
from s1uvm.simulator import Console, SimConfig, SimulatorServer, TokenSpec
from tests.s1.conftest import NoSleep


def as_json(body: Body) -> Any:
    return json.loads(body)


def test_reads_an_endpoint(client: S1Client) -> None:
    info = client.get("/system/info", decode=as_json)
    assert info["data"]["version"]
    assert client.stats.requests == 1
    assert client.stats.bytes > 0


def test_wrong_token_is_an_authentication_error_without_the_token(
    server: SimulatorServer,
) -> None:
    secret = "not-a-real-token-0123456789"
    with S1Client(server.url, ApiToken(secret), limiter=RateLimiter()) as c:
        with pytest.raises(AuthenticationError) as info:
            c.get("/threats", decode=as_json)
        assert c.stats.requests == 1  # never retried
    assert info.value.status == 401 and info.value.code == 4010010
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert "expired or revoked" in str(info.value)


def test_site_token_may_not_list_accounts(server: SimulatorServer, console: Console) -> None:
    site = console.add_token(TokenSpec(scope="site"))
    with S1Client(server.url, ApiToken(site.value), limiter=RateLimiter()) as c:
        with pytest.raises(PermissionDenied) as info:
            c.get("/accounts", decode=as_json)
    assert info.value.code == 4030010
    assert "not allowed to site users" in str(info.value)


def test_a_rejected_request_is_not_retried(client: S1Client) -> None:
    with pytest.raises(RequestRejected, match="limit"):
        client.get("/threats", {"limit": 5000}, decode=as_json)
    assert client.stats.requests == 1


@pytest.mark.parametrize("fault", ["503@1-2", "500@1", "502@1-3", "truncate@1", "drop@1-2"])
def test_transient_failures_are_retried_until_success(
    client: S1Client, console: Console, sleeps: NoSleep, fault: str
) -> None:
    console.set_faults(f"{fault}:threats")
    page = client.get("/threats", {"limit": 3}, decode=as_json)
    assert len(page["data"]) == 3
    assert client.stats.retries == len(sleeps.waits) >= 1
    assert client.stats.requests == client.stats.retries + 1


def test_retries_give_up_after_the_policy_attempts(
    server: SimulatorServer, console: Console, sleeps: NoSleep
) -> None:
    console.set_faults("503:1.0:threats")
    with S1Client(
        server.url,
        ApiToken(console.token),
        retry=RetryPolicy(attempts=4, base=0.01),
        limiter=RateLimiter(),
        sleep=sleeps,
    ) as c:
        with pytest.raises(ServerError) as info:
            c.get("/threats", decode=as_json)
        assert c.stats.requests == 4
    assert info.value.status == 503 and info.value.code == 5030010


def test_retry_after_is_honoured_and_the_endpoint_slows_down(
    client: S1Client, console: Console, sleeps: NoSleep
) -> None:
    console.set_faults("429@1-2:threats")
    rate_before = client.limiter.rate("/threats")
    client.get("/threats", decode=as_json)
    assert sleeps.waits == [1.0, 1.0]  # the simulator's Retry-After
    assert client.stats.throttled == 2
    assert client.limiter.rate("/threats") == rate_before / 4


def test_429_without_retry_after_falls_back_to_backoff(sleeps: NoSleep) -> None:
    console = Console(SimConfig(agents=20, retry_after=False, faults="429@1:threats"))
    with (
        SimulatorServer(console) as server,
        S1Client(
            server.url,
            ApiToken(console.token),
            retry=RetryPolicy(base=0.2, cap=0.4),
            limiter=RateLimiter(),
            sleep=sleeps,
        ) as c,
    ):
        c.get("/threats", decode=as_json)
    assert len(sleeps.waits) == 1 and 0.1 <= sleeps.waits[0] <= 0.2


def test_a_response_slower_than_the_timeout_is_retried(sleeps: NoSleep) -> None:
    console = Console(SimConfig(agents=20, slow_seconds=1.5, faults="slow@1:threats"))
    with (
        SimulatorServer(console) as server,
        S1Client(
            server.url,
            ApiToken(console.token),
            timeout=0.3,
            retry=RetryPolicy(base=0.01),
            limiter=RateLimiter(),
            sleep=sleeps,
        ) as c,
    ):
        page = c.get("/threats", {"limit": 1}, decode=as_json)
        assert len(page["data"]) == 1
        assert c.stats.retries == 1


def test_tls_is_verified_and_a_private_ca_is_accepted_when_given() -> None:
    console = Console(SimConfig(agents=10))
    with SimulatorServer(console, tls=True) as server:
        assert server.url.startswith("https://")
        with S1Client(server.url, ApiToken(console.token), limiter=RateLimiter()) as c:
            with pytest.raises(TLSError, match="--ca-bundle") as info:
                c.get("/system/info", decode=as_json)
            assert c.stats.requests == 1  # a certificate failure is never retried
        assert console.token not in str(info.value)
        with S1Client(
            server.url, ApiToken(console.token), ca_bundle=server.ca_bundle, limiter=RateLimiter()
        ) as c:
            assert c.get("/system/info", decode=as_json)["data"]


def test_an_unreachable_host_is_a_transport_error(sleeps: NoSleep) -> None:
    with S1Client(
        "http://127.0.0.1:9",
        ApiToken("x" * 20),
        retry=RetryPolicy(attempts=2),
        limiter=RateLimiter(),
        sleep=sleeps,
        timeout=2,
    ) as c:
        with pytest.raises(TransportError, match=r"cannot reach http://127\.0\.0\.1:9"):
            c.get("/system/info", decode=as_json)
        assert c.stats.requests == 2


def test_an_announced_size_is_not_taken_on_trust(sleeps: NoSleep) -> None:
    """A server that claims a terabyte and sends a few bytes gets a transport error (retried,
    then reported), not a terabyte allocated."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n{}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with (
        listener,
        S1Client(
            f"http://127.0.0.1:{port}",
            ApiToken("x" * 20),
            retry=RetryPolicy(attempts=2),
            limiter=RateLimiter(),
            sleep=sleeps,
            timeout=5,
        ) as c,
        pytest.raises(TransportError),
    ):
        c.get("/system/info", decode=as_json)
    thread.join(5)


def test_redirects_are_not_followed_so_the_token_stays_home() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(302, headers={"Location": "https://evil.example/steal"})

    token = ApiToken("secret-value-123456")
    with S1Client(
        "https://tenant.sentinelone.net",
        token,
        limiter=RateLimiter(),
        transport=httpx2.MockTransport(handler),
    ) as c:
        with pytest.raises(RequestRejected, match="redirected") as info:
            c.get("/threats", decode=as_json)
    assert [r.url.host for r in seen] == ["tenant.sentinelone.net"]
    assert "secret-value" not in str(info.value)


def test_repr_of_the_client_hides_the_token(client: S1Client, console: Console) -> None:
    assert console.token not in repr(client)


def test_every_error_class_is_an_s1error() -> None:
    for cls in (
        AuthenticationError,
        PermissionDenied,
        RequestRejected,
        ServerError,
        TLSError,
        TransportError,
    ):
        assert issubclass(cls, S1Error)
