"""The coercions behind every normaliser, on the quirks SentinelOne is known for."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from s1uvm.connectors import normalise as n


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-04-06T08:45:54.519988Z", "2022-04-06T08:45:54.519988Z"),
        ("2025-01-04T14:31:43Z", "2025-01-04T14:31:43.000000Z"),
        ("2025-08-21T21:19:29.000Z", "2025-08-21T21:19:29.000000Z"),
        ("2025-07-25", "2025-07-25T00:00:00.000000Z"),
        ("2025-01-04T16:31:43+02:00", "2025-01-04T14:31:43.000000Z"),
        ("2018-02-27T04:49:26.257525123Z", "2018-02-27T04:49:26.257525Z"),
        (True, None),  # a boolean in a timestamp field (demisto's 2.1 sample)
        ("", None),
        ("not a date", None),
        ("2025-13-45T00:00:00Z", None),
        (None, None),
        (1712345678, None),
    ],
)
def test_timestamps_of_every_precision_become_utc_microseconds(value: Any, expected: Any) -> None:
    assert n.timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("00-00-5E-00-53-00", "00:00:5e:00:53:00"),
        ("bc:24:11:b4:ad:14", "bc:24:11:b4:ad:14"),
        ("BC2411B4AD14", "bc:24:11:b4:ad:14"),
        ("00:00:00:00:00:00", None),
        ("", None),
        ("zz:zz:zz:zz:zz:zz", None),
        ("00-00-5E:00-53-00", None),
        (None, None),
    ],
)
def test_macs_are_lower_case_and_colon_separated(value: Any, expected: Any) -> None:
    assert n.mac(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("True", True),
        ("false", False),
        (" FALSE ", False),
        (0, False),
        (None, None),
        ("maybe", None),
    ],
)
def test_booleans_arrive_as_strings_too(value: Any, expected: Any) -> None:
    assert n.flag(value) is expected


def test_ids_stay_text_with_their_leading_zeros() -> None:
    assert n.ident("0000000000004733528", "id") == "0000000000004733528"
    assert n.ident(2162143406517023959, "id") == "2162143406517023959"
    for bad in (None, True, "", "12a", 1.5, {"id": 1}):
        with pytest.raises(n.Malformed):
            n.ident(bad, "id")


def test_html_entities_are_decoded_and_empty_means_none() -> None:
    assert n.decoded("Ubuntu Developers &lt;ubuntu-devel@lists.ubuntu.com&gt;") == (
        "Ubuntu Developers <ubuntu-devel@lists.ubuntu.com>"
    )
    assert n.decoded("AT&amp;T") == "AT&T"
    assert n.text("  ") is None
    assert n.text([]) is None


def test_scores_arrive_as_strings() -> None:
    assert n.number("7.00") == 7.0
    assert n.number(9.8) == 9.8
    assert n.number("n/a") is None
    assert n.number(True) is None
    assert n.number("-5") == -5.0


@pytest.mark.parametrize("value", ["nan", "NaN", "1e309", "-1e309", "inf", "Infinity"])
def test_a_number_that_is_not_finite_rejects_its_record(value: str) -> None:
    with pytest.raises(n.Malformed, match="a number is not finite"):
        n.number(value)


@pytest.mark.parametrize(("value", "score"), [("0", 0.0), ("10.0", 10.0), (9.8, 9.8), (None, None)])
def test_cvss_scores_within_0_to_10(value: object, score: float | None) -> None:
    assert n.cvss(value) == score


@pytest.mark.parametrize("value", ["-5", 10.01, "11", -0.1])
def test_a_cvss_score_outside_0_to_10_rejects_its_record(value: object) -> None:
    with pytest.raises(n.Malformed, match="a CVSS score is outside 0-10"):
        n.cvss(value)


def test_an_oversized_indexed_value_sets_its_record_aside_alone() -> None:
    """A host name or an id too long for a database index would fail the whole page (on
    PostgreSQL, every run): the record is rejected alone, with the reason."""
    from s1uvm.connectors.assets import AssetsConnector
    from s1uvm.connectors.base import Context

    good = msgspec.json.encode({"id": "1", "computerName": "pc-1"})
    long_name = msgspec.json.encode({"id": "2", "computerName": "x" * 20_000})
    long_id = msgspec.json.encode({"id": "9" * 500, "computerName": "pc-3"})
    batch = AssetsConnector().transform(
        [msgspec.Raw(good), msgspec.Raw(long_name), msgspec.Raw(long_id)],
        Context("c", "2026-06-01T00:00:00.000000Z"),
    )
    assert [a.agent_id for a in batch.assets] == ["1"]
    assert [r.reason for r in batch.rejected] == [
        "computerName is 20,000 characters long",
        "id is 500 digits long, not an id",
    ]
