"""Configuration: URL normalisation, token sources and precedence, config files — every
mistake a one-line ConfigError that says what to fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s1uvm.config import ConfigError, load, normalise_url

TOKEN = "eyJ0eXAiOiJKV1QifQ.payload.signature"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://usea1-partners.sentinelone.net", "https://usea1-partners.sentinelone.net"),
        ("https://usea1-partners.sentinelone.net/", "https://usea1-partners.sentinelone.net"),
        ("  https://euce1-103.sentinelone.net  ", "https://euce1-103.sentinelone.net"),
        (
            "https://acme.sentinelone.net/web/api/v2.1/threats?limit=10",
            "https://acme.sentinelone.net",
        ),
        ("https://acme.sentinelone.net/dashboard#/overview", "https://acme.sentinelone.net"),
        ("acme.sentinelone.net", "https://acme.sentinelone.net"),
        ("HTTPS://ACME.SentinelOne.net", "https://acme.sentinelone.net"),
        ("https://usgovwe1-1.s1gov.net", "https://usgovwe1-1.s1gov.net"),
        ("https://s1.proxy.example.com:8443", "https://s1.proxy.example.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9000/web/api/v2.1", "http://localhost:9000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_urls_are_normalised(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("http://acme.sentinelone.net", "https://"),
        ("https://console.sentinelone.net", "login portal"),
        ("console.sentinelone.net", "login portal"),
        ("https://acme sentinelone.net", "spaces"),
        ("not a url", "spaces"),
        ("ftp://acme.sentinelone.net", "not a console address"),
        ("https://", "not a console address"),
        ("https://sentinelone", "not a console address"),
        ("https://acme.sentinelone.net:99999", "not a URL"),
        ("https://user:pw@acme.sentinelone.net", "user name or password"),
        ("https://акме.sentinelone.net", "non-ASCII"),
    ],
)
def test_wrong_urls_get_one_clear_line(given: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        normalise_url(given)
    assert "\n" not in str(info.value)


def test_token_from_the_environment_with_its_scheme_stripped() -> None:
    s = load(url="https://acme.sentinelone.net", env={"S1_API_TOKEN": f"ApiToken {TOKEN}\n"})
    (console,) = s.consoles
    assert console.token.reveal() == TOKEN
    assert console.name == "acme.sentinelone.net"  # the host: names never collide
    assert TOKEN not in repr(s)


def test_token_file_wins_over_the_environment_and_loose_modes_warn(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o644)
    s = load(
        url="https://acme.sentinelone.net",
        token_file=str(path),
        env={"S1_API_TOKEN": "other-token"},
    )
    assert s.consoles[0].token.reveal() == TOKEN
    assert any("readable by other users" in w for w in s.warnings)
    os.chmod(path, 0o600)
    assert load(url="https://acme.sentinelone.net", token_file=str(path), env={}).warnings == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("   \n", "empty"), ("abc\ndef", "line break"), ("ApiToken ", "empty")],
)
def test_bad_token_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match=message):
        load(url="https://acme.sentinelone.net", token_file=str(path), env={})


def test_missing_token_and_missing_token_file() -> None:
    with pytest.raises(ConfigError, match="no API token"):
        load(url="https://acme.sentinelone.net", env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load(url="https://acme.sentinelone.net", token_file="/nonexistent/token", env={})


def test_a_hidden_prompt_is_the_last_resort() -> None:
    s = load(url="https://acme.sentinelone.net", env={}, prompt=lambda: TOKEN)
    assert s.consoles[0].token.reveal() == TOKEN


def test_precedence_flags_then_environment_then_file(tmp_path: Path) -> None:
    cfg = tmp_path / "s1uvm.toml"
    cfg.write_text('db = "from-file.db"\n')
    env = {
        "S1_URL": "https://env.sentinelone.net",
        "S1_API_TOKEN": TOKEN,
        "S1UVM_DB": "from-env.db",
    }
    s = load(config=str(cfg), env=env)
    assert s.db == "from-env.db"
    assert s.consoles[0].url == "https://env.sentinelone.net"
    s = load(config=str(cfg), url="https://flag.sentinelone.net", db="flag.db", env=env)
    assert (s.db, s.consoles[0].url) == ("flag.db", "https://flag.sentinelone.net")
    s = load(config=str(cfg), env={"S1_URL": "https://x.sentinelone.net", "S1_API_TOKEN": TOKEN})
    assert s.db == "from-file.db"


def test_several_consoles_from_a_config_file(tmp_path: Path) -> None:
    token_file = tmp_path / "eu.token"
    token_file.write_text(TOKEN)
    os.chmod(token_file, 0o600)
    cfg = tmp_path / "s1uvm.toml"
    cfg.write_text(f"""
[[console]]
name = "eu"
url = "https://euce1-103.sentinelone.net/"
token_file = "{token_file}"
connectors = ["threats", "assets"]

[[console]]
name = "us"
url = "usea1-partners.sentinelone.net"
token_env = "US_TOKEN"
site_ids = ["1234567890123456789", 17]
""")
    s = load(config=str(cfg), env={"US_TOKEN": TOKEN + "us"})
    eu, us = s.consoles
    assert (eu.name, eu.url, eu.connectors) == (
        "eu",
        "https://euce1-103.sentinelone.net",
        ("assets", "threats"),
    )
    assert (us.name, us.url, us.connectors) == (
        "us",
        "https://usea1-partners.sentinelone.net",
        ("assets", "threats", "vulnerabilities"),
    )
    assert us.token.reveal() == TOKEN + "us"
    assert (eu.scope, us.scope) == ({}, {"siteIds": "1234567890123456789,17"})


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("db = ", "not valid TOML"),
        ("colour = 'blue'", "unknown key"),
        ("[[console]]\nurl = 'https://a.sentinelone.net'\ntoken = 'x'", "unknown key"),
        ("[[console]]\nurl = 'https://a.sentinelone.net'", "token_file or token_env"),
        ("[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_env = 'NOPE'", "is not set"),
        (
            "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_env = 'T'\nconnectors = ['x']",
            "unknown connector",
        ),
        (
            "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_env = 'T'\n"
            "site_ids = ['1']\naccount_ids = ['2']",
            "site_ids or account_ids, not both",
        ),
        (
            "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_env = 'T'\n"
            "site_ids = ['my-site']",
            "not an id",
        ),
        (
            "[[console]]\nurl = 'https://a.sentinelone.net'\ntoken_env = 'T'\naccount_ids = '7'",
            "must be a non-empty list",
        ),
    ],
)
def test_config_file_mistakes(tmp_path: Path, toml: str, message: str) -> None:
    cfg = tmp_path / "s1uvm.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load(config=str(cfg), env={"T": TOKEN})


def test_unknown_connector_flag_and_missing_ca_bundle() -> None:
    env = {"S1_URL": "https://a.sentinelone.net", "S1_API_TOKEN": TOKEN}
    with pytest.raises(ConfigError, match="unknown connector"):
        load(connectors="threats,cves", env=env)
    with pytest.raises(ConfigError, match="CA bundle"):
        load(ca_bundle="/nonexistent/ca.pem", env=env)
    assert load(connectors="vulnerabilities,threats", env=env).consoles[0].connectors == (
        "threats",
        "vulnerabilities",
    )
