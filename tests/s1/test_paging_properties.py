"""Property test: whatever a console answers — any JSON, any envelope, any cursor sequence — a
walk either finishes (complete or not) or raises one of the wire layer's own errors. It never
crashes and never loops forever."""

from __future__ import annotations

import json
from typing import Any

import httpx2
from hypothesis import given, settings
from hypothesis import strategies as st

from s1uvm.s1 import ApiToken, RateLimiter, RetryPolicy, S1Client, S1Error, Walk

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
cursors = st.one_of(st.none(), st.just(""), st.sampled_from(["a", "b", "c"]), st.integers())
pages = st.one_of(
    st.fixed_dictionaries(
        {
            "data": st.lists(anything, max_size=3),
            "pagination": st.fixed_dictionaries(
                {"nextCursor": cursors},
                optional={"totalItems": st.one_of(st.integers(), st.none())},
            ),
        }
    ),
    st.fixed_dictionaries({}, optional={"data": anything, "pagination": anything}),
    anything,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(pages, st.binary(max_size=20)), min_size=1, max_size=12))
def test_arbitrary_answers_never_crash_a_walk(answers: list[Any]) -> None:
    served = iter(answers)

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = next(served, {"data": [], "pagination": {"nextCursor": None}})
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx2.Response(200, content=raw)

    with S1Client(
        "https://t.sentinelone.net",
        ApiToken("x" * 20),
        limiter=RateLimiter(),
        retry=RetryPolicy(attempts=2, base=0.0, cap=0.0),
        transport=httpx2.MockTransport(handler),
        sleep=lambda _s: None,
    ) as client:
        walk = Walk(client, "/threats", {}, limit=3)
        try:
            pages_seen = sum(1 for _ in walk)
        except S1Error:
            return
        assert walk.end in ("last-page", "empty-page", "repeated-cursor")
        assert pages_seen <= len(answers) + 1
