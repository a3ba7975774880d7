"""Timestamps as SentinelOne writes them, and the tolerant parser for its filters.

The simulator keeps every instant as integer microseconds since the epoch (exact, cheap to
compare) and renders it with the precision each real field uses: microseconds on most,
milliseconds padded to six digits on a few, whole seconds on some (``identifiedAt``,
``lastScanDate``, ``publishedDate``, ``osStartTime``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_S = 1_000_000
US_PER_HOUR = 3600 * US_PER_S
US_PER_DAY = 24 * US_PER_HOUR

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def from_datetime(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * US_PER_S + delta.microseconds


def iso_us(us: int) -> str:
    """``2022-04-06T08:45:54.519988Z`` — the common S1 form."""
    return to_datetime(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_ms(us: int) -> str:
    """``2025-08-21T20:02:22.450000Z`` — milliseconds written as six digits, as some S1 fields
    (``firstFullModeTime``, some ``identifiedAt``) arrive."""
    return iso_us(us // 1000 * 1000)


def iso_s(us: int) -> str:
    """``2025-01-04T14:31:43Z`` — fields S1 reports to the second."""
    return to_datetime(us).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> int:
    """Parse an ISO-8601 timestamp into microseconds; naive values are UTC.

    Raises ValueError for anything that is not a timestamp, which the API turns into a
    400 validation error.
    """
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    dt = datetime(
        int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC
    )
    us = from_datetime(dt)
    if frac:
        us += int((frac + "000000")[:6])
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        us -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60 * US_PER_S
    return us


def now_us() -> int:
    return from_datetime(datetime.now(UTC))
