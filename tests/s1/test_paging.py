"""Cursor walks against the simulated console: complete, resumable, and robust to the
misbehaviours real consoles show (repeated cursors, empty pages with a cursor)."""

from __future__ import annotations

import json

import msgspec
import pytest

from s1uvm.s1 import S1Client, Walk
from s1uvm.simulator import Console


def ids_of(walk: Walk) -> list[str]:
    return [msgspec.json.decode(raw)["id"] for page in walk for raw in page.items]


def count(client: S1Client, path: str, **params: str) -> int:
    body = client.get(path, {"countOnly": "true", **params}, decode=json.loads)
    total: int = body["pagination"]["totalItems"]
    return total


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/threats", {}),
        ("/agents", {"isDecommissioned": "true,false"}),
        ("/application-management/risks", {}),
    ],
)
def test_a_walk_returns_every_record_once_and_ends_complete(
    client: S1Client, path: str, params: dict[str, str]
) -> None:
    walk = Walk(client, path, params, limit=37)
    ids = ids_of(walk)
    assert walk.complete and walk.end == "last-page"
    assert len(ids) == len(set(ids)) == count(client, path, **params) == walk.total
    assert walk.pages == -(-len(ids) // 37)


def test_sites_are_read_from_data_sites(client: S1Client, console: Console) -> None:
    walk = Walk(client, "/sites", {}, limit=3, nested="sites")
    assert len(ids_of(walk)) == len(console.world.sites if console.world else [])
    assert walk.complete


def test_a_walk_resumes_from_a_checkpointed_cursor(client: S1Client) -> None:
    first = Walk(client, "/threats", {"sortBy": "updatedAt"}, limit=10)
    pages = iter(first)
    head = [msgspec.json.decode(r)["id"] for r in next(pages).items]
    resume_at = next(pages).cursor
    rest = ids_of(Walk(client, "/threats", {"sortBy": "updatedAt"}, limit=10, cursor=resume_at))
    everything = ids_of(Walk(client, "/threats", {"sortBy": "updatedAt"}, limit=10))
    assert head + rest == everything


def test_repeated_cursors_and_empty_pages_are_survived(client: S1Client, console: Console) -> None:
    clean = ids_of(Walk(client, "/application-management/risks", {}, limit=50))
    console.set_faults("repeat-cursor:0.15,empty-page:0.15")
    walk = Walk(client, "/application-management/risks", {}, limit=50)
    assert sorted(set(ids_of(walk))) == sorted(clean)
    assert walk.complete


def test_a_console_stuck_on_one_cursor_ends_the_walk_incomplete(
    client: S1Client, console: Console
) -> None:
    console.set_faults("repeat-cursor:1.0")
    walk = Walk(client, "/threats", {}, limit=5)
    ids = ids_of(walk)
    assert walk.end == "repeated-cursor" and not walk.complete
    assert len(set(ids)) == 10  # the first page, and the page whose cursor came back


def test_endless_empty_pages_end_the_walk_incomplete(client: S1Client, console: Console) -> None:
    console.set_faults("empty-page:1.0")
    walk = Walk(client, "/threats", {}, limit=5)
    assert ids_of(walk) == []
    assert walk.end == "empty-page" and not walk.complete
