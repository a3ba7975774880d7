"""The wire layer: talking to a SentinelOne console's Management API v2.1.

It knows HTTP, the auth header, retries, rate limits, cursor pages and the wire records; it
knows nothing of our model or the database.
"""

from s1uvm.s1._bounds import Bounds
from s1uvm.s1._client import API_PREFIX, S1Client, Stats
from s1uvm.s1._errors import (
    AuthenticationError,
    Body,
    DeadlineExceeded,
    InvalidCursor,
    MalformedResponse,
    PermissionDenied,
    RateLimited,
    RequestRejected,
    ResponseTooLarge,
    RunawayWalk,
    S1Error,
    ServerError,
    TLSError,
    TransportError,
)
from s1uvm.s1._fetch import Fetcher
from s1uvm.s1._paging import PAGE_SIZE, Page, Walk
from s1uvm.s1._ratelimit import RateLimiter, shared_limiter
from s1uvm.s1._retry import RetryPolicy
from s1uvm.s1._scope import site_ids
from s1uvm.s1._token import ApiToken, TokenError

__all__ = [
    "API_PREFIX",
    "PAGE_SIZE",
    "ApiToken",
    "AuthenticationError",
    "Body",
    "Bounds",
    "DeadlineExceeded",
    "Fetcher",
    "InvalidCursor",
    "MalformedResponse",
    "Page",
    "PermissionDenied",
    "RateLimited",
    "RateLimiter",
    "RequestRejected",
    "ResponseTooLarge",
    "RetryPolicy",
    "RunawayWalk",
    "S1Client",
    "S1Error",
    "ServerError",
    "Stats",
    "TLSError",
    "TokenError",
    "TransportError",
    "Walk",
    "shared_limiter",
    "site_ids",
]
