"""Coercions shared by the normalisers: lenient about what SentinelOne sends (ids as numbers,
booleans as "True", timestamps of any precision or as booleans, HTML entities, MACs with
dashes) and strict about what we store (ids as text, ISO-8601 UTC with Z, lower-case MACs)."""

from __future__ import annotations

import functools
import html
import math
import re
from datetime import UTC, datetime
from typing import Any

_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# The form SentinelOne sends almost always (UTC, Z, 0/3/6 digits of fraction): kept as it is
# once its values are checked, instead of parsed and formatted again — a million risks carry a
# million different detection times, so no cache helps, and every record has several.
_UTC_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?Z", re.ASCII)
_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}$", re.I)


class Malformed(ValueError):
    """A record the normaliser cannot use; the message is the reason kept with it."""


def text(value: Any) -> str | None:
    """A non-empty string, or None (S1 uses both "" and null for 'nothing')."""
    if type(value) is str:  # nearly always: skip the checks below
        return value.strip() or None
    if value is None or isinstance(value, bool | dict | list):
        return None
    out = str(value).strip()
    return out or None


def decoded(value: Any) -> str | None:
    """Text with HTML entities decoded (``Ubuntu Developers &lt;…&gt;``)."""
    out = text(value)
    return html.unescape(out) if out and "&" in out else out


# The longest id and the longest indexed text a record may carry. Real SentinelOne ids have
# about 19 digits and host names at most 255 characters; a database index entry has a size
# limit (PostgreSQL's btree about 2.7 KB), and one oversized value must not fail a page.
MAX_ID = 64
MAX_INDEXED_TEXT = 1024


def ident(value: Any, field: str) -> str:
    """A required SentinelOne id, kept as text (leading zeros and all)."""
    if isinstance(value, bool) or value is None:
        raise Malformed(f"{field} is missing")
    if isinstance(value, int):
        out = str(value)
    elif isinstance(value, str) and value.strip().isdigit():
        out = value.strip()
    else:
        raise Malformed(f"{field} is not an id: {str(value)[:40]!r}")
    if len(out) > MAX_ID:
        raise Malformed(f"{field} is {len(out)} digits long, not an id")
    return out


def optional_ident(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        out = str(value)
    elif isinstance(value, str) and value.strip().isdigit():
        out = value.strip()
    else:
        return None
    if len(out) > MAX_ID:
        raise Malformed(f"an id is {len(out)} digits long")
    return out


def indexed(value: Any, field: str) -> str | None:
    """Text that the store indexes (a host name, a serial number, a CVE id): refused when
    longer than ``MAX_INDEXED_TEXT``, so the record is set aside instead of failing the page."""
    out = text(value)
    if out is not None and len(out) > MAX_INDEXED_TEXT:
        raise Malformed(f"{field} is {len(out):,} characters long")
    return out


def flag(value: Any) -> bool | None:
    """Booleans as S1 sends them: true, "True", "false", 1, null."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
    return None


def timestamp(value: Any) -> str | None:
    """ISO-8601 UTC with microseconds and Z, from any precision S1 uses; None for anything
    that is not a timestamp (S1 has been seen sending a boolean in a date field)."""
    if not isinstance(value, str):
        return None
    s = value.strip()
    m = _UTC_Z.fullmatch(s)
    if m is None:
        return _timestamp(s)
    try:
        datetime.fromisoformat(s[:19])  # the ranges: no 30 February, no hour 24
    except ValueError:
        return None
    return f"{s[:19]}.{(m.group(1) or '')[:6].ljust(6, '0')}Z"


@functools.lru_cache(maxsize=16_384)
def _timestamp(value: str) -> str | None:
    """Cached: one agent's risks share their scan and detection times, so a page repeats
    the same few strings hundreds of times."""
    s = value.strip()
    m = _TS.match(s)
    if m is None:
        d = _DATE.match(s)
        if d is None:
            return None
        return f"{d.group(1)}-{d.group(2)}-{d.group(3)}T00:00:00.000000Z"
    year, month, day, hh, mi, ss, frac, tz = m.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hh), int(mi), int(ss or 0), tzinfo=UTC)
    except ValueError:
        return None
    micro = int((frac or "0").ljust(6, "0")[:6])
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        dt = datetime.fromtimestamp(dt.timestamp() - offset * 60, UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{micro:06d}Z"
    )


def mac(value: Any) -> str | None:
    """``00-00-5E-00-53-00`` → ``00:00:5e:00:53:00``; None for junk and all-zero."""
    s = text(value)
    if s is None or not _MAC.match(s):
        return None
    digits = re.sub(r"[^0-9a-f]", "", s.lower())
    if digits == "0" * 12:
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def number(value: Any) -> float | None:
    """CVSS scores arrive as strings ("7.00"). Absent or not a number at all: None. A number
    that is not finite ("1e309", "NaN", "inf") is refused: it must never reach the database,
    where PostgreSQL stores infinity and then refuses it back."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(out):
        raise Malformed(f"a number is not finite: {str(value)[:40]!r}")
    return out


def cvss(value: Any) -> float | None:
    """A CVSS score: a number from 0 to 10, or None when absent."""
    out = number(value)
    if out is not None and not 0.0 <= out <= 10.0:
        raise Malformed(f"a CVSS score is outside 0-10: {str(value)[:40]!r}")
    return out


def unique(items: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
