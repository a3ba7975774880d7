"""What a broken or hostile console sends, for the fault kinds that test a client's bounds and
its record-level isolation: a gzip bomb, one more record on a page holding something no record
should (JSON nested a thousand deep, a lone surrogate, a NUL, a number beyond a double)."""

from __future__ import annotations

import functools
import struct
import zlib

import msgspec

BOMB_MIB = 1024  # decompressed size of the gzip bomb; about 1 MB on the wire
DEPTH = 1000
_MIB = 1024 * 1024
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@functools.cache
def gzip_bomb(mib: int = BOMB_MIB) -> bytes:
    """A valid gzip stream of ``mib`` MiB of zeros. Each MiB is compressed alone after a full
    flush, so its deflate block is the same bytes every time and is repeated rather than
    compressed again (1 GiB in half a second instead of eight)."""
    zeros = bytes(_MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflate.compress(zeros)
    deflate.flush(zlib.Z_FULL_FLUSH)  # the first block may differ; the second onwards do not
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    final = b"\x03\x00"  # an empty final block
    trailer = struct.pack("<II", crc, (mib * _MIB) & 0xFFFFFFFF)
    return _GZIP_HEADER + block * mib + final + trailer


HOSTILE_ID = "900000000000000001"


def hostile_record(kind: str, template: bytes) -> bytes:
    """One more record with the hostile value of ``kind``, the same on every page and run (so
    a client can be seen keeping it once). On a page of risks (``template`` has a
    ``baseScore``), a non-finite score in an otherwise good risk."""
    if kind == "non-finite" and b'"baseScore"' in template:
        # The string form a console sends; it parses as infinity.
        risk = {"id": HOSTILE_ID, "cveId": "CVE-2024-0001", "baseScore": "1e309"}
        return msgspec.json.encode(risk)
    value = {
        "deep-json": b"[" * DEPTH + b"]" * DEPTH,
        "surrogate": b'"\\ud800"',
        "nul": b'"a\\u0000b"',
        "non-finite": b"1e309",
    }[kind]
    return b'{"id":"' + HOSTILE_ID.encode() + b'","computerName":' + value + b"}"
