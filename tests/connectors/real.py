"""The real, redacted SentinelOne responses kept in tests/fixtures/real (provenance in its
README), one record per item."""

from __future__ import annotations

from pathlib import Path

import msgspec

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


def records(name: str) -> list[msgspec.Raw]:
    return msgspec.json.decode((REAL / name).read_bytes(), type=list[msgspec.Raw])
