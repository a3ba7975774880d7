"""The simulator's contract over real HTTP, part 1: every endpoint, authentication and token
scope (s1-api.md §1, §3, §5.4). Tests marked ``realconsole`` are read-only and must hold for
a real console too (see tests/conftest.py); the others need the simulator's controls.

The other parts: test_contract_paging.py (envelope, limits, sorting, cursors, determinism),
test_contract_filters.py (filter semantics, malformed values), test_contract_faults.py (rate
limits, injected faults, TLS) and test_serve_cli.py (``s1uvm simulator serve``).
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from s1uvm.simulator.timefmt import parse_iso
from tests.conftest import PREFIX, ConsoleUnderTest, ids, total, validation_error, walk

AUTH_FAILED = {"errors": [{"code": 4010010, "title": "Authentication Failed", "detail": None}]}
RISKS = "/application-management/risks"
# Every route that needs a token: (method, path).
AUTHENTICATED = [
    ("GET", "/system/info"),
    ("GET", "/user"),
    ("POST", "/users/api-token-details"),
    ("GET", "/accounts"),
    ("GET", "/sites"),
    ("GET", "/groups"),
    ("GET", "/agents"),
    ("GET", "/agents/count"),
    ("GET", "/threats"),
    ("GET", RISKS),
]


def call(client: httpx2.Client, method: str, path: str, token: str) -> httpx2.Response:
    """One request to any route, with a body where the route takes one."""
    body = {"data": {"apiToken": token}} if method == "POST" else None
    return client.request(method, path, json=body)


# -- endpoints ------------------------------------------------------------------------------


@pytest.mark.realconsole
def test_system_info_describes_the_console(s1: httpx2.Client) -> None:
    """The auth check JupiterOne and Sekoia use: an object, not a list."""
    info = s1.get("/system/info").raise_for_status().json()["data"]
    assert {"version", "build"} <= set(info)
    assert isinstance(info["version"], str)


@pytest.mark.realconsole
def test_system_status_answers_without_a_token(console: ConsoleUnderTest) -> None:
    """Liveness needs no token (and so cannot validate one)."""
    with httpx2.Client(base_url=f"{console.url}{PREFIX}", timeout=30) as anonymous:
        r = anonymous.get("/system/status")
        assert r.status_code == 200
        assert "health" in r.json()["data"]
        r = anonymous.get("/system/status", headers={"Authorization": "ApiToken nope"})
        assert r.status_code == 200


@pytest.mark.realconsole
def test_user_describes_the_token(s1: httpx2.Client) -> None:
    """``/user`` is the one call that tells scope, roles and token expiry (s1-api.md §1.3)."""
    user = s1.get("/user").raise_for_status().json()["data"]
    assert user["scope"] in ("tenant", "account", "site")
    assert isinstance(user["scopeRoles"], list) and user["scopeRoles"]
    assert all("roleName" in role and "id" in role for role in user["scopeRoles"])
    token = user["apiToken"]
    assert {"createdAt", "expiresAt"} <= set(token)
    created = parse_iso(token["createdAt"])
    if token["expiresAt"] is not None:
        assert parse_iso(token["expiresAt"]) > created


@pytest.mark.parametrize(("kind", "scope"), [("account", "account"), ("site", "site")])
def test_user_reports_the_scope_of_a_scoped_token(
    console: ConsoleUnderTest, kind: str, scope: str
) -> None:
    """A service user scoped to an account or site says so, with that scope's id."""
    sim = console.need_sim()
    assert sim.world is not None
    scope_id = (sim.world.accounts[1] if kind == "account" else sim.world.sites[2]).id
    token = console.scoped_token(kind, scope_id)
    with console.client(token.value) as c:
        user = c.get("/user").raise_for_status().json()["data"]
    assert user["scope"] == scope
    assert [r["id"] for r in user["scopeRoles"]] == [scope_id]
    assert user["scopeRoles"][0]["roleName"] == "Viewer"


