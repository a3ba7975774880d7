"""The API token as a secret: normalised once, never shown in a repr, a log or an exception."""

from __future__ import annotations

import hashlib
import hmac

from s1uvm._errors import UsageError


class TokenError(UsageError, ValueError):
    """The token text cannot be a SentinelOne API token; the message says what to fix."""


class ApiToken:
    """A SentinelOne API token. ``str()``/``repr()`` are redacted; ``reveal()`` is the one way
    to the value, used only to build the ``Authorization`` header."""

    __slots__ = ("_value",)

    def __init__(self, text: str) -> None:
        value = text.strip()
        head, _, rest = value.partition(" ")
        if head.lower() == "apitoken":  # pasted together with its header scheme
            value = rest.strip()
        if not value:
            raise TokenError("the API token is empty")
        if any(c.isspace() for c in value):
            raise TokenError("the API token contains whitespace or a line break; paste it again")
        if not value.isprintable() or not value.isascii():
            raise TokenError("the API token contains characters a token cannot have")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A short, non-reversible id: lets state be shared per token without storing it."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiToken) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        return "ApiToken(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("ApiToken cannot be pickled")
