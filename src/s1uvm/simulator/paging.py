"""Opaque keyset cursors.

A cursor names the last record a page returned by its sort key and id, so a walk that began
before records changed still returns every unchanged record exactly once. It is signed with a
secret derived from the seed: a restarted simulator with the same seed accepts the cursors of
the previous one (as a real console outlives its clients), and a forged or mangled cursor is
refused with the console's "Invalid cursor value received".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec

_MAC_BYTES = 8


class InvalidCursor(ValueError):
    pass


def secret_for(seed: int) -> bytes:
    return hashlib.sha256(f"s1uvm-simulator-cursor:{seed}".encode()).digest()


def encode(
    secret: bytes, endpoint: str, sort_by: str, descending: bool, value: Any, record_id: str
) -> str:
    """A cursor after the record (``value``, ``record_id``) of ``endpoint`` in this order.
    ``record_id`` "" with ``value`` None means "before everything" (an empty first page)."""
    payload = msgspec.json.encode([endpoint, sort_by, descending, value, record_id])
    mac = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


def decode(
    secret: bytes, cursor: str, endpoint: str, sort_by: str, descending: bool
) -> tuple[Any, str]:
    """Return (sort value, id) of the record the cursor points after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor(cursor) from exc
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    good = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, good):
        raise InvalidCursor(cursor)
    try:
        c_endpoint, c_sort, c_desc, value, record_id = msgspec.json.decode(payload)
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor(cursor) from exc
    if (
        c_endpoint != endpoint
        or c_sort != sort_by
        or c_desc != descending
        or not isinstance(record_id, str)
    ):
        # A cursor only means something on the endpoint and under the sort it was issued
        # for: elsewhere it would silently end a walk or restart it from the top.
        raise InvalidCursor(cursor)
    return value, record_id
