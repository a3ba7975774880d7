"""Shared helpers for the simulator's data tests: the real samples, an in-process client, full
cursor walks, and the field-path/type "shape" of JSON records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import msgspec

from s1uvm.simulator import Console, ConsoleTransport
from tests.connectors.real import REAL

EPOCH = 1_780_000_000_000_000  # 2026-05-28T20:26:40Z: fixed, so timestamps are reproducible
API = "/web/api/v2.1"

# The REST endpoints and the real sample of what each serves.
SAMPLES = {
    "threats": "threats_v21_elastic.json",
    "agents": "agents_v21_cribl_2025.json",
    "risks": "app_mgmt_risks_elastic_2025.json",
}
PATHS = {
    "threats": "/threats",
    "agents": "/agents",
    "risks": "/application-management/risks",
}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


def real(name: str) -> list[Any]:
    return list(msgspec.json.decode((REAL / SAMPLES[name]).read_bytes()))


@contextmanager
def client(console: Console) -> Iterator[httpx2.Client]:
    """The console through httpx2 in-process: the same request path as real HTTP."""
    with httpx2.Client(
        transport=ConsoleTransport(console),
        base_url="http://sim",
        headers={"Authorization": f"ApiToken {console.token}"},
    ) as c:
        yield c


class _RawPage(msgspec.Struct):
    data: list[msgspec.Raw]
    pagination: dict[str, Any]


def walk_raw(c: httpx2.Client, path: str, **params: str) -> list[bytes]:
    """Every record of a list endpoint, as the exact bytes served, following cursors."""
    out: list[bytes] = []
    cursor: str | None = None
    while True:
        q: dict[str, str | int] = {**params, "limit": 1000}
        if cursor:
            q["cursor"] = cursor
        r = c.get(f"{API}{path}", params=q)
        r.raise_for_status()
        page = msgspec.json.decode(r.content, type=_RawPage)
        out += [bytes(x) for x in page.data]
        cursor = page.pagination.get("nextCursor")
        if not cursor:
            return out


def walk(c: httpx2.Client, path: str, **params: str) -> list[dict[str, Any]]:
    return [msgspec.json.decode(b) for b in walk_raw(c, path, **params)]


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records}


def everything(console: Console) -> dict[str, list[dict[str, Any]]]:
    """All agents (decommissioned too), threats and risks the console serves now."""
    with client(console) as c:
        return {
            "agents": walk(c, "/agents", isDecommissioned="true,false"),
            "threats": walk(c, "/threats"),
            "risks": walk(c, "/application-management/risks"),
        }


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def paths(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) for every node, arrays written ``a[]``: ``networkInterfaces[].inet[]``."""
    if prefix:
        yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for item in value:
            yield from paths(item, f"{prefix}[]")


def shape(records: list[Any]) -> set[tuple[str, str]]:
    """Every (field path, JSON type) pair that occurs anywhere in the records."""
    return {(p, json_type(v)) for r in records for p, v in paths(r)}


def timestamps(record: Any) -> Iterator[tuple[str, str]]:
    """(path, value) of every string in the record that is an ISO-8601 timestamp."""
    for p, v in paths(record):
        if isinstance(v, str) and ISO.match(v):
            yield p, v
