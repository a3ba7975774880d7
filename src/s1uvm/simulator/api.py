"""The simulated console's request handling, independent of any HTTP framework.

``Console.handle`` takes a plain request and returns a plain response; the ASGI app (real
HTTP via uvicorn) and the in-process httpx2 transport are thin faces over it. Order of checks,
as a console behind a gateway would apply them: route → auth (401) → rate limit (429) →
injected fault → handler → body faults (truncate, drop) and latency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import msgspec

from s1uvm.simulator import evolution, faults, generator, hostile, paging, query
from s1uvm.simulator.auth import TokenSpec, parse_header
from s1uvm.simulator.endpoints import Endpoints, from_files, generated
from s1uvm.simulator.ratelimit import RateLimiter
from s1uvm.simulator.tables import Scope, norm, sort_key
from s1uvm.simulator.timefmt import US_PER_DAY, iso_us, now_us, to_datetime
from s1uvm.simulator.world import Kind, World, WorldConfig, make_id

API_PREFIX = "/web/api/v2.1"
JSON = "application/json"


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds to wait before answering (latency, "slow")
    cut_at: int | None = None  # "drop": close the connection after this many body bytes
    trickle: float = 0.0  # "slow-body": seconds between the body's bytes, sent one at a time
    endless: bool = False  # "endless-body": after the body, padding that never ends


@dataclass(slots=True)
class SimConfig:
    """Everything ``s1uvm simulator serve`` can be told, usable from Python as well."""

    seed: int = 1
    agents: int = 200
    accounts: int = 2
    sites_per_account: int = 2
    groups_per_site: int = 2
    threats_per_agent: float = 0.5
    risks_per_agent: float = 12.0
    epoch_us: int | None = None  # simulated "now" at start; default: the current minute
    data_dir: Path | None = None
    tokens: list[TokenSpec] = field(default_factory=lambda: [TokenSpec()])
    rate_limits: bool = False
    retry_after: bool = True
    faults: str = ""
    latency_ms: float = 0.0
    slow_seconds: float = 75.0
    trickle_seconds: float = 0.5  # "slow-body": between two bytes of a body
    vulnerabilities_licensed: bool = True

    def world_config(self) -> WorldConfig:
        epoch = self.epoch_us if self.epoch_us is not None else now_us() // 60_000_000 * 60_000_000
        return WorldConfig(
            seed=self.seed,
            accounts=self.accounts,
            sites_per_account=self.sites_per_account,
            groups_per_site=self.groups_per_site,
            agents=self.agents,
            threats_per_agent=self.threats_per_agent,
            risks_per_agent=self.risks_per_agent,
            epoch_us=epoch,
        )


def _error(status: int, code: int, title: str, detail: str | None) -> Response:
    body = msgspec.json.encode({"errors": [{"code": code, "title": title, "detail": detail}]})
    return Response(status, body, [("content-type", JSON)])


def _ok(payload: Any) -> Response:
    return Response(200, msgspec.json.encode(payload), [("content-type", JSON)])


UNAUTHORIZED = (401, 4010010, "Authentication Failed", None)
INVALID_CURSOR = (400, 4000010, "Validation JSONError", "Invalid cursor value received")

# (method, path under /web/api/v2.1) → endpoint key (also the rate-limit key)
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/system/info"): "system/info",
    ("GET", "/system/status"): "system/status",
    ("GET", "/user"): "user",
    ("POST", "/users/api-token-details"): "users",
    ("GET", "/accounts"): "accounts",
    ("GET", "/sites"): "sites",
    ("GET", "/groups"): "groups",
    ("GET", "/agents"): "agents",
    ("GET", "/agents/count"): "agents/count",
    ("GET", "/threats"): "threats",
    ("GET", "/application-management/risks"): "risks",
}
NO_AUTH = {"system/status"}


class Console:
    """One simulated SentinelOne console: its world (or ``--data``), tokens, limits, faults."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.seed = self.config.seed
        self.world: World | None = None
        if self.config.data_dir is not None:
            self.endpoints: Endpoints = from_files(self.config.data_dir)
        else:
            self.world = generator.build(self.config.world_config())
            self.endpoints = generated(self.world)
        self.tokens: dict[str, TokenSpec] = {}
        for spec in self.config.tokens:
            self.add_token(spec)
        self.limiter = RateLimiter()
        self.fault_rules = faults.parse(self.config.faults)
        self.request_counts: dict[str, int] = {}
        self.stats: dict[str, int] = {"requests": 0, "429": 0, "faults": 0}
        self._secret = paging.secret_for(self.seed)
        self._counts: dict[tuple[Any, ...], int] = {}
        self._fresh = 0  # "fresh-cursor" cursors handed out
        self._lock = threading.RLock()

    # -- configuration from Python or /_sim ------------------------------------------------
    @property
    def token(self) -> str:
        """The first token: the one ``simulator serve`` prints."""
        return next(iter(self.tokens))

    def add_token(self, spec: TokenSpec) -> TokenSpec:
        if spec.scope != "global" and spec.scope_id is None:
            spec.scope_id = self._default_scope_id(spec.scope)
        self.tokens[spec.value] = spec
        return spec

    def _default_scope_id(self, scope: str) -> str:
        table = self.endpoints.tables["accounts" if scope == "account" else "sites"]
        first = next(iter(table.items()), None)
        if first is None:
            raise ValueError(f"no {scope} exists to scope the token to")
        return table.record_id(first)

    def set_faults(self, spec: str) -> None:
        with self._lock:
            self.fault_rules = faults.parse(spec)
            self.request_counts.clear()

    def advance(self, hours: float) -> dict[str, Any]:
        """Move the simulated world forward (what ``POST /_sim/advance`` does)."""
        with self._lock:
            summary: dict[str, Any] = self._sim_advance({"hours": hours})
        return summary

    def now_us(self) -> int:
        return self.world.now_us if self.world is not None else now_us()

    # -- the request path ----------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        with self._lock:
            resp = self._handle(req)
        date = format_datetime(to_datetime(self.now_us()), usegmt=True)
        resp.headers.append(("date", date))
        return resp

    def _handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path.startswith("/_sim/"):
            return self._sim(req, path)
        if not path.startswith(API_PREFIX):
            return _error(404, 4040010, "Not Found", f"No such path: {path}")
        sub = path[len(API_PREFIX) :]
        endpoint = ROUTES.get((req.method.upper(), sub))
        if endpoint is None:
            if any(p == sub for _, p in ROUTES):
                return _error(405, 4050010, "Method Not Allowed", None)
            return _error(404, 4040010, "Not Found", f"No such path: {path}")
        self.stats["requests"] += 1
        token_value = parse_header(req.headers.get("authorization"))
        token = self.tokens.get(token_value or "")
        if endpoint not in NO_AUTH and (token is None or not token.valid(now_us())):
            return _error(*UNAUTHORIZED)
        if self.config.rate_limits:
            # Limits are per path prefix (s1-api.md §6): /agents/count spends /agents' budget.
            bucket = endpoint.split("/")[0] if endpoint.startswith("agents") else endpoint
            wait = self.limiter.check(token_value or "-", bucket)
            if wait is not None:
                return self._too_many(wait)
        n = self.request_counts.get(endpoint, 0) + 1
        self.request_counts[endpoint] = n
        params = req.query
        has_cursor = any(k == "cursor" for k, _ in params)
        fault = faults.pick(self.fault_rules, self.seed, endpoint, n, has_cursor)
        if fault:
            self.stats["faults"] += 1
        if fault in ("500", "503"):
            code = 5000010 if fault == "500" else 5030010
            title = "Internal Server Error" if fault == "500" else "Service Unavailable"
            resp = _error(int(fault), code, title, None)
        elif fault == "502":
            resp = Response(
                502,
                b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                [("content-type", "text/html")],
            )
        elif fault == "429":
            resp = self._too_many(1)
        elif fault == "expire-cursor":
            resp = _error(*INVALID_CURSOR)
        else:
            try:
                resp = self._endpoint(endpoint, req, token, fault)
            except query.ValidationError as exc:
                resp = _error(400, 4000010, "Validation Error", str(exc))
            except paging.InvalidCursor:
                resp = _error(*INVALID_CURSOR)
        if fault == "truncate" and resp.status == 200:
            resp.body = resp.body[: max(1, len(resp.body) * 2 // 3)]
        elif fault == "drop":
            resp.cut_at = len(resp.body) // 2
        elif fault == "slow":
            resp.delay += self.config.slow_seconds
        elif fault == "slow-body":
            resp.trickle = self.config.trickle_seconds
        elif fault == "endless-body":
            resp.endless = True
        elif fault == "gzip-bomb" and resp.status == 200:
            resp.body = hostile.gzip_bomb()
            resp.headers.append(("content-encoding", "gzip"))
        resp.delay += self.config.latency_ms / 1000.0
        return resp

    def _too_many(self, wait: int) -> Response:
        self.stats["429"] += 1
        resp = _error(429, 4290010, "Too Many Requests", "API rate limit exceeded")
        if self.config.retry_after:
            resp.headers.append(("retry-after", str(wait)))
        return resp

    # -- endpoints -------------------------------------------------------------------------
    def _scope(self, token: TokenSpec | None) -> Scope:
        if token is None or token.scope == "global":
            return Scope()
        ids = frozenset({token.scope_id or ""})
        return Scope(accounts=ids) if token.scope == "account" else Scope(sites=ids)

    def _endpoint(
        self, endpoint: str, req: Request, token: TokenSpec | None, fault: str | None
    ) -> Response:
        if endpoint == "system/status":
            return _ok({"data": {"health": "ok"}})
        assert token is not None
        if endpoint == "system/info":
            return _ok(
                {
                    "data": {
                        "build": "s1uvm-simulator",
                        "latestAgentVersion": "25.1.3.334",
                        "patch": "0",
                        "release": "GA",
                        "version": "Z SP1",
                    }
                }
            )
        if endpoint == "user":
            return _ok({"data": self._user(token)})
        if endpoint == "users":
            return self._token_details(req)
        if endpoint == "accounts" and token.scope == "site":
            return _error(403, 4030010, "Forbidden", "Action is not allowed to site users")
        if endpoint == "risks" and not self.config.vulnerabilities_licensed:
            return _error(
                403, 4030010, "Forbidden", "Application Management is not enabled for this scope"
            )
        return self._list(endpoint, req.query, token, fault)

    def _user(self, token: TokenSpec) -> dict[str, Any]:
        scope = {"global": "tenant", "account": "account", "site": "site"}[token.scope]
        name = {"global": "Global", "account": "Account", "site": "Site"}[token.scope]
        return {
            "apiToken": {
                "createdAt": iso_us(token.created_us),
                "expiresAt": iso_us(token.expires_us) if token.expires_us else None,
            },
            "canGenerateApiToken": True,
            "email": token.email,
            "fullName": token.user_name,
            "id": make_id(Kind.USER, 1),
            "lowestRole": token.role,
            "scope": scope,
            "scopeRoles": [
                {
                    "accountName": None,
                    "id": token.scope_id or make_id(Kind.USER, 0),
                    "name": name,
                    "roleId": make_id(Kind.USER, 2),
                    "roleName": token.role,
                    "roles": [token.role],
                }
            ],
            "twoFaEnabled": False,
        }

    def _token_details(self, req: Request) -> Response:
        try:
            body = msgspec.json.decode(req.body or b"{}")
            data = body.get("data") or {}
            value = data.get("apiToken") or data.get("token")
        except (msgspec.DecodeError, AttributeError):
            return _error(400, 4000010, "Validation Error", "data: Invalid input.")
        spec = self.tokens.get(value) if isinstance(value, str) else None
        if spec is None:
            return _error(400, 4000010, "Validation Error", "apiToken: Invalid token.")
        return _ok(
            {
                "data": {
                    "createdAt": iso_us(spec.created_us),
                    "expiresAt": iso_us(spec.expires_us) if spec.expires_us else None,
                }
            }
        )

    def _list(
        self, endpoint: str, params: list[tuple[str, str]], token: TokenSpec, fault: str | None
    ) -> Response:
        table = self.endpoints.tables[endpoint]
        filters = self.endpoints.filters[endpoint]
        q = query.parse(params, filters, table)
        scope = query.scope_for(self._scope(token), q.scope_filters)
        if endpoint == "agents/count":
            return _ok({"data": {"total": self._count(endpoint, scope, q)}})
        if q.count_only:
            return _ok(
                {
                    "data": [],
                    "pagination": {
                        "nextCursor": None,
                        "totalItems": self._count(endpoint, scope, q),
                    },
                }
            )
        sort_field = table.fields[q.sort_by]
        after = None
        if q.cursor is not None:
            value, rid = paging.decode(self._secret, q.cursor, table.name, q.sort_by, q.descending)
            # "" is the before-everything cursor of an empty first page: the walk starts over
            # from the top in either direction (a low sentinel key would end a descending
            # walk at once).
            after = None if rid == "" else sort_key(norm(sort_field.kind, value), rid)
        page: list[Any] = []
        more = False
        skip = q.skip
        for _key, rec in table.scan(q.sort_by, q.descending, after, scope):
            if q.predicates and not all(p(rec) for p in q.predicates):
                continue
            if skip:
                skip -= 1
                continue
            if len(page) == q.limit:
                more = True
                break
            page.append(rec)
        next_cursor = None
        if more:
            last = page[-1]
            next_cursor = paging.encode(
                self._secret,
                table.name,
                q.sort_by,
                q.descending,
                sort_field.get(last),
                table.record_id(last),
            )
        if fault == "repeat-cursor" and q.cursor:
            next_cursor = q.cursor  # the loop guards of s1-api.md §4 must catch this
        elif fault == "empty-page":
            page = []
            next_cursor = q.cursor or paging.encode(
                self._secret, table.name, q.sort_by, q.descending, None, ""
            )
        elif fault == "fresh-cursor":
            # A cursor never seen before, that starts the walk over from the top: a client
            # that trusts cursors alone follows it forever. The sort value of a "before
            # everything" cursor is ignored, so a counter there makes each one new.
            self._fresh += 1
            next_cursor = paging.encode(
                self._secret, table.name, q.sort_by, q.descending, self._fresh, ""
            )
        pagination: dict[str, Any] = {"nextCursor": next_cursor}
        if not q.skip_count:
            pagination["totalItems"] = self._count(endpoint, scope, q)
        records = [table.render(r) for r in page]
        if fault in faults.RECORD_KINDS and records:
            records.insert(len(records) // 2, hostile.hostile_record(fault, records[0]))
        data = b"[" + b",".join(records) + b"]"
        if endpoint == "sites":
            all_sites = msgspec.json.encode(
                {"activeLicenses": self._active_agents(scope), "totalLicenses": 0}
            )
            data = b'{"allSites":' + all_sites + b',"sites":' + data + b"}"
        body = b'{"data":' + data + b',"pagination":' + msgspec.json.encode(pagination) + b"}"
        return Response(200, body, [("content-type", JSON)])

    def _active_agents(self, scope: Scope) -> int:
        table = self.endpoints.tables["agents"]
        active = table.fields["isActive"].get
        return sum(1 for a in table.items() if scope.allows(*table.scope_of(a)) and active(a))

    def _count(self, endpoint: str, scope: Scope, q: query.ListQuery) -> int:
        table = self.endpoints.tables[endpoint]
        key = (table.name, table.version(), scope, q.signature)
        cached = self._counts.get(key)
        if cached is None:
            if len(self._counts) > 256:
                self._counts.clear()
            cached = table.count(scope, q.predicates)
            self._counts[key] = cached
        return cached

    # -- /_sim/: the simulator's own controls, no token ---------------------------------
    def _sim(self, req: Request, path: str) -> Response:
        try:
            body = msgspec.json.decode(req.body) if req.body else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            handler = self._sim_routes().get((req.method.upper(), path))
            if handler is None:
                return _error(404, 4040010, "Not Found", f"No such path: {path}")
            return _ok(handler(body))
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            return _error(400, 4000010, "Validation Error", str(exc))

    def _sim_routes(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], Any]]:
        return {
            ("POST", "/_sim/advance"): self._sim_advance,
            ("GET", "/_sim/state"): lambda _b: self.state(),
            ("POST", "/_sim/faults"): self._sim_faults,
            ("POST", "/_sim/tokens"): self._sim_token,
        }

    def _sim_advance(self, body: dict[str, Any]) -> Any:
        if self.world is None:
            raise ValueError("advance is not available when serving --data files")
        hours = body.get("hours")
        if not isinstance(hours, int | float) or isinstance(hours, bool):
            raise ValueError('expected {"hours": N}')
        summary = evolution.advance(self.world, float(hours))
        self._counts.clear()
        return summary

    def _sim_faults(self, body: dict[str, Any]) -> Any:
        spec = body.get("spec", "")
        if not isinstance(spec, str):
            raise ValueError('expected {"spec": "500:0.1,..."}')
        self.set_faults(spec)
        return {"faults": spec}

    def _sim_token(self, body: dict[str, Any]) -> Any:
        days = body.get("expiresInDays", 335)
        if not isinstance(days, int | float):
            raise ValueError("expiresInDays must be a number")
        spec = TokenSpec(
            scope=str(body.get("scope", "global")),
            role=str(body.get("role", "Viewer")),
            expires_us=now_us() + int(days * US_PER_DAY),
            revoked=bool(body.get("revoked", False)),
        )
        if body.get("scopeId") is not None:
            spec.scope_id = str(body["scopeId"])
        self.add_token(spec)
        return {
            "token": spec.value,
            "scope": spec.scope,
            "scopeId": spec.scope_id,
            "expiresAt": iso_us(spec.expires_us) if spec.expires_us else None,
        }

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "now": iso_us(self.now_us()),
            "seed": self.seed,
            "mode": "data" if self.world is None else "generated",
            "stats": dict(self.stats),
            "requests": dict(self.request_counts),
        }
        if self.world is not None:
            w = self.world
            out["step"] = w.step
            out["counts"] = {
                "accounts": len(w.accounts),
                "sites": len(w.sites),
                "groups": len(w.groups),
                "agents": len(w.agents),
                "decommissionedAgents": sum(1 for a in w.agents if a.is_decommissioned),
                "threats": len(w.threats),
                "risks": sum(a.risk_count() for a in w.agents),
            }
        return out
