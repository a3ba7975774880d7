"""A console's identity — URL, token scope, configured filter — compared with its record, and
the names consoles go by without a config file."""

from __future__ import annotations

from s1uvm.config import console_name
from s1uvm.identity import Identity, differences

GLOBAL = Identity("https://a.sentinelone.net", "tenant", None, "")


def test_the_same_console_differs_in_nothing() -> None:
    assert differences(GLOBAL, GLOBAL) == []


def test_another_url_or_scope_or_filter_is_named() -> None:
    moved = Identity("https://b.sentinelone.net", "tenant", None, "")
    assert differences(GLOBAL, moved) == [
        "the URL was https://a.sentinelone.net, now https://b.sentinelone.net"
    ]
    site = Identity(GLOBAL.url, "site", "17,4", "")
    assert differences(GLOBAL, site) == ["the token had scope tenant, now scope site 17,4"]
    other_sites = Identity(GLOBAL.url, "site", "18", "")
    assert differences(site, other_sites) == ["the token had scope site 17,4, now scope site 18"]
    filtered = Identity(GLOBAL.url, "tenant", None, "siteIds=1,2")
    assert differences(GLOBAL, filtered) == [
        "the token had scope tenant, now scope tenant filtered to siteIds=1,2"
    ]


def test_a_scope_the_console_would_not_tell_is_not_compared() -> None:
    unknown = Identity(GLOBAL.url, None, None, "")
    assert differences(GLOBAL, unknown) == []
    assert differences(unknown, GLOBAL) == []
    # ... but a changed filter is ours to know, told or not.
    assert differences(unknown, Identity(GLOBAL.url, None, None, "accountIds=9")) != []


def test_default_names_are_the_host_with_a_port_other_than_443() -> None:
    assert console_name("https://usea1-acme.sentinelone.net") == "usea1-acme.sentinelone.net"
    assert console_name("https://usea1-acme.sentinelone.net:443") == "usea1-acme.sentinelone.net"
    assert console_name("https://proxy.example.net:8443") == "proxy.example.net:8443"
    assert console_name("http://127.0.0.1:5000") == "127.0.0.1:5000"
    assert console_name("http://127.0.0.1:5001") != console_name("http://127.0.0.1:5000")
    assert console_name("http://[::1]:8080") == "[::1]:8080"
    assert console_name("https://USEA1-Acme.SentinelOne.net") == "usea1-acme.sentinelone.net"
