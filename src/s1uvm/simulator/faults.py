"""Fault injection: ``--faults SPEC`` and the same from Python.

SPEC is a comma-separated list of items, each either a rate or a script:

* ``KIND:RATE[:ENDPOINT]`` — each request (to ENDPOINT, or any) suffers KIND with probability
  RATE, e.g. ``500:0.1,429:0.05,drop:0.02``;
* ``KIND@N[-M][:ENDPOINT]`` — exactly the N-th (to M-th) request suffers KIND, e.g.
  ``503@2-4:threats`` (requests are counted per endpoint, from 1).

Decisions hash (seed, kind, endpoint, request number), so they are the same in every run with
the same seed and request sequence, whatever other endpoints are doing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

KINDS = (
    "500",
    "502",
    "503",
    "429",
    "slow",
    "drop",
    "truncate",
    "repeat-cursor",
    "empty-page",
    "expire-cursor",
    *("gzip-bomb", "endless-body", "slow-body", "fresh-cursor"),
    *("deep-json", "surrogate", "nul", "non-finite"),
)
# Faults that need a page with a cursor to mean anything.
CURSOR_KINDS = ("repeat-cursor", "empty-page", "expire-cursor")
# Hostile records: one more record on a list page, with something no record should hold.
RECORD_KINDS = ("deep-json", "surrogate", "nul", "non-finite")


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FaultRule:
    kind: str
    rate: float = 0.0
    first: int = 0  # scripted: request numbers first..last (1-based); 0 = rate-based
    last: int = 0
    endpoint: str | None = None

    def hits(self, seed: int, endpoint: str, n: int) -> bool:
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        if self.first:
            return self.first <= n <= self.last
        if self.rate <= 0:
            return False
        digest = hashlib.blake2b(f"{seed}|{self.kind}|{endpoint}|{n}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2**64 < self.rate


def parse(spec: str | None) -> tuple[FaultRule, ...]:
    if not spec or not spec.strip():
        return ()
    rules = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "@" in item:
            kind, _, rest = item.partition("@")
            span, _, endpoint = rest.partition(":")
            lo, _, hi = span.partition("-")
            try:
                first, last = int(lo), int(hi or lo)
            except ValueError as exc:
                raise FaultSpecError(f"fault {item!r}: expected KIND@N or KIND@N-M") from exc
            if first < 1 or last < first:
                raise FaultSpecError(f"fault {item!r}: request numbers start at 1")
            rule = FaultRule(kind, first=first, last=last, endpoint=endpoint or None)
        else:
            kind, _, rest = item.partition(":")
            rate_text, _, endpoint = rest.partition(":")
            try:
                rate = float(rate_text)
            except ValueError as exc:
                raise FaultSpecError(f"fault {item!r}: expected KIND:RATE, e.g. 500:0.1") from exc
            if not 0 <= rate <= 1:
                raise FaultSpecError(f"fault {item!r}: rate must be between 0 and 1")
            rule = FaultRule(kind, rate=rate, endpoint=endpoint or None)
        if rule.kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {rule.kind!r}; known: {', '.join(KINDS)}")
        rules.append(rule)
    return tuple(rules)


def pick(
    rules: tuple[FaultRule, ...], seed: int, endpoint: str, n: int, has_cursor: bool
) -> str | None:
    """The fault for the n-th request to ``endpoint``, if any (the first matching rule wins)."""
    for rule in rules:
        if rule.kind in CURSOR_KINDS and not has_cursor and rule.kind != "empty-page":
            continue
        if rule.hits(seed, endpoint, n):
            return rule.kind
    return None
