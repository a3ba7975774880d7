"""Runs connectors: one ledger row per connector run, every page written together with its
checkpoint in one transaction, a restart from the checkpoint when the console drops a cursor,
and an honest outcome (a snapshot is complete only when every page arrived). Knows no SQL and
no HTTP beyond the client's public surface."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec

from s1uvm._memory import return_free_memory
from s1uvm.connectors import Connector, Context, make
from s1uvm.connectors.base import Batch, Plan, fmt
from s1uvm.model import AssetRow, FindingRow, Rejected
from s1uvm.s1 import (
    Fetcher,
    InvalidCursor,
    Page,
    PermissionDenied,
    S1Client,
    S1Error,
    Walk,
    site_ids,
)
from s1uvm.store._errors import LeaseLost

log = logging.getLogger("s1uvm.sync")
PARTITION_WORKERS = 4  # partitions of one snapshot fetched at once (all under one rate limit)
MAX_CURSOR_RESTARTS = 5  # a cursor expiring more often than this is not a passing fault
COUNTS = (
    "records",
    "pages",
    "created",
    "updated",
    "unchanged",
    "rejected",
    "fixed",
    "reopened",
    "stale",
    "archived",
)


class PageStore(Protocol):
    """What the sync engine needs from a store."""

    def start_run(self, console: str, connector: str, mode: str) -> int: ...

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        counts: dict[str, int],
        complete_snapshot: bool,
        error: str | None,
    ) -> None: ...

    def get_checkpoint(
        self, console: str, connector: str, scope: str = ""
    ) -> dict[str, Any] | None: ...

    def close_missing(
        self,
        run_id: int,
        console: str,
        scope: Mapping[str, str] | None = None,
        fence: str | None = None,
    ) -> Any: ...

    def close(self) -> None: ...

    def write_page(
        self,
        run_id: int,
        console: str,
        connector: str,
        *,
        assets: list[AssetRow] = ...,
        findings: list[FindingRow] = ...,
        rejected: list[Rejected] = ...,
        checkpoint: dict[str, Any] | None = None,
        scope: str = "",
        fence: str | None = None,
    ) -> Any: ...


@dataclass(slots=True)
class RunResult:
    console: str
    connector: str
    mode: str = ""
    outcome: str = "failed"  # success | partial | failed
    complete: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None  # the S1Error class name
    error_code: int = 1  # the error's exit code (s1uvm.Error.exit_code); 1 for no error type
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """What ``s1uvm sync`` exits with when this is its only run: 0 on success."""
        return 0 if self.outcome == "success" else self.error_code


class Progress(Protocol):
    def __call__(self, connector: str, records: int, total: int | None) -> None: ...


# How far the console's clock may run ahead of ours before the run's "now" is ours instead:
# checkpoints are capped at the run's now, and one from the future would skip every change
# until that time came.
CLOCK_AHEAD = timedelta(minutes=5)
CLOCK_BEHIND = timedelta(days=1)


def console_now(client: S1Client, local: datetime | None = None) -> str:
    """The run's "now": the console's clock (its Date header, asked for once) when it is sane
    — not ahead of ours by more than ``CLOCK_AHEAD``, nor behind by more than a day — else our
    own, with a warning."""
    if client.server_time is None:
        client.get("/system/info", decode=lambda b: None)
    mine = local or datetime.now(UTC)
    theirs = client.server_time
    if theirs is None:
        return fmt(mine)
    if not mine - CLOCK_BEHIND <= theirs <= mine + CLOCK_AHEAD:
        log.warning(
            "the console's clock says %s, this machine's %s: checkpoints follow this machine's",
            fmt(theirs)[:19],
            fmt(mine)[:19],
        )
        return fmt(mine)
    return fmt(theirs)


SCOPE_KEYS = ("siteIds", "accountIds")


def partitions(client: S1Client, plan: Plan) -> list[Plan]:
    """A snapshot that allows it, as independent partitions: one per site the token (within
    the console's scope filter) can see. Without partitions, the plan itself — split per scope
    id if the filter names several, as the endpoint takes one id per request."""
    if plan.partition is None:
        return [plan]
    scope = {k: v for k, v in plan.params.items() if k in SCOPE_KEYS}
    rest = {k: v for k, v in plan.params.items() if k not in SCOPE_KEYS}
    try:
        sites = site_ids(client, scope)
    except PermissionDenied:
        sites = []
    if len(sites) < 2 or not all(s.isdigit() for s in sites):
        # One site, or ids a filter would not take: walk per configured scope id, if any.
        sites = []
    if sites:
        pieces = [{plan.partition: site} for site in sites]
    else:
        pieces = [
            {key: one} for key, ids in scope.items() for one in str(ids).split(",") if one
        ] or [{}]
    return [dataclasses.replace(plan, params={**rest, **piece}, partition=None) for piece in pieces]


def announced_total(client: S1Client, plan: Plan) -> int | None:
    """How many records the plan's unpartitioned walk would return (``countOnly``)."""
    body = client.get(plan.path, {**plan.params, "countOnly": "true"}, decode=msgspec.json.decode)
    total = (body.get("pagination") or {}).get("totalItems") if isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def scope_key(scope: Mapping[str, str]) -> str:
    """The checkpoint scope of a console's filter: a changed filter starts afresh."""
    return "&".join(f"{k}={scope[k]}" for k in sorted(scope))


def _transformed(connector: Connector, ctx: Context, page: Page) -> tuple[Page, Batch]:
    """A page and its rows, made in the ``Fetcher``'s prepare thread."""
    return page, connector.transform(page.items, ctx)


def run_connector(
    store: PageStore,
    client: S1Client,
    connector: Connector,
    console: str,
    *,
    full: bool = False,
    inactive_days: int = 30,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    stop: Callable[[], bool] | None = None,
    scope: Mapping[str, str] | None = None,
    fence: str | None = None,
) -> RunResult:
    """One connector run. ``stop`` is asked after every committed page; when it says so, the
    run ends there as ``partial`` (its checkpoint committed with that page), so a worker told
    to shut down loses nothing and the next run resumes where this one stopped."""
    started = clock()
    result = RunResult(console, connector.name)
    counts = dict.fromkeys(COUNTS, 0)
    before = client.stats.snapshot()
    run_id: int | None = None
    try:
        ctx = Context(console, console_now(client), inactive_days, dict(scope or {}))
        where = scope_key(ctx.scope)
        checkpoint = store.get_checkpoint(console, connector.name, where)
        plan = connector.plan(checkpoint, full=full, ctx=ctx)
        result.mode = plan.mode
        run_id = store.start_run(console, connector.name, plan.mode)
        restarts = 0
        stopped = False
        parts = partitions(client, plan)
        # A snapshot read per site is complete only if the sites hold every record: one whose
        # endpoint is in no listed site would be missed, and its finding closed.
        single = all("," not in str(plan.params.get(k, "")) for k in SCOPE_KEYS)
        whole = (
            announced_total(client, plan) if len(parts) > 1 and plan.partition and single else None
        )
        while True:
            fetch = Fetcher(
                [Walk(client, p.path, p.params, limit=p.page_size, nested=p.nested) for p in parts],
                workers=PARTITION_WORKERS,
                prepare=functools.partial(_transformed, connector, ctx),
            )
            try:
                for page, batch in fetch:
                    checkpoint = (
                        connector.page_checkpoint(checkpoint, batch, plan, ctx) or checkpoint
                    )
                    written = store.write_page(
                        run_id,
                        console,
                        connector.name,
                        assets=batch.assets,
                        findings=batch.findings,
                        rejected=batch.rejected,
                        checkpoint=checkpoint if plan.mode != "snapshot" else None,
                        scope=where,
                        fence=fence,
                    )
                    counts["pages"] += 1
                    counts["records"] += len(page.items)
                    del page, batch  # written: not held while the next one is awaited
                    return_free_memory()
                    for key in ("created", "updated", "unchanged", "rejected", "fixed", "reopened"):
                        counts[key] += int(getattr(written, key, 0))
                    if progress is not None:
                        progress(connector.name, counts["records"], fetch.total)
                    if stop is not None and stop():
                        stopped = True
                        break
                covered = sum(w.total or 0 for w in fetch.walks)
                if not stopped and fetch.complete and whole is not None and covered < whole:
                    log.warning(
                        "%s/%s: the sites hold %d of %d records; reading them again in one walk",
                        console,
                        connector.name,
                        covered,
                        whole,
                    )
                    parts, whole = [dataclasses.replace(plan, partition=None)], None
                    continue
                break
            except InvalidCursor:
                # The console forgot our place: start again from the last checkpoint
                # (upserts make the re-read harmless; a snapshot simply starts over).
                restarts += 1
                if restarts > MAX_CURSOR_RESTARTS:
                    raise
                log.warning(
                    "%s/%s: cursor rejected; restarting from the checkpoint",
                    console,
                    connector.name,
                )
                plan = connector.plan(checkpoint, full=full, ctx=ctx)
                parts = partitions(client, plan)
            finally:
                fetch.close()
        complete = fetch.complete and not stopped
        result.complete = complete
        final = connector.final_checkpoint(checkpoint, plan, complete, ctx)
        store.write_page(
            run_id, console, connector.name, checkpoint=final, scope=where, fence=fence
        )
        if plan.mode == "snapshot" and complete:
            # Only a complete snapshot may close findings (model.md §6.3 rule 5).
            closed = store.close_missing(run_id, console, ctx.scope, fence=fence)
            for key in ("fixed", "stale", "archived"):
                counts[key] += int(getattr(closed, key, 0))
        result.outcome = "success" if complete else "partial"
        if stopped:
            result.error = "stopped before the end; the next run resumes from the checkpoint"
        elif not complete:
            result.error = f"the console stopped paging early ({fetch.end})"
    except LeaseLost as err:
        # Another run holds the console now: what this one wrote stays, the rest is theirs.
        result.error = str(err)
        result.outcome = "partial" if counts["pages"] else "failed"
    except S1Error as err:
        result.error = err.message
        result.error_type = type(err).__name__
        result.error_code = err.exit_code
        result.outcome = "partial" if counts["pages"] else "failed"
    finally:
        after = client.stats.snapshot()
        counts.update(
            {k: int(after[k] - before[k]) for k in ("requests", "retries", "throttled", "bytes")}
        )
        result.counts = counts
        result.seconds = clock() - started
        if run_id is not None:
            store.finish_run(
                run_id,
                result.outcome,
                counts,
                result.mode == "snapshot" and result.complete,
                result.error,
            )
    return result


def not_run(console: str, connectors: Sequence[str], err: S1Error) -> list[RunResult]:
    """The results of connectors that could not start (the token refused, the console out of
    reach before anything was asked): each failed, for the same reason."""
    return [
        RunResult(
            console,
            name,
            error=err.message,
            error_type=type(err).__name__,
            error_code=err.exit_code,
        )
        for name in connectors
    ]


def run_console(
    console: str,
    connectors: Sequence[str],
    *,
    open_store: Callable[[], PageStore],
    open_client: Callable[[], S1Client],
    full: bool = False,
    inactive_days: int = 30,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
    scope: Mapping[str, str] | None = None,
    fence: str | None = None,
) -> list[RunResult]:
    """The console's connectors side by side, each in its own thread with its own store
    connection and client (so each run's request figures are its own); the clients of one
    token share its rate limiter, so together they stay within the console's limits. Results
    come back in the order asked; an unexpected error (not the console's) is raised here."""
    results: dict[str, RunResult] = {}
    errors: list[BaseException] = []

    def one(name: str) -> None:
        try:
            store = open_store()
            try:
                with open_client() as client:
                    results[name] = run_connector(
                        store,
                        client,
                        make(name),
                        console,
                        full=full,
                        inactive_days=inactive_days,
                        progress=progress,
                        stop=stop,
                        scope=scope,
                        fence=fence,
                    )
            finally:
                store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,), name=f"sync-{n}") for n in connectors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [results[n] for n in connectors]
