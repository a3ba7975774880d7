"""The HTTP client for one console and one token: auth header, timeouts, TLS always verified,
no redirects followed (a redirect to another host must never carry the token), rate limiting
shared per token, and the retry policy. Everything above it sees bytes or classified errors."""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx2
import msgspec

from s1uvm import __version__
from s1uvm.s1._bounds import ACCEPT_ENCODING, BodyReader, Bounds
from s1uvm.s1._errors import (
    Body,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    S1Error,
    TLSError,
    TransportError,
    classify,
)
from s1uvm.s1._ratelimit import RateLimiter, endpoint_of, shared_limiter
from s1uvm.s1._retry import RetryPolicy, parse_retry_after
from s1uvm.s1._token import ApiToken

API_PREFIX = "/web/api/v2.1"
log = logging.getLogger("s1uvm.s1")
T = TypeVar("T")


@dataclass(slots=True)
class Stats:
    """What the client did, for a run's figures. Counted under a lock: a connector's
    partitions share one client from several threads."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429s received
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "bytes": self.bytes,
            }


@functools.lru_cache(maxsize=8)
def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One verifying context per CA bundle, shared by every client (each connector has its
    own): loading the trust store costs megabytes, and a context may be shared by threads."""
    context = (
        ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    )
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _verifying(ca_bundle: str | None) -> ssl.SSLContext:
    try:
        return _tls_context(ca_bundle)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TLSError(
            f"the CA bundle {ca_bundle} holds no certificate TLS can use ({_short(exc)}); "
            "give the PEM file of the console's CA"
        ) from None


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


class S1Client:
    """A small public surface: ``get``/``post`` with decoding, and ``paginate``."""

    def __init__(
        self,
        url: str,
        token: ApiToken,
        *,
        timeout: float = 60.0,
        ca_bundle: str | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        bounds: Bounds | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.bounds = bounds or Bounds.from_env()
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or shared_limiter(token.fingerprint())
        self.stats = Stats()
        self.server_time: datetime | None = None  # the console's clock, from its Date header
        self._sleep = sleep
        self._http = httpx2.Client(
            base_url=self.url + API_PREFIX,
            headers={
                "Authorization": f"ApiToken {token.reveal()}",
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": f"s1uvm/{__version__}",
            },
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 15.0)),
            verify=_verifying(ca_bundle),
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"S1Client(url={self.url!r}, token=<redacted>)"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> S1Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------
    def get(
        self, path: str, params: dict[str, Any] | None = None, *, decode: Callable[[Body], T]
    ) -> T:
        return self.request("GET", path, params=params, decode=decode)

    def post(self, path: str, body: Any, *, decode: Callable[[Body], T]) -> T:
        return self.request("POST", path, json_body=msgspec.json.encode(body), decode=decode)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: bytes | None = None,
        decode: Callable[[Body], T],
    ) -> T:
        """Send, retrying what is worth retrying, and decode the 2xx body with ``decode``.

        A body ``decode`` cannot read (truncated JSON, an HTML error page) counts as a
        transient failure and is retried like a 5xx.
        """
        endpoint = endpoint_of(path)
        attempt = 0
        while True:
            attempt += 1
            self.limiter.acquire(endpoint)
            retry_after: float | None = None
            try:
                body = self._send(method, path, params, json_body)
                self.limiter.success(endpoint)
                try:
                    return decode(body)
                except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                    raise MalformedResponse(
                        f"{method} {path}: the console sent a body that is not the expected "
                        f"JSON ({_short(exc)})",
                        endpoint=path,
                    ) from None
            except S1Error as err:
                if isinstance(err, RateLimited):
                    self.stats.count("throttled")
                    self.limiter.throttled(endpoint)
                    retry_after = err.retry_after
                if not err.retryable or attempt >= self.retry.attempts:
                    raise
                wait = self.retry.delay(attempt, retry_after)
                self.stats.count("retries")
                log.info(
                    "%s %s failed (%s); retry %d in %.1fs", method, path, err.message, attempt, wait
                )
                self._sleep(wait)

    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, json_body: bytes | None
    ) -> Body:
        self.stats.count("requests")
        headers = {"Content-Type": "application/json"} if json_body is not None else None
        reader = BodyReader(self.bounds, f"{self.url}: {method} {path}", time.monotonic())
        try:
            with self._http.stream(
                method, path, params=params, content=json_body, headers=headers
            ) as response:
                body = _read_body(response, reader)
        except httpx2.TimeoutException as exc:
            raise TransportError(
                f"{self.url}: no answer in time ({type(exc).__name__})", endpoint=path
            ) from None
        except httpx2.TransportError as exc:
            if _is_tls_failure(exc):
                raise TLSError(
                    f"TLS verification of {self.url} failed ({_short(exc)}); if the console uses "
                    "a private CA, pass its bundle with --ca-bundle or SSL_CERT_FILE",
                    endpoint=path,
                ) from None
            raise TransportError(
                f"cannot reach {self.url}: {_short(exc)}; check the Server URL and the network",
                endpoint=path,
            ) from None
        self.stats.count("bytes", len(body))
        date = response.headers.get("date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = parsedate_to_datetime(date).astimezone(UTC)
        log.debug(
            "%s %s %s → %d (%d bytes)", method, path, params or "", response.status_code, len(body)
        )
        status = response.status_code
        if 200 <= status < 300:
            return body
        if 300 <= status < 400:
            where = response.headers.get("location", "elsewhere")
            raise RequestRejected(
                f"{self.url} redirected {path} to {where}; use the console's own URL as the "
                "Server URL (redirects are not followed, so the token never leaves that host)",
                status=status,
                endpoint=path,
            )
        err = classify(status, body, path)
        if isinstance(err, RateLimited):
            err.retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise err


def _read_body(response: httpx2.Response, reader: BodyReader) -> Body:
    """The body, within the bounds (``_bounds``). A response built in memory by a test double
    has been read (and decoded) already."""
    if response.is_stream_consumed:
        body = response.content
        if len(body) > reader.bounds.max_body:
            raise reader.too_large("")
        return body
    length = reader.announced(response.headers.get("content-length"))
    return reader.read(
        response.iter_raw(), response.headers.get("content-encoding", "identity"), length
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
