"""Reading a page whose envelope will not decode because of one of its records: JSON nested
deeper than a decoder goes, an escaped lone surrogate (``"\\ud800"``), a number beyond a double.
Rather than lose the page — on every run, as the same record comes back — its ``data`` array is
split into records by structure alone (strings, brackets and commas; no values are parsed), and
each record is then decoded on its own, so only the bad one is rejected.

A body that is broken as a whole (cut short, an HTML error page) does not split into a complete
array followed by a valid envelope, and is refused as before."""

from __future__ import annotations

import re

import msgspec

# A JSON string (escapes skipped whole), or one structural character.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]', re.DOTALL)


class Unsplittable(ValueError):
    """The body is not an envelope with a complete ``data`` array."""


def split_page(body: bytes | bytearray, nested: str | None) -> tuple[list[msgspec.Raw], bytes]:
    """The records of the list (``data``, or ``data.sites`` when ``nested``), each as its raw
    bytes, and the envelope with that list emptied (for its pagination)."""
    path = ("data", nested) if nested else ("data",)
    data = bytes(body)
    inside = len(path) + 1  # the depth of the list's own brackets
    depth = 0
    keys: list[str | None] = []  # the key each open container was reached by
    last_string: bytes | None = None
    key: str | None = None  # the key just read, while its value is awaited
    start = -1  # where the list's contents begin
    item_from = -1  # where the current record begins
    records: list[msgspec.Raw] = []
    for match in _TOKENS.finditer(data):
        token = match.group()
        pos = match.start()
        if token[:1] == b'"':
            last_string = token
        elif token == b":":
            key = _key(last_string)
        elif token in (b"{", b"["):
            keys.append(key if depth else None)
            key = None
            depth += 1
            if token == b"[" and start < 0 and depth == inside and tuple(keys[1:]) == path:
                start = item_from = match.end()
        elif token == b",":
            key = None
            if start >= 0 and depth == inside:
                _take(records, data[item_from:pos])
                item_from = match.end()
        else:  # a closing bracket
            if depth == 0:
                break
            if start >= 0 and depth == inside:
                _take(records, data[item_from:pos])
                return records, data[:start] + data[pos:]
            keys.pop()
            depth -= 1
            key = None
    raise Unsplittable("no complete list of records")


def _take(records: list[msgspec.Raw], piece: bytes) -> None:
    piece = piece.strip()
    if piece:
        records.append(msgspec.Raw(piece))


def _key(token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        key = msgspec.json.decode(token)
    except msgspec.DecodeError:
        return None
    return key if isinstance(key, str) else None
