"""A console's identity: its normalised URL plus the token's scope (global, or which accounts or
sites) and the scope filter of its configuration, recorded under the console's name.

Rows and checkpoints belong to the name, so two different views must never share one: a
site-scoped token synced under the name of a global one would see most findings "disappear"
and close them. A sync whose identity differs from what its name has on record is therefore
refused, with the ways forward: another name, or ``--rescope`` to make the new scope the
console's own (findings outside it are archived as "out of scope", never fixed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from s1uvm.check import TokenInfo, expiry_warning, token_info
from s1uvm.config import ConfigError, ConsoleConfig
from s1uvm.s1 import AuthenticationError, S1Client, S1Error, TransportError


class IdentityChanged(ConfigError):
    """The console's URL or scope is not the one on record under its name: exit 2."""


@dataclass(frozen=True, slots=True)
class Identity:
    url: str
    scope: str | None  # tenant | account | site; None when the console did not say
    scope_ids: str | None  # the accounts' or sites' ids, sorted, comma-separated
    scope_filter: str  # the configured filter, e.g. "siteIds=1,2"; "" for the token's whole scope

    def describe(self) -> str:
        if self.scope is None:
            text = "an unknown scope"
        elif self.scope == "tenant" or not self.scope_ids:
            text = f"scope {self.scope}"
        else:
            text = f"scope {self.scope} {self.scope_ids}"
        return text + (f" filtered to {self.scope_filter}" if self.scope_filter else "")


class IdentityStore(Protocol):
    def console_identity(self, console: str) -> dict[str, Any] | None: ...

    def record_console(
        self,
        console: str,
        url: str,
        token_expires_at: str | None,
        scope: str | None,
        role: str | None,
        *,
        scope_ids: str | None = None,
        scope_filter: str | None = None,
    ) -> None: ...


def filter_key(scope: dict[str, str]) -> str:
    return "&".join(f"{k}={scope[k]}" for k in sorted(scope))


def of(console: ConsoleConfig, info: TokenInfo) -> Identity:
    return Identity(console.url, info.scope, info.scope_ids, filter_key(console.scope))


def differences(recorded: Identity, now: Identity) -> list[str]:
    """What changed between the identity on record and this one, in words; empty when they
    are the same console. A scope the console did not tell (either time) is not compared."""
    out: list[str] = []
    if recorded.url != now.url:
        out.append(f"the URL was {recorded.url}, now {now.url}")
    known = recorded.scope is not None and now.scope is not None
    if recorded.scope_filter != now.scope_filter or (
        known and (recorded.scope, recorded.scope_ids) != (now.scope, now.scope_ids)
    ):
        out.append(f"the token had {recorded.describe()}, now {now.describe()}")
    return out


def establish(
    store: IdentityStore, console: ConsoleConfig, client: S1Client, *, rescope: bool = False
) -> tuple[bool, str | None]:
    """Check the console's identity against its record and record it (with the token's role
    and expiry, never the token). Returns whether the scope was changed on purpose
    (``rescope``, the caller archives what left it) and the token-expiry warning due now.
    Raises ``IdentityChanged`` when the identity differs and ``rescope`` was not asked, and
    the console's own error when the token is refused or the console cannot be reached."""
    try:
        info = token_info(client)
    except (AuthenticationError, TransportError):
        raise  # nothing can be synced: the caller says so once, not once per connector
    except S1Error:
        info = TokenInfo()  # a console that will not say who the token is
    now = of(console, info)
    row = store.console_identity(console.name)
    changed: list[str] = []
    if row is not None:
        recorded = Identity(
            row.get("url") or "",
            row.get("scope"),
            row.get("scope_ids"),
            row.get("scope_filter") or "",
        )
        # A record written before identities were kept knows only its URL: it is adopted.
        if row.get("scope_filter") is None and row.get("scope_ids") is None:
            recorded = Identity(recorded.url, None, None, now.scope_filter)
        changed = differences(recorded, now)
        if changed and not rescope:
            raise IdentityChanged(
                f"console {console.name!r} is on record with another identity: "
                f"{'; '.join(changed)}. To keep both, give this one another name "
                "(--console NAME, or name = … in the config file); to make this the "
                f"console's identity, run sync --rescope (findings outside the new scope "
                "are archived as out of scope)"
            )
    if info.scope is None and row is not None:
        # Not told this time (a passing failure, a console that will not say): what is on
        # record stays, rather than an identity that would accept any scope next time.
        info = TokenInfo(info.name, row.get("scope"), row.get("role"), info.expires_at)
        info.scope_ids = row.get("scope_ids")
    store.record_console(
        console.name,
        console.url,
        info.expires_at,
        info.scope,
        info.role,
        scope_ids=info.scope_ids,
        scope_filter=now.scope_filter,
    )
    warning = expiry_warning(info.expires_at, client.server_time or datetime.now(UTC))
    return bool(changed), warning
