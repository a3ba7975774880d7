"""``s1uvm check`` as a user runs it (a subprocess, real HTTP): the documented exit code and
one clear line for each way a connection can be wrong — and never the token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from s1uvm.s1._retry import BASE_ENV
from s1uvm.simulator import Console, SimConfig, SimulatorServer, TokenSpec
from s1uvm.simulator.timefmt import US_PER_DAY, now_us


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "s1uvm", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def console() -> Console:
    c = Console(SimConfig(seed=5, agents=60))
    return c


@pytest.fixture(scope="module")
def server(console: Console) -> Iterator[SimulatorServer]:
    with SimulatorServer(console) as running:
        yield running


def no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr
    assert "Traceback" not in p.stdout


def test_a_good_connection_reports_every_connector(
    server: SimulatorServer, console: Console
) -> None:
    p = run("check", "--url", server.url, env={"S1_API_TOKEN": console.token})
    assert p.returncode == 0, p.stderr
    assert "[ok  ] token: accepted" in p.stdout
    assert "scope tenant, role Viewer" in p.stdout
    for name in ("assets", "threats", "vulnerabilities"):
        assert f"[ok  ] {name}: can read" in p.stdout
    assert "token valid until" in p.stdout
    assert console.token not in p.stdout + p.stderr


def test_a_wrong_token_exits_3(server: SimulatorServer) -> None:
    secret = "wrong-token-but-secret-1234567890"
    p = run("check", "--url", server.url, env={"S1_API_TOKEN": secret})
    assert p.returncode == 3
    assert "rejected the API token (401)" in p.stdout
    assert secret not in p.stdout + p.stderr
    no_traceback(p)


def test_an_expired_token_exits_3(server: SimulatorServer, console: Console) -> None:
    expired = console.add_token(TokenSpec(expires_us=now_us() - US_PER_DAY))
    p = run("check", "--url", server.url, env={"S1_API_TOKEN": expired.value})
    assert p.returncode == 3
    assert "wrong, expired or revoked" in p.stdout


def test_a_token_close_to_expiry_is_warned_about(server: SimulatorServer, console: Console) -> None:
    soon = console.add_token(TokenSpec(expires_us=now_us() + 5 * US_PER_DAY))
    p = run("check", "--url", server.url, env={"S1_API_TOKEN": soon.value})
    assert p.returncode == 0
    assert "[warn] expiry: token expires" in p.stdout


def test_a_site_scoped_token_is_fine_without_accounts(
    server: SimulatorServer, console: Console
) -> None:
    site = console.add_token(TokenSpec(scope="site"))
    p = run("check", "--url", server.url, env={"S1_API_TOKEN": site.value})
    assert p.returncode == 0, p.stdout
    assert "site-scoped token: accounts cannot be listed" in p.stdout
    assert "scope site" in p.stdout


def test_a_console_without_the_vulnerability_feature_exits_3() -> None:
    console = Console(SimConfig(seed=5, agents=20, vulnerabilities_licensed=False))
    with SimulatorServer(console) as server:
        p = run("check", "--url", server.url, env={"S1_API_TOKEN": console.token})
    assert p.returncode == 3
    assert "[FAIL] vulnerabilities: cannot read /application-management/risks" in p.stdout
    assert "[ok  ] threats: can read" in p.stdout


def test_an_unreachable_host_exits_4() -> None:
    p = run(
        "check", "--url", "http://127.0.0.1:9", env={"S1_API_TOKEN": "x" * 30, BASE_ENV: "0.01"}
    )
    assert p.returncode == 4
    assert "cannot reach http://127.0.0.1:9" in p.stdout
    no_traceback(p)


def test_a_tls_failure_exits_4_and_a_ca_bundle_fixes_it(tmp_path: Path) -> None:
    console = Console(SimConfig(seed=5, agents=20))
    with SimulatorServer(console, tls=True) as server:
        url = server.url.replace("127.0.0.1", "localhost")
        p = run("check", "--url", url, env={"S1_API_TOKEN": console.token})
        assert p.returncode == 4
        assert "TLS verification" in p.stdout
        assert "--ca-bundle" in p.stdout
        ok = run(
            "check",
            "--url",
            url,
            "--ca-bundle",
            str(server.ca_bundle),
            env={"S1_API_TOKEN": console.token},
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        via_env = run(
            "check",
            "--url",
            url,
            env={"S1_API_TOKEN": console.token, "SSL_CERT_FILE": str(server.ca_bundle)},
        )
        assert via_env.returncode == 0, via_env.stdout + via_env.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "the Server URL is empty"),
        ("https://console.sentinelone.net", "login portal"),
        ("http://acme.sentinelone.net", "must use https://"),
        ("not a url", "contains spaces"),
    ],
)
def test_a_bad_url_exits_2_with_one_line(url: str, message: str) -> None:
    p = run("check", "--url", url, env={"S1_API_TOKEN": "x" * 30})
    assert p.returncode == 2
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    no_traceback(p)


def test_no_token_exits_2_and_the_token_is_never_a_flag() -> None:
    p = run("check", "--url", "https://acme.sentinelone.net")
    assert p.returncode == 2
    assert "S1_API_TOKEN" in p.stderr
    p = run("check", "--url", "https://acme.sentinelone.net", "--token", "abc")
    assert p.returncode == 2
    assert "No such option" in p.stderr
