"""A fresh SQLite store on a real file, in a folder the store has to create."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from s1uvm.store import Store, open_store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "s1uvm.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = open_store(db)
    yield s
    s.close()