@pytest.mark.realconsole
def test_api_token_details_match_the_user(s1: httpx2.Client, console: ConsoleUnderTest) -> None:
    """``POST /users/api-token-details`` with ``{"data":{"apiToken":…}}`` gives the same dates
    as ``/user`` (s1-api.md §1.3 leaves the body key uncertain; we send ``apiToken``)."""
    r = s1.post("/users/api-token-details", json={"data": {"apiToken": console.token}})
    details = r.raise_for_status().json()["data"]
    assert {"createdAt", "expiresAt"} <= set(details)
    user = s1.get("/user").raise_for_status().json()["data"]
    assert details["expiresAt"] == user["apiToken"]["expiresAt"]


@pytest.mark.parametrize(
    "body", [{"data": {"apiToken": "not-a-token"}}, {"data": "x"}, {}, ["x"], "text"]
)
def test_api_token_details_refuse_unknown_tokens_and_bad_bodies(
    s1: httpx2.Client, console: ConsoleUnderTest, body: Any
) -> None:
    """An unknown token or a body of the wrong shape is a validation error, not a 500."""
    console.need_sim()
    validation_error(s1.post("/users/api-token-details", json=body))


@pytest.mark.realconsole
def test_accounts_list_or_refuse_site_tokens(s1: httpx2.Client) -> None:
    """Tenant and account tokens list accounts; a site token gets 403 4030010 (§5.4)."""
    scope = s1.get("/user").raise_for_status().json()["data"]["scope"]
    r = s1.get("/accounts")
    if scope == "site":
        assert r.status_code == 403
        assert r.json()["errors"][0]["code"] == 4030010
        return
    body = r.raise_for_status().json()
    assert isinstance(body["data"], list) and body["data"]
    assert all(a["id"].isdigit() for a in body["data"])


def test_a_site_token_may_not_list_accounts(console: ConsoleUnderTest) -> None:
    """The exact 403 cartography handles (s1-api.md §1.4, §8.7), whatever the filters."""
    token = console.scoped_token("site")
    with console.client(token.value) as c:
        for params in ({}, {"countOnly": "true"}, {"limit": 1000}):
            r = c.get("/accounts", params=params)
            assert r.status_code == 403
            assert r.json() == {
                "errors": [
                    {
                        "code": 4030010,
                        "title": "Forbidden",
                        "detail": "Action is not allowed to site users",
                    }
                ]
            }
        # …while everything a site Viewer may read still answers.
        for path in ("/sites", "/groups", "/agents", "/agents/count", "/threats", RISKS):
            assert c.get(path).status_code == 200, path


@pytest.mark.realconsole
def test_sites_nest_their_list_and_license_totals(s1: httpx2.Client) -> None:
    """``/sites`` is the exception to ``data[]``: ``data.sites`` plus ``data.allSites``."""
    body = s1.get("/sites", params={"limit": 2}).raise_for_status().json()
    assert set(body["data"]) == {"sites", "allSites"}
    assert isinstance(body["data"]["sites"], list) and body["data"]["sites"]
    all_sites = body["data"]["allSites"]
    assert isinstance(all_sites["activeLicenses"], int)
    assert isinstance(all_sites["totalLicenses"], int)
    site = body["data"]["sites"][0]
    assert {"id", "name", "accountId", "accountName", "state"} <= set(site)


@pytest.mark.realconsole
def test_groups_take_at_most_300_per_page(s1: httpx2.Client) -> None:
    """``/groups`` caps ``limit`` at 300, not 1000 (s1-api.md §4)."""
    page = s1.get("/groups", params={"limit": 300}).raise_for_status().json()
    assert len(page["data"]) <= 300
    assert all({"id", "siteId", "name"} <= set(g) for g in page["data"])
    assert "limit" in validation_error(s1.get("/groups", params={"limit": 301}))


@pytest.mark.realconsole
def test_agents_count_agrees_with_the_agent_list(s1: httpx2.Client) -> None:
    """``/agents/count`` answers ``data.total`` under the same filters as ``/agents``."""
    for params in ({}, {"isDecommissioned": "true,false"}, {"isDecommissioned": "true"}):
        body = s1.get("/agents/count", params=params).raise_for_status().json()
        assert set(body["data"]) == {"total"}
        assert body["data"]["total"] == total(s1, "/agents", **params)


