"""The dialect seam: one statement text for SQLite and PostgreSQL but for placeholders and
types, and values converted at the boundary. (Only SQLite runs here; these check the text.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from s1uvm.store._dialect import POSTGRES, SQLITE, TS_FORMAT, Dialect, utcnow
from s1uvm.store._migrations import MIGRATIONS, SCHEMA_VERSION


def test_an_upsert_updates_all_but_the_key_and_the_kept_columns() -> None:
    sql = SQLITE.upsert(
        "findings",
        ("finding_id", "title", "created_at", "first_seen_at"),
        ("finding_id",),
        keep=("created_at",),
        earliest=("first_seen_at",),
    )
    assert sql == (
        "INSERT INTO findings (finding_id, title, created_at, first_seen_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (finding_id) DO UPDATE SET title = excluded.title, first_seen_at = CASE "
        "WHEN findings.first_seen_at IS NULL OR excluded.first_seen_at < findings.first_seen_at "
        "THEN excluded.first_seen_at ELSE findings.first_seen_at END"
    )


def test_postgres_gets_the_same_text_with_its_placeholders() -> None:
    args = ("checkpoints", ("console", "connector", "scope", "value"), ("console", "connector"))
    assert POSTGRES.upsert(*args) == SQLITE.upsert(*args).replace("?", "%s")
    assert POSTGRES.sql("SELECT 1 WHERE a LIKE ? AND b = '%'") == (
        "SELECT 1 WHERE a LIKE %s AND b = '%%'"
    )
    assert SQLITE.sql("SELECT ?") == "SELECT ?"


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
def test_every_migration_renders_for_both_dialects(dialect: Dialect) -> None:
    steps = [s for m in MIGRATIONS for s in m]
    for statement in (SCHEMA_VERSION, *(s for s in steps if isinstance(s, str))):
        text = dialect.ddl(statement)
        assert not re.search(r"[{}?%]", text), text


def test_postgres_types_where_sqlite_has_text() -> None:
    contract = [s for s in MIGRATIONS[0] if isinstance(s, str)]
    assert len(contract) == len(MIGRATIONS[0])  # the first migration is SQL alone
    findings = POSTGRES.ddl(contract[3])
    assert "first_seen_at TIMESTAMPTZ" in findings
    assert "raw JSONB" in findings and "cvss_score DOUBLE PRECISION" in findings
    assert "finding_id TEXT PRIMARY KEY" in findings  # ids are text everywhere
    rejected = POSTGRES.ddl(contract[-1])
    assert "raw TEXT" in rejected  # a rejected record may not be JSON at all


def test_values_come_back_in_one_form() -> None:
    assert SQLITE.json_out('["a", "b"]') == ["a", "b"]
    assert SQLITE.json_out('{"cut') == '{"cut'  # not JSON: the text itself
    assert SQLITE.json_out(None) is None
    assert POSTGRES.json_out(["a"]) == ["a"]
    assert SQLITE.bool_out(1) is True and SQLITE.bool_out(0) is False
    assert SQLITE.bool_out(None) is None
    moment = datetime(2025, 6, 2, 6, 46, 51, 710569, tzinfo=timezone(timedelta(hours=2)))
    assert POSTGRES.ts_out(moment) == "2025-06-02T04:46:51.710569Z"
    assert POSTGRES.ts_out(moment.astimezone(UTC).replace(tzinfo=None)) == (
        "2025-06-02T04:46:51.710569Z"
    )
    assert SQLITE.ts_out("2025-06-02T04:46:51.710569Z") == "2025-06-02T04:46:51.710569Z"


def test_now_is_utc_text_with_microseconds() -> None:
    now = utcnow()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now)
    parsed = datetime.strptime(now, TS_FORMAT).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 5
