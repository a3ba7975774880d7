"""Errors of the wire layer, classified from the HTTP status and SentinelOne's
``errors[].code`` (s1-api.md §1.4): which are fatal, which are worth a retry, and what the
user should do about each."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from s1uvm._errors import EXIT_AUTH, EXIT_NETWORK, EXIT_USAGE, Error

# A response body as received: a bytearray when read into a buffer of its announced size.
Body = bytes | bytearray


class S1Error(Error):
    """Base: one line that says what went wrong and what to fix."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.endpoint = endpoint


class AuthenticationError(S1Error):
    """401 4010010: invalid, expired or revoked token — the console does not say which."""

    exit_code: ClassVar[int] = EXIT_AUTH


class PermissionDenied(S1Error):
    """403: the token's role or scope cannot read this, or the feature is not licensed."""

    exit_code: ClassVar[int] = EXIT_AUTH


class InvalidCursor(S1Error):
    """400 "Invalid cursor value received": the walk must restart from its checkpoint."""


class RequestRejected(S1Error):
    """Another 4xx: the request itself is wrong (a bug, or a bad scope id in the config)."""


class RateLimited(S1Error):
    retryable = True
    retry_after: float | None = None  # seconds, when the console sent Retry-After


class ServerError(S1Error):
    retryable = True


class MalformedResponse(S1Error):
    """A body that is not the JSON the endpoint promises (truncated, HTML from a proxy…)."""

    retryable = True


class TransportError(S1Error):
    """The console could not be reached or the connection broke."""

    exit_code: ClassVar[int] = EXIT_NETWORK
    retryable = True


class TLSError(TransportError):
    """Certificate verification failed: never retried, never bypassed."""

    retryable = False


class ResponseTooLarge(TransportError):
    """A body larger, on the wire or decompressed, than any real page: a broken or hostile
    console. Not retried — it would only send the same again."""

    retryable = False


class DeadlineExceeded(TransportError):
    """A request that kept trickling past its total deadline (each read arrived in time)."""

    retryable = False


class LimitError(S1Error):
    """A bound set through the environment that is not a positive number (a usage error)."""

    exit_code: ClassVar[int] = EXIT_USAGE


class RunawayWalk(S1Error):
    """A cursor walk that went on far past the records the console announced."""


class _ErrorItem(msgspec.Struct):
    code: int | None = None
    title: str | None = None
    detail: str | None = None


class _ErrorBody(msgspec.Struct):
    errors: list[_ErrorItem] | None = None


def first_error(body: Body) -> _ErrorItem | None:
    try:
        parsed = msgspec.json.decode(body, type=_ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return parsed.errors[0] if parsed.errors else None


def classify(status: int, body: Body, endpoint: str) -> S1Error:
    """The error for a non-2xx response."""
    item = first_error(body)
    code = item.code if item else None
    detail = (item.detail or item.title) if item else None
    where = f"GET {endpoint}" if endpoint else "the console"
    kw: dict[str, Any] = {"status": status, "code": code, "endpoint": endpoint}
    if status == 401:
        return AuthenticationError(
            "the console rejected the API token (401): it is wrong, expired or revoked; "
            "create a new token for the service user and try again",
            **kw,
        )
    if status == 403:
        reason = f": {detail}" if detail else ""
        return PermissionDenied(f"the token may not read {endpoint} (403{reason})", **kw)
    if status == 429:
        return RateLimited(f"{where}: rate limited (429)", **kw)
    if status == 400 and detail and "cursor" in detail.lower():
        return InvalidCursor(f"{where}: {detail}", **kw)
    if status >= 500:
        return ServerError(
            f"{where}: the console answered {status}" + (f" ({detail})" if detail else ""), **kw
        )
    return RequestRejected(
        f"{where}: the console refused the request ({status}"
        + (f": {detail}" if detail else "")
        + ")",
        **kw,
    )