def test_agents_count_is_exact(s1: httpx2.Client, console: ConsoleUnderTest) -> None:
    """The count is the number of agents a walk returns, not an estimate."""
    console.need_sim()
    for params in ({}, {"isDecommissioned": "true,false"}):
        counted = s1.get("/agents/count", params=params).json()["data"]["total"]
        assert counted == len(walk(s1, "/agents", limit=1000, **params))


@pytest.mark.realconsole
@pytest.mark.parametrize("path", ["/threats", "/agents", RISKS])
def test_list_endpoints_answer_a_data_list(s1: httpx2.Client, path: str) -> None:
    """Threats, agents and risks: a list in ``data``, paging in ``pagination``."""
    r = s1.get(path, params={"limit": 3})
    if r.status_code == 403 and path == RISKS:
        pytest.skip("this console is not licensed for vulnerabilities")
    body = r.raise_for_status().json()
    assert isinstance(body["data"], list)
    assert all(isinstance(rec["id"], str) and rec["id"].isdigit() for rec in body["data"])
    assert "nextCursor" in body["pagination"]


def test_unknown_paths_and_methods(s1: httpx2.Client, console: ConsoleUnderTest) -> None:
    """Routes the simulator does not serve are 404/405 with an errors body, not a crash."""
    console.need_sim()
    assert s1.get("/no-such-thing").status_code == 404
    assert s1.delete("/threats").status_code == 405
    assert s1.get("/threats/").status_code == 200  # a trailing slash is the same route


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.realconsole
@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
@pytest.mark.parametrize(
    "header", [None, "ApiToken not-a-real-token", "ApiToken", "Bearer not-a-real-token"]
)
def test_missing_or_unknown_tokens_get_exactly_the_401(
    console: ConsoleUnderTest, method: str, path: str, header: str | None
) -> None:
    """Every authenticated route answers the same 401 body (s1-api.md §1.4)."""
    headers = {"Authorization": header} if header else {}
    with httpx2.Client(base_url=f"{console.url}{PREFIX}", timeout=30, headers=headers) as c:
        r = call(c, method, path, "not-a-real-token")
    assert r.status_code == 401
    assert r.json() == AUTH_FAILED


@pytest.mark.parametrize(
    "token",
    [{"expiresInDays": -1}, {"revoked": True}, {"expiresInDays": -1, "scope": "site"}],
    ids=["expired", "revoked", "expired-site"],
)
def test_expired_and_revoked_tokens_look_like_bad_ones(
    console: ConsoleUnderTest, token: dict[str, Any]
) -> None:
    """An expired or revoked token is indistinguishable from an unknown one (§8.13)."""
    console.need_sim()
    with httpx2.Client(base_url=console.url, timeout=30) as sim:
        made = sim.post("/_sim/tokens", json=token).raise_for_status().json()
    with console.client(made["token"]) as c:
        for method, path in AUTHENTICATED:
            r = call(c, method, path, made["token"])
            assert r.status_code == 401, path
            assert r.json() == AUTH_FAILED
        assert c.get("/system/status").status_code == 200


def test_a_fresh_token_from_sim_works(console: ConsoleUnderTest) -> None:
    """The control route mints working tokens: the 401s above are about expiry, not minting."""
    console.need_sim()
    with httpx2.Client(base_url=console.url, timeout=30) as sim:
        made = sim.post("/_sim/tokens", json={"expiresInDays": 2}).raise_for_status().json()
    with console.client(made["token"]) as c:
        for method, path in AUTHENTICATED:
            assert call(c, method, path, made["token"]).status_code == 200, path
        expires = c.get("/user").json()["data"]["apiToken"]["expiresAt"]
    assert expires == made["expiresAt"]


# -- scope ------------------------------------------------------------------------------------


