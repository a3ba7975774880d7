"""Rate limits and injected faults, over real HTTP: what a client sees for each kind."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator

import httpx2
import pytest

from s1uvm.simulator import Console, ConsoleTransport, FaultSpecError, SimConfig, SimulatorServer
from s1uvm.simulator.faults import parse

EPOCH = 1_780_000_000_000_000


@pytest.fixture
def sim() -> Iterator[tuple[Console, httpx2.Client]]:
    console = Console(SimConfig(seed=8, agents=80, epoch_us=EPOCH, slow_seconds=1.5))
    with (
        SimulatorServer(console) as server,
        httpx2.Client(
            base_url=f"{server.url}/web/api/v2.1",
            timeout=5,
            headers={"Authorization": f"ApiToken {console.token}"},
        ) as client,
    ):
        yield console, client


def statuses(client: httpx2.Client, n: int, path: str = "/threats") -> list[int]:
    return [client.get(path, params={"limit": 1}).status_code for _ in range(n)]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("500", 500, 5000010), ("503", 503, 5030010), ("429", 429, 4290010)],
)
def test_error_statuses_carry_an_errors_body(
    sim: tuple[Console, httpx2.Client], kind: str, status: int, code: int
) -> None:
    console, client = sim
    console.set_faults(f"{kind}@1:threats")
    r = client.get("/threats")
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code
    assert client.get("/threats").status_code == 200  # scripted: only the first


def test_502_looks_like_a_gateway_page(sim: tuple[Console, httpx2.Client]) -> None:
    console, client = sim
    console.set_faults("502@1")
    r = client.get("/agents")
    assert r.status_code == 502
    assert r.headers["content-type"].startswith("text/html")


def test_a_dropped_connection_breaks_the_body(sim: tuple[Console, httpx2.Client]) -> None:
    console, client = sim
    console.set_faults("drop@1:threats")
    with pytest.raises(httpx2.TransportError):
        client.get("/threats", params={"limit": 50})
    assert client.get("/threats", params={"limit": 50}).status_code == 200


def test_a_truncated_body_is_not_json(sim: tuple[Console, httpx2.Client]) -> None:
    console, client = sim
    console.set_faults("truncate@1:threats")
    r = client.get("/threats", params={"limit": 20})
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_slow_answers_outlast_the_client_timeout(sim: tuple[Console, httpx2.Client]) -> None:
    console, client = sim
    console.set_faults("slow@1:threats")
    with pytest.raises(httpx2.ReadTimeout):
        client.get("/threats", timeout=0.3)


def test_cursor_faults(sim: tuple[Console, httpx2.Client]) -> None:
    console, client = sim
    first = client.get("/threats", params={"limit": 5}).json()
    cursor = first["pagination"]["nextCursor"]
    console.set_faults("repeat-cursor@1:threats,expire-cursor@2:threats,empty-page@3:threats")
    repeated = client.get("/threats", params={"limit": 5, "cursor": cursor}).json()
    assert repeated["pagination"]["nextCursor"] == cursor
    expired = client.get("/threats", params={"limit": 5, "cursor": cursor})
    assert expired.status_code == 400
    assert expired.json()["errors"][0]["detail"] == "Invalid cursor value received"
    empty = client.get("/threats", params={"limit": 5, "cursor": cursor}).json()
    assert empty["data"] == []
    assert empty["pagination"]["nextCursor"]
    resumed = client.get(
        "/threats", params={"limit": 5, "cursor": empty["pagination"]["nextCursor"]}
    ).json()
    assert [t["id"] for t in resumed["data"]] == [t["id"] for t in repeated["data"]]


def test_fault_rates_are_deterministic_for_a_seed() -> None:
    runs = []
    for _ in range(2):
        console = Console(SimConfig(seed=4, agents=20, faults="500:0.3,503:0.2"))
        with httpx2.Client(
            transport=ConsoleTransport(console),
            base_url="http://s/web/api/v2.1",
            headers={"Authorization": f"ApiToken {console.token}"},
        ) as c:
            runs.append(statuses(c, 40))
    assert runs[0] == runs[1]
    assert {500, 503, 200} <= set(runs[0])


def test_the_in_process_transport_raises_what_a_network_would() -> None:
    console = Console(SimConfig(seed=4, agents=20, faults="drop@1,slow@2", slow_seconds=10))
    with httpx2.Client(
        transport=ConsoleTransport(console),
        base_url="http://s/web/api/v2.1",
        headers={"Authorization": f"ApiToken {console.token}"},
    ) as c:
        with pytest.raises(httpx2.RemoteProtocolError):
            c.get("/threats").read()
        with pytest.raises(httpx2.ReadTimeout):
            c.get("/threats", timeout=0.05)


@pytest.mark.parametrize("spec", ["500", "500:2", "boom:0.1", "500@0", "500@3-1", "500@x"])
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse(spec)


def test_rate_limits_answer_429_with_retry_after() -> None:
    console = Console(SimConfig(seed=4, agents=20, rate_limits=True))
    with (
        SimulatorServer(console) as server,
        httpx2.Client(
            base_url=f"{server.url}/web/api/v2.1",
            headers={"Authorization": f"ApiToken {console.token}"},
        ) as client,
    ):
        agents = statuses(client, 5, "/agents")  # 25/s, burst 1
        assert 429 in agents
        # 10/s with a burst of 50: the first 50 pass at once, then the bucket runs dry.
        threats = [client.get("/threats", params={"limit": 1}) for _ in range(150)]
        assert [r.status_code for r in threats[:50]] == [200] * 50
        limited = [r for r in threats[50:] if r.status_code == 429]
        assert limited
        r = limited[0]
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["errors"][0]["title"] == "Too Many Requests"


def test_429_without_retry_after_when_configured() -> None:
    console = Console(SimConfig(seed=4, agents=20, rate_limits=True, retry_after=False))
    with (
        SimulatorServer(console) as server,
        httpx2.Client(
            base_url=f"{server.url}/web/api/v2.1",
            headers={"Authorization": f"ApiToken {console.token}"},
        ) as client,
    ):
        limited = [r for r in (client.get("/agents") for _ in range(5)) if r.status_code == 429]
        assert limited
        assert all("retry-after" not in r.headers for r in limited)


def test_tls_with_the_printed_ca_and_not_without() -> None:
    console = Console(SimConfig(seed=4, agents=10))
    with SimulatorServer(console, tls=True) as server:
        assert server.ca_bundle
        ok = httpx2.get(
            f"{server.url}/web/api/v2.1/system/status",
            verify=ssl.create_default_context(cafile=server.ca_bundle),
        )
        assert ok.status_code == 200
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(
                f"{server.url}/web/api/v2.1/system/status", verify=ssl.create_default_context()
            )


def test_serve_prints_its_address_first_and_refuses_bad_specs() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s1uvm",
            "simulator",
            "serve",
            "--agents",
            "20",
            "--seed",
            "3",
            "--tls",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = json.loads(proc.stdout.readline())
        assert set(banner) == {"url", "token", "ca_bundle"}
        r = httpx2.get(
            f"{banner['url']}/web/api/v2.1/threats",
            headers={"Authorization": f"ApiToken {banner['token']}"},
            verify=ssl.create_default_context(cafile=banner["ca_bundle"]),
        )
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run(
        [sys.executable, "-m", "s1uvm", "simulator", "serve", "--faults", "boom:1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "unknown fault kind" in bad.stderr
    assert "Traceback" not in bad.stderr
