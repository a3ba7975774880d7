"""Bounds on what one response may cost: bytes on the wire, bytes once decompressed, and time
from the request to the last byte. A read timeout alone bounds none of these — a console may
send a gzip bomb, a body that never ends, or one byte every few seconds — and s1uvm runs
unattended, so a broken or hostile console must cost a failed connector, not the machine.

The defaults are far above any real page (the connectors ask for pages of about 1.5 MB), and
both can be raised through the environment for a console whose pages really are larger:
``S1UVM_MAX_RESPONSE_MB`` and ``S1UVM_REQUEST_DEADLINE`` (seconds)."""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from s1uvm.s1._errors import (
    Body,
    DeadlineExceeded,
    LimitError,
    MalformedResponse,
    ResponseTooLarge,
)

MIB = 1024 * 1024
MAX_BODY = 64 * MIB
DEADLINE_S = 300.0
# What we ask the console to compress with; anything else it sends is refused, since only
# these are decompressed here, under the bound.
ACCEPT_ENCODING = "gzip, deflate"
_ZLIB_ANY_HEADER = 32 + zlib.MAX_WBITS  # gzip or zlib framing, detected from the header


@dataclass(frozen=True, slots=True)
class Bounds:
    max_body: int = MAX_BODY  # bytes, on the wire and decompressed alike
    deadline: float = DEADLINE_S  # seconds per request, from sending to the last byte

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Bounds:
        env = os.environ if env is None else env
        return cls(
            max_body=int(_positive(env, "S1UVM_MAX_RESPONSE_MB", MAX_BODY / MIB) * MIB),
            deadline=_positive(env, "S1UVM_REQUEST_DEADLINE", DEADLINE_S),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise LimitError(f"{name}={text!r} is not a positive number; unset it or give e.g. 128")
    return value


class BodyReader:
    """Receives one response body within the bounds; ``read`` returns it whole."""

    def __init__(
        self,
        bounds: Bounds,
        where: str,
        started: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bounds = bounds
        self.where = where  # "https://host: GET /path", for the messages
        self.ends_at = started + bounds.deadline
        self.clock = clock

    def check_time(self) -> None:
        if self.clock() > self.ends_at:
            raise DeadlineExceeded(
                f"{self.where} took longer than {self.bounds.deadline:g} s in all (the console "
                "kept the answer trickling); check the console, or raise S1UVM_REQUEST_DEADLINE"
            )

    def too_large(self, what: str) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"{self.where}: the answer is larger than {self.bounds.max_body / MIB:g} MiB "
            f"{what}, far more than any real page; stopped reading (raise "
            "S1UVM_MAX_RESPONSE_MB only if this console's pages really are that large)"
        )

    def announced(self, length: str | None) -> int | None:
        """The Content-Length, refused at once when beyond the bound."""
        if length is None or not length.strip().isdigit():
            return None
        size = int(length)
        if size > self.bounds.max_body:
            raise self.too_large("(by its Content-Length)")
        return size

    def read(self, chunks: Iterable[bytes], encoding: str, length: int | None) -> Body:
        encoding = encoding.strip().lower() or "identity"
        if encoding == "identity":
            return self._plain(chunks, length)
        if encoding in ("gzip", "x-gzip", "deflate"):
            return self._inflate(chunks)
        raise MalformedResponse(
            f"{self.where}: the answer is compressed with {encoding[:40]!r}, which was not "
            f"asked for (only {ACCEPT_ENCODING})"
        )

    def _plain(self, chunks: Iterable[bytes], length: int | None) -> Body:
        # Received into one buffer of the announced size: joining chunks afterwards would hold
        # a page twice for a moment, on every request.
        if length is not None:
            buffer = bytearray(length)
            view = memoryview(buffer)
            received = 0
            try:
                for chunk in chunks:
                    view[received : received + len(chunk)] = chunk  # h11 refuses more
                    received += len(chunk)
                    self.check_time()
            finally:
                view.release()
            return buffer  # msgspec decodes it in place
        out = bytearray()
        for chunk in chunks:
            out += chunk
            if len(out) > self.bounds.max_body:
                raise self.too_large("(its body did not end)")
            self.check_time()
        return out

    def _inflate(self, chunks: Iterable[bytes]) -> Body:
        limit = self.bounds.max_body
        inflater = zlib.decompressobj(_ZLIB_ANY_HEADER)
        out = bytearray()
        wire = 0
        try:
            for chunk in chunks:
                wire += len(chunk)
                if wire > limit:
                    raise self.too_large("on the wire (its body did not end)")
                data = chunk
                # Never more than the room left (plus one byte to notice the excess): a few
                # kilobytes of a gzip bomb inflate to gigabytes in a single call otherwise.
                while data and not inflater.eof:
                    out += inflater.decompress(data, limit - len(out) + 1)
                    if len(out) > limit:
                        raise self.too_large("once decompressed")
                    data = inflater.unconsumed_tail
                self.check_time()
            out += inflater.flush()
        except zlib.error as exc:
            raise MalformedResponse(
                f"{self.where}: the compressed answer is corrupt ({exc})"
            ) from None
        if len(out) > limit:
            raise self.too_large("once decompressed")
        if not inflater.eof:
            raise MalformedResponse(f"{self.where}: the compressed answer ended early")
        return out