class Tree:
    """Who belongs where, learned over HTTP with the tenant token."""

    def __init__(self, client: httpx2.Client) -> None:
        self.sites = {s["id"]: s for s in walk(client, "/sites", limit=1000)}
        self.accounts = sorted({s["accountId"] for s in self.sites.values()})
        agents = walk(client, "/agents", limit=1000, isDecommissioned="true,false")
        self.agents = {a["id"]: a for a in agents}

    def place(self, path: str, rec: dict[str, Any]) -> tuple[str, str | None]:
        """(account id, site id) of a record of ``path``."""
        if path == "/threats":
            info = rec["agentRealtimeInfo"]
            return info["accountId"], info["siteId"]
        if path == "/agents":
            return rec["accountId"], rec["siteId"]
        if path == RISKS:
            agent = self.agents[rec["endpointId"]]
            return agent["accountId"], agent["siteId"]
        if path == "/sites":
            return rec["accountId"], rec["id"]
        if path == "/groups":
            return self.sites[rec["siteId"]]["accountId"], rec["siteId"]
        assert path == "/accounts"
        return rec["id"], None


SCOPED_PATHS = ["/threats", "/agents", RISKS, "/sites", "/groups"]


@pytest.mark.parametrize("kind", ["account", "site"])
@pytest.mark.parametrize("path", [*SCOPED_PATHS, "/accounts"])
def test_a_scoped_token_never_sees_outside_its_scope(
    console: ConsoleUnderTest, s1: httpx2.Client, kind: str, path: str
) -> None:
    """Scope filters narrow a token's scope and never widen it (s1-api.md §5.4)."""
    if kind == "site" and path == "/accounts":
        pytest.skip("site tokens may not list accounts (test_a_site_token_may_not_list_accounts)")
    console.need_sim()
    tree = Tree(s1)
    # The second site of the second account: not the default a token falls back to.
    mine_id = tree.accounts[1] if kind == "account" else sorted(tree.sites)[3]
    index = 0 if kind == "account" else 1
    other_sites = [
        sid for sid in tree.sites if tree.place("/sites", tree.sites[sid])[index] != mine_id
    ]
    other_accounts = [a for a in tree.accounts if kind == "account" and a != mine_id]
    token = console.scoped_token(kind, mine_id)
    extra = {"isDecommissioned": "true,false"} if path == "/agents" else {}
    key = "accountIds" if kind == "account" else "siteIds"
    with console.client(token.value) as c:
        mine = walk(c, path, limit=1000, **extra)
        assert mine, "the scope has records to see"
        assert {tree.place(path, r)[index] for r in mine} == {mine_id}
        # Exactly what the tenant token sees when it filters on the same scope.
        same = walk(s1, path, limit=1000, **{key: mine_id}, **extra)
        assert sorted(ids(mine)) == sorted(ids(same))
        assert total(c, path, **extra) == len(mine)
        # Asking for somebody else's data returns nothing, not that data.
        for other in other_sites:
            if path != "/accounts":
                assert walk(c, path, siteIds=other, **extra) == [], other
        for other in other_accounts:
            assert walk(c, path, accountIds=other, **extra) == [], other
        if path in ("/threats", "/agents"):
            theirs = [r for r in walk(s1, path, limit=1000, **extra) if r["id"] not in ids(mine)]
            assert theirs
            assert walk(c, path, ids=",".join(ids(theirs[:5])), **extra) == []


@pytest.mark.parametrize("kind", ["account", "site"])
def test_a_scoped_token_counts_only_its_agents(
    console: ConsoleUnderTest, s1: httpx2.Client, kind: str
) -> None:
    """``/agents/count`` and ``allSites`` are scoped as well: totals leak nothing either."""
    sim = console.need_sim()
    assert sim.world is not None
    scope_id = (sim.world.accounts[0] if kind == "account" else sim.world.sites[1]).id
    token = console.scoped_token(kind, scope_id)
    with console.client(token.value) as c:
        agents = walk(c, "/agents", limit=1000, isDecommissioned="true,false")
        counted = c.get("/agents/count", params={"isDecommissioned": "true,false"}).json()
        assert counted["data"]["total"] == len(agents)
        everyone = s1.get("/agents/count", params={"isDecommissioned": "true,false"}).json()
        assert counted["data"]["total"] < everyone["data"]["total"]
        active = c.get("/sites").json()["data"]["allSites"]["activeLicenses"]
        assert active == sum(1 for a in agents if a["isActive"])
