"""API tokens the simulated console accepts: each with a scope (global, one account, one
site), a role and an expiry. Expired, revoked and unknown tokens all fail the same way a real
console fails them: 401 with code 4010010 (s1-api.md §1.4)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from s1uvm.simulator.timefmt import US_PER_DAY, now_us


@dataclass(slots=True)
class TokenSpec:
    """A token and the service user behind it. ``scope`` is ``global``, ``account`` or
    ``site``; ``scope_id`` picks which (default: the first one of that kind)."""

    value: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    scope: str = "global"
    scope_id: str | None = None
    role: str = "Viewer"
    created_us: int = field(default_factory=lambda: now_us() - 30 * US_PER_DAY)
    expires_us: int | None = field(default_factory=lambda: now_us() + 335 * US_PER_DAY)
    revoked: bool = False
    user_name: str = "s1uvm service user"
    email: str | None = None

    def __post_init__(self) -> None:
        if self.scope not in ("global", "account", "site"):
            raise ValueError(f"token scope must be global, account or site, not {self.scope!r}")

    def __repr__(self) -> str:  # the value is a secret, even in a simulator
        return (
            f"TokenSpec(scope={self.scope!r}, scope_id={self.scope_id!r}, role={self.role!r},"
            f" expires_us={self.expires_us!r}, revoked={self.revoked!r}, value=<redacted>)"
        )

    def valid(self, at_us: int) -> bool:
        return not self.revoked and (self.expires_us is None or at_us < self.expires_us)


def parse_header(value: str | None) -> str | None:
    """The token from ``Authorization: ApiToken <token>``; None when absent or another scheme."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "apitoken" or not token.strip():
        return None
    return token.strip()
