"""Property tests: arbitrary JSON never crashes a normaliser; every record ends up either as a
row or as a rejection with a reason — nothing is dropped, nothing raises."""

from __future__ import annotations

from typing import Any

import msgspec
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
