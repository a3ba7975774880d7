"""A fresh store on each backend: a SQLite file in a folder the store has to create, and an
empty PostgreSQL schema. ``db`` is the SQLite path, for the tests about the file itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from s1uvm.store import Store, open_store
from tests.databases import BACKENDS, database


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "s1uvm.db"


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as where:
        yield where


@pytest.fixture
def store(target: str) -> Iterator[Store]:
    s = open_store(target)
    yield s
    s.close()
