"""The real, redacted SentinelOne responses in ../shared/fixtures/real, one record per item."""

from __future__ import annotations

from pathlib import Path

import msgspec

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real"


def records(name: str) -> list[msgspec.Raw]:
    return msgspec.json.decode((REAL / name).read_bytes(), type=list[msgspec.Raw])
