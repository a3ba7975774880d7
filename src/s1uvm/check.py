"""The "test connection": can we reach the console over verified TLS, does it accept the
token, who is the token (scope, role), when does it expire, and can each enabled connector read
its data. Returns a report; the CLI prints it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from s1uvm.config import ConsoleConfig
from s1uvm.connectors.base import parse as parse_ts
from s1uvm.connectors.normalise import timestamp
from s1uvm.s1 import (
    AuthenticationError,
    Body,
    PermissionDenied,
    S1Client,
    S1Error,
    TLSError,
    TransportError,
)

EXPIRY_WARNING = timedelta(days=14)
PROBES = {
    "assets": ("/agents/count", {"isDecommissioned": "true,false"}),
    "threats": ("/threats", {"countOnly": "true"}),
    "vulnerabilities": ("/application-management/risks", {"countOnly": "true"}),
}


@dataclass(slots=True)
class Item:
    what: str
    status: str  # "ok" | "warn" | "fail"
    detail: str


@dataclass(slots=True)
class Report:
    console: str
    url: str
    items: list[Item] = field(default_factory=list)
    exit_code: int = 0
    token_expires_at: str | None = None

    def add(self, what: str, status: str, detail: str, code: int = 0) -> None:
        self.items.append(Item(what, status, detail))
        if code and not self.exit_code:
            self.exit_code = code


def _json(body: Body) -> Any:
    return json.loads(body)


def check(cfg: ConsoleConfig, client: S1Client, now: datetime | None = None) -> Report:
    report = Report(cfg.name, cfg.url)
    if not cfg.is_sentinelone_host:
        report.add(
            "host",
            "warn",
            f"{cfg.host} is not a *.sentinelone.net or *.s1gov.net host; "
            "fine for a proxy or gateway, otherwise check the Server URL",
        )
    try:
        info = client.get("/system/info", decode=_json).get("data") or {}
    except AuthenticationError as err:
        report.add(
            "reachable",
            "ok",
            f"{cfg.url} answered over "
            + ("verified TLS" if cfg.url.startswith("https") else "loopback HTTP"),
        )
        report.add("token", "fail", err.message, 3)
        return report
    except TLSError as err:
        report.add("TLS", "fail", err.message, 4)
        return report
    except TransportError as err:
        report.add("reachable", "fail", err.message, 4)
        return report
    version = " ".join(str(info.get(k)) for k in ("version", "build") if info.get(k))
    report.add(
        "reachable",
        "ok",
        f"{cfg.url} over "
        + ("verified TLS" if cfg.url.startswith("https") else "loopback HTTP")
        + (f" (console {version})" if version else ""),
    )
    _principal(client, report, now or client.server_time or datetime.now(UTC))
    try:
        client.get("/accounts", {"limit": 1}, decode=_json)
    except PermissionDenied:
        report.add(
            "scope",
            "ok",
            "site-scoped token: accounts cannot be listed (expected); sites are used instead",
        )
    except S1Error:
        pass
    for name in cfg.connectors:
        path, params = PROBES[name]
        try:
            body = client.get(path, params, decode=_json)
            total = (
                (body.get("data") or {}).get("total")
                if name == "assets"
                else (body.get("pagination") or {}).get("totalItems")
            )
            count = f" ({total:,} records)" if isinstance(total, int) else ""
            report.add(name, "ok", f"can read {path}{count}")
        except PermissionDenied as err:
            report.add(
                name,
                "fail",
                f"cannot read {path}: {err.message.split(' (', 1)[-1]}".rstrip(")")
                + " — a role or licence the token lacks",
                3,
            )
        except S1Error as err:
            report.add(name, "fail", err.message, 4 if isinstance(err, TransportError) else 1)
    return report


@dataclass(slots=True)
class TokenInfo:
    name: str | None = None
    scope: str | None = None
    role: str | None = None
    expires_at: str | None = None
    scope_ids: str | None = None  # the accounts' or sites' ids of a scoped token, sorted


def token_info(client: S1Client) -> TokenInfo:
    """Who the token is, from ``GET /user`` (empty when the console will not say)."""
    user: dict[str, Any] = {}
    try:
        user = client.get("/user", decode=_json).get("data") or {}
    except (PermissionDenied, S1Error) as err:
        if isinstance(err, AuthenticationError | TransportError):
            raise
    roles = user.get("scopeRoles") or []
    role = next(
        (r.get("roleName") for r in roles if isinstance(r, dict) and r.get("roleName")), None
    ) or user.get("lowestRole")
    scope = user.get("scope")
    ids = sorted({str(r["id"]) for r in roles if isinstance(r, dict) and r.get("id") is not None})
    return TokenInfo(
        user.get("fullName"),
        scope if isinstance(scope, str) else None,
        role,
        timestamp((user.get("apiToken") or {}).get("expiresAt")),
        ",".join(ids) if ids and scope != "tenant" else None,
    )


def expiry_warning(expires_at: str | None, now: datetime) -> str | None:
    """A warning when the token expires within 14 days (or already has)."""
    if expires_at is None:
        return None
    left = parse_ts(expires_at) - now
    if left <= timedelta(0):
        return f"the API token expired on {expires_at[:10]}; create a new one"
    if left <= EXPIRY_WARNING:
        return (
            f"the API token expires {expires_at[:10]} (in {left.days} days); create a new "
            "one before then"
        )
    return None


def _principal(client: S1Client, report: Report, now: datetime) -> None:
    info = token_info(client)
    scope, role = info.scope, info.role
    who = info.name or "the token's user"
    report.add(
        "token", "ok", f"accepted: {who}, scope {scope or 'unknown'}, role {role or 'unknown'}"
    )
    if role and str(role).lower() not in ("viewer", "soc", "it"):
        report.add(
            "role",
            "warn",
            f"role {role} can do more than read; a Viewer service user is enough for s1uvm",
        )
    expires = info.expires_at
    report.token_expires_at = expires
    if expires is None:
        report.add("expiry", "warn", "token expiry unknown (the console did not say)")
        return
    left = parse_ts(expires) - now
    day = expires[:10]
    if left <= timedelta(0):
        report.add("expiry", "fail", f"token expired on {day}; create a new one", 3)
    elif left <= EXPIRY_WARNING:
        report.add(
            "expiry",
            "warn",
            f"token expires {day} (in {left.days} days); create a new one before then",
        )
    else:
        report.add("expiry", "ok", f"token valid until {day} ({left.days} days)")
