"""Property tests: arbitrary JSON never crashes a normaliser; every record ends up either as a
row or as a rejection with a reason — nothing is dropped, nothing raises."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s1uvm.connectors import AssetsConnector, Context, ThreatsConnector, VulnerabilitiesConnector
from s1uvm.connectors import normalise as n

CTX = Context("prop", "2025-08-22T00:00:00.000000Z")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
ids = st.one_of(
    st.text(alphabet="0123456789", min_size=18, max_size=19),
    st.integers(),
    st.none(),
    st.booleans(),
    st.text(max_size=5),
)
FIELDS = [
    "computerName",
    "networkInterfaces",
    "isDecommissioned",
    "lastActiveDate",
    "updatedAt",
    "serialNumber",
    "threatInfo",
    "agentRealtimeInfo",
    "cveId",
    "severity",
    "baseScore",
    "endpointId",
    "applicationVendor",
    "detectionDate",
    "lastScanDate",
]
records = st.fixed_dictionaries({"id": ids}, optional={f: json_values for f in FIELDS})


@pytest.mark.system
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(records, json_values), max_size=8))
def test_arbitrary_records_never_crash_a_page(items: list[Any]) -> None:
    raws = [msgspec.Raw(msgspec.json.encode(i)) for i in items]
    for connector in (AssetsConnector(), ThreatsConnector(), VulnerabilitiesConnector()):
        batch = connector.transform(raws, CTX)
        produced = len(batch.assets) + len(batch.findings) + len(batch.rejected)
        if isinstance(connector, VulnerabilitiesConnector):
            assert produced <= len(raws)  # several risks of one finding merge into one row
        else:
            assert produced == len(raws)
        assert all(r.reason for r in batch.rejected)


@given(json_values)
def test_coercions_are_total(value: Any) -> None:
    for fn in (n.text, n.decoded, n.flag, n.timestamp, n.mac, n.number, n.optional_ident):
        fn(value)  # never raises
    stamp = n.timestamp(value)
    assert stamp is None or (len(stamp) == 27 and stamp.endswith("Z"))


@given(
    # naive: only the digits are wanted; %Y writes four of them from the year 1000
    st.datetimes(min_value=datetime(1000, 1, 1)),  # noqa: DTZ001
    st.sampled_from(["", "."]),
    st.text("0123456789", min_size=1, max_size=9),
)
def test_the_usual_utc_form_is_read_as_the_general_parser_reads_it(
    moment: datetime, dot: str, digits: str
) -> None:
    """``timestamp`` keeps the usual form as it is instead of parsing it: the same result."""
    fraction = f".{digits}" if dot else ""
    for text in (f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}Z", f"{moment:%Y-%m-%dT%H:%M}:61Z"):
        assert n.timestamp(text) == n._timestamp(text)
