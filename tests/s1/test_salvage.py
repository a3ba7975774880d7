"""A page whose envelope will not decode because of one record is split into its records, so
that record alone is rejected; a body broken as a whole is still refused."""

from __future__ import annotations

import msgspec
import pytest

from s1uvm.s1._paging import decode_page
from s1uvm.s1._salvage import Unsplittable, split_page

DEEP = b'{"id":"2","x":' + b"[" * 1000 + b"]" * 1000 + b"}"
SURROGATE = b'{"id":"3","name":"\\ud800"}'
TRICKY = b'{"id":"1","name":"a,]}\\"[{","n":[1,{"data":[5]}]}'


def page(*records: bytes, cursor: str = "c") -> bytes:
    return (
        b'{"data":['
        + b",".join(records)
        + b'],"pagination":{"nextCursor":"'
        + cursor.encode()
        + b'","totalItems":9}}'
    )


@pytest.mark.parametrize("bad", [DEEP, SURROGATE])
def test_one_unreadable_record_leaves_the_others_readable(bad: bytes) -> None:
    items, pagination = decode_page(page(TRICKY, bad, b" 7 "))
    assert [bytes(i) for i in items] == [TRICKY, bad, b"7"]
    assert (pagination.nextCursor, pagination.totalItems) == ("c", 9)
    assert msgspec.json.decode(items[0])["name"] == 'a,]}"[{'


def test_sites_are_split_under_data_sites() -> None:
    body = (
        b'{"data":{"allSites":{"activeLicenses":3},"sites":[{"id":"1"},' + SURROGATE + b"]},"
        b'"pagination":{"nextCursor":null}}'
    )
    items, pagination = decode_page(body, "sites")
    assert [bytes(i) for i in items] == [b'{"id":"1"}', SURROGATE]
    assert pagination.nextCursor is None


def test_an_empty_list_splits_into_nothing() -> None:
    assert split_page(b'{"data":[ ],"pagination":{}}', None) == ([], b'{"data":[],"pagination":{}}')


@pytest.mark.parametrize(
    "body",
    [
        page(TRICKY, SURROGATE)[:60],  # cut inside the list
        page(TRICKY, SURROGATE)[:-5],  # cut inside the pagination
        b"<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_a_body_broken_as_a_whole_is_still_refused(body: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_page(body)


def test_a_deep_envelope_is_a_decode_error_not_a_recursion_error() -> None:
    with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
        decode_page(b'{"data":' + b"[" * 5000)
    with pytest.raises(Unsplittable):
        split_page(b"]]", None)
