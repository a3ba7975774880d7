"""A worker restarted with a new ``--every`` reschedules: each console not held is due again
that interval after its last run finished (a failed one sooner), on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from s1uvm.store import Store
from s1uvm.store._dialect import TS_FORMAT

DAY, HOUR = 86_400.0, 3_600.0


def row(store: Store, name: str) -> dict[str, str]:
    (found,) = [c for c in store.consoles() if c["console"] == name]
    return {k: store.dialect.ts_out(v) for k, v in found.items()}


def after(ts: str, seconds: float) -> str:
    start = datetime.strptime(ts, TS_FORMAT).replace(tzinfo=UTC)
    return (start + timedelta(seconds=seconds)).strftime(TS_FORMAT)


def seconds(ts: str) -> float:
    return datetime.strptime(ts, TS_FORMAT).replace(tzinfo=UTC).timestamp()


def finished(store: Store, name: str, next_in: float, outcome: str) -> dict[str, str]:
    leases = store.leases
    assert leases.acquire("w1", [name], 60) == name
    leases.release("w1", name, next_in=next_in, outcome=outcome)
    return row(store, name)


def test_a_new_interval_moves_the_due_times_both_ways(store: Store) -> None:
    leases = store.leases
    leases.register([("ok", "https://a"), ("bad", "https://b"), ("held", "https://c")])
    ok = finished(store, "ok", DAY, "success")
    bad = finished(store, "bad", 900, "failed")
    assert abs(seconds(ok["next_run_at"]) - seconds(after(ok["last_finished_at"], DAY))) < 1
    assert leases.acquire("w2", ["held"], 60) == "held"  # held by a running worker
    held = row(store, "held")

    assert leases.reschedule(["ok", "bad", "held"], HOUR, 900) == 1  # bad is already right
    assert row(store, "ok")["next_run_at"] == after(ok["last_finished_at"], HOUR)
    assert row(store, "bad")["next_run_at"] == bad["next_run_at"]
    assert row(store, "held") == held, "a console being synced is left alone"

    assert leases.reschedule(["ok", "bad"], 2 * DAY, 900) == 1  # longer: later again
    assert row(store, "ok")["next_run_at"] == after(ok["last_finished_at"], 2 * DAY)
    assert leases.reschedule(["ok", "bad"], 2 * DAY, 900) == 0  # nothing left to move
    assert leases.reschedule(["ok", "bad"], 60, 900) == 2  # a failed one: the sooner
    assert row(store, "bad")["next_run_at"] == after(bad["last_finished_at"], 60)


def test_stopped_and_never_run_consoles_stay_due_now(store: Store) -> None:
    leases = store.leases
    leases.register([("stopped", "https://a"), ("new", "https://b")])
    stopped = finished(store, "stopped", 0, "stopped")
    assert leases.reschedule(["stopped", "new"], HOUR, 900) == 0
    assert row(store, "stopped")["next_run_at"] == stopped["next_run_at"]
    assert row(store, "new")["next_run_at"] is None
