"""``check``, ``sync``, ``status``, ``assets``, ``findings``."""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import click

from s1uvm._text import csv_cell, terminal
from s1uvm.check import Report, check, expiry_warning
from s1uvm.cli._values import (
    FINDING_KINDS,
    LIFECYCLES,
    SEVERITIES,
    STATES,
    existing_database,
    one_of,
)
from s1uvm.cli.common import (
    EXIT_AUTH,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SYNC,
    console_options,
    db_options,
    guarded,
    run_options,
    settings,
)
from s1uvm.config import ConsoleConfig
from s1uvm.s1 import AuthenticationError, TransportError
from s1uvm.store._leases import Holder
from s1uvm.sync import RunResult, not_run, run_console

MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def print_report(report: Report) -> None:
    click.echo(terminal(f"{report.console}  {report.url}"))
    for item in report.items:
        click.echo(f"  [{MARK[item.status]}] {terminal(item.what)}: {terminal(item.detail)}")


@click.command("check")
@console_options
@guarded
def check_cmd(**opts: Any) -> None:
    """Test the connection: URL, TLS, token, scope and role, expiry, and what each connector
    can read."""
    cfg = settings(opts)
    code = EXIT_OK
    for console in cfg.consoles:
        # A connection test answers quickly: one retry, not the patient sync policy.
        with console.client(attempts=2) as client:
            report = check(console, client)
        print_report(report)
        code = code or report.exit_code
    sys.exit(code)


def _open(db: str) -> Any:
    from s1uvm.store import open_store

    return open_store(db)


def summary_line(r: RunResult) -> str:
    c = r.counts
    rate = c.get("records", 0) / r.seconds if r.seconds > 0 else 0.0
    text = (
        f"{r.console}/{r.connector}: {r.outcome} ({r.mode}) — {c.get('records', 0):,} "
        f"records in {c.get('pages', 0)} pages, {c.get('created', 0):,} new, "
        f"{c.get('updated', 0):,} changed, {c.get('fixed', 0):,} fixed, "
        f"{c.get('reopened', 0):,} reopened, {c.get('stale', 0):,} stale, "
        f"{c.get('rejected', 0):,} rejected; "
        f"{c.get('requests', 0)} requests, {c.get('retries', 0)} retries, "
        f"{r.seconds:.1f}s ({rate:,.0f}/s)"
    )
    if r.error:
        text += f"; {r.error}"
    return terminal(text)


def sync_consoles(
    cfg_consoles: Iterable[ConsoleConfig],
    db: str,
    *,
    full: bool,
    quiet: bool = False,
    inactive_days: int = 30,
    wait: bool = True,
    rescope: bool = False,
    stop: Callable[[], bool] | None = None,
) -> list[RunResult]:
    """Each console in turn: its identity checked and recorded, its lease held (waiting for a
    run already going, unless ``wait`` is False), its connectors run side by side. ``stop``
    ends the runs at their next page (Ctrl-C): what was read is kept, the runs are partial."""
    from s1uvm.cli.progress import progress_for
    from s1uvm.identity import establish
    from s1uvm.lease import holding
    from s1uvm.s1 import site_ids

    stopping = stop or (lambda: False)
    store = _open(db)
    results: list[RunResult] = []
    try:
        for console in cfg_consoles:
            if stopping():
                break
            with console.client() as client:
                try:
                    rescoped, warning = establish(store, console, client, rescope=rescope)
                except (AuthenticationError, TransportError) as err:
                    click.echo(terminal(f"s1uvm: {console.name}: {err.message}"), err=True)
                    results += not_run(console.name, console.connectors, err)
                    continue
                if warning:
                    click.echo(terminal(f"s1uvm: warning: {console.name}: {warning}"), err=True)
                with holding(
                    lambda: _open(db),
                    console.name,
                    console.url,
                    wait=wait,
                    on_wait=functools.partial(_waiting, console.name),
                    stop=stopping,
                ) as held:
                    if held is None:
                        break
                    if rescoped:
                        gone = store.archive_out_of_scope(
                            console.name, site_ids(client, console.scope)
                        )
                        click.echo(
                            terminal(
                                f"{console.name}: scope changed; {gone:,} findings outside it "
                                "archived as out of scope"
                            ),
                            err=quiet,
                        )
                    with progress_for(quiet) as progress:
                        done = run_console(
                            console.name,
                            console.connectors,
                            open_store=lambda: _open(db),
                            open_client=console.client,
                            full=full,
                            inactive_days=inactive_days,
                            progress=progress,
                            scope=console.scope,
                            stop=lambda: stopping() or held.lost,
                            fence=held.owner,
                        )
                        for result in done:
                            progress.done(result.connector)
                    held.outcome = _outcome(done)
                for result in done:
                    click.echo(summary_line(result), err=quiet)
                results += done
    finally:
        store.close()
    return results


def _waiting(name: str, holder: Holder) -> None:
    since = f" at {holder.since[:19]}Z" if holder.since else ""
    click.echo(
        terminal(f"s1uvm: waiting for the sync of {name} started by {holder.owner}{since}"),
        err=True,
    )


def _outcome(results: list[RunResult]) -> str:
    if results and all(r.outcome == "success" for r in results):
        return "success"
    return "failed" if all(r.outcome == "failed" for r in results) else "partial"


def sync_exit_code(results: list[RunResult]) -> int:
    failed = [r for r in results if r.outcome != "success"]
    if not failed:
        return EXIT_OK
    if any(r.error_type == "AuthenticationError" for r in failed):
        return EXIT_AUTH  # a token that no longer works is what to fix first
    codes = {r.exit_code for r in failed}
    if len(failed) == len(results) and len(codes) == 1:
        return codes.pop()
    return EXIT_SYNC


class _Interrupts:
    """Ctrl-C during a sync: the first stops the runs at their next page (kept, partial,
    resumable); the second stops at once — the runs of this process are recorded aborted and
    its leases handed back, then it exits 130."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            click.echo(
                "s1uvm: stopping after the current page (Ctrl-C again to stop at once)", err=True
            )
            return
        click.echo("s1uvm: stopped at once; the runs are recorded as aborted", err=True)
        with contextlib.suppress(Exception):
            store = _open(self.db)
            try:
                store.abandon_runs()
            finally:
                store.close()
        os._exit(EXIT_INTERRUPTED)

    def stop(self) -> bool:
        return self.count > 0


@click.command("sync")
@console_options
@run_options
@click.option("--full", is_flag=True, help="Ignore checkpoints: read everything again.")
@click.option("--all", "all_consoles", is_flag=True, help="Every console in the config file.")
@click.option("--no-wait", is_flag=True, help="Exit 1 at once when another run holds the console.")
@click.option(
    "--rescope",
    is_flag=True,
    help="Accept a changed URL or token scope for this console name; findings outside the "
    "new scope are archived as out of scope.",
)
@guarded
def sync_cmd(
    connectors: str | None,
    full: bool,
    inactive_days: int,
    all_consoles: bool,
    no_wait: bool,
    rescope: bool,
    **opts: Any,
) -> None:
    """Pull the enabled connectors into the store; a summary per connector."""
    cfg = settings(opts, connectors=connectors, all_consoles=all_consoles)
    interrupts = _Interrupts(cfg.db)
    previous = signal.signal(signal.SIGINT, interrupts)
    try:
        results = sync_consoles(
            cfg.consoles,
            cfg.db,
            full=full,
            inactive_days=inactive_days,
            wait=not no_wait,
            rescope=rescope,
            stop=interrupts.stop,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupts.stop():
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(sync_exit_code(results))


@click.command("status")
@db_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@guarded
def status_cmd(as_json: bool, **opts: Any) -> None:
    """Last run, outcome, counts and checkpoint per connector; where the database is."""
    cfg = settings(opts, need_console=False)
    store = _open(existing_database(cfg.db))
    try:
        runs = store.last_runs()
        for run in runs:
            # A run recorded as running whose console nobody holds any more (its process was
            # killed) is not running: it is shown as what it is.
            if run.get("outcome") == "running" and store.leases.holder(run["console"]) is None:
                run["outcome"] = "aborted"
                run["error"] = "its process ended before the run finished"
        counts = store.counts()
        consoles = store.consoles()
        location = store.location
    finally:
        store.close()
    if as_json:
        report = {"database": location, "consoles": consoles, "runs": runs, "counts": counts}
        click.echo(json.dumps(report, default=str, indent=2))
        return
    click.echo(terminal(f"database: {location}"))
    now = datetime.now(UTC)
    for c in consoles:
        expiry = c.get("token_expires_at")
        note = expiry_warning(expiry, now) or (
            f"token valid until {expiry[:10]}" if expiry else "token expiry unknown"
        )
        click.echo(
            terminal(
                f"console {c['console']}: {c['url']} (scope {c.get('scope') or '?'}, "
                f"role {c.get('role') or '?'}); {note}; {_schedule(c)}"
            )
        )
    if not runs:
        click.echo("no sync has run yet: s1uvm sync --url ... (see s1uvm check)")
    for r in runs:
        click.echo(
            terminal(
                f"{r.get('console')}/{r.get('connector')}: {r.get('outcome')} "
                f"({r.get('mode')}), started {r.get('started_at')}, finished "
                f"{r.get('finished_at')}, {r.get('records') or 0} records"
                + _lifecycle_counts(r.get("counts") or {})
                + (", complete snapshot" if r.get("complete_snapshot") else "")
                + (f"; error: {r.get('error')}" if r.get("error") else "")
                + (f"; checkpoint {json.dumps(r.get('checkpoint'))}" if r.get("checkpoint") else "")
            )
        )
    click.echo("counts: " + json.dumps(counts, default=str))


def _schedule(c: dict[str, Any]) -> str:
    """Who holds the console and when it last succeeded (workers), in a few words."""
    parts = [f"last success {c.get('last_success_at') or 'never'}"]
    if c.get("lease_owner"):
        parts.append(f"held by {c['lease_owner']} until {c.get('lease_expires_at')}")
    elif c.get("next_run_at"):
        parts.append(f"next due {c['next_run_at']}")
    if c.get("last_outcome") and c.get("last_outcome") != "success":
        parts.append(f"last run {c['last_outcome']}")
    return ", ".join(parts)


def _lifecycle_counts(counts: dict[str, Any]) -> str:
    parts = [
        f"{counts[k]} {label}"
        for k, label in (
            ("created", "new"),
            ("updated", "changed"),
            ("fixed", "fixed"),
            ("reopened", "reopened"),
            ("stale", "stale"),
            ("archived", "archived"),
            ("rejected", "rejected"),
        )
        if counts.get(k)
    ]
    return f" ({', '.join(parts)})" if parts else ""


ASSET_COLUMNS = (
    "asset_id",
    "hostname",
    "os_type",
    "os_name",
    "site_name",
    "lifecycle",
    "last_active_at",
    "agent_id",
)
FINDING_COLUMNS = (
    "kind",
    "severity",
    "state",
    "hostname",
    "title",
    "cve_id",
    "first_seen_at",
    "last_seen_at",
    "source_id",
)


def emit(
    rows: Iterator[dict[str, Any]], fmt: str, columns: tuple[str, ...], csv_raw: bool = False
) -> int:
    """Stream rows to stdout as a table, JSON array or CSV; returns how many. Table cells have
    their control characters escaped, CSV cells that a spreadsheet would run as a formula are
    neutralised unless ``csv_raw`` (``_text``); JSON escapes control characters itself."""
    n = 0
    out = sys.stdout
    if fmt == "json":
        out.write("[")
        for row in rows:
            out.write(("," if n else "") + "\n" + json.dumps(row, default=str))
            n += 1
        out.write("\n]\n" if n else "]\n")
        return n
    if fmt == "csv":
        writer: Any = None
        for row in rows:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row), extrasaction="ignore")
                writer.writeheader()
            cell = _cell if csv_raw else _safe_cell
            writer.writerow({k: cell(v) for k, v in row.items()})
            n += 1
        return n
    out.write("  ".join(f"{c:<16}" for c in columns).rstrip() + "\n")
    for row in rows:
        out.write(
            "  ".join(f"{terminal(_cell(row.get(c)))[:40]:<16}" for c in columns).rstrip() + "\n"
        )
        n += 1
    return n


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _safe_cell(value: Any) -> Any:
    return csv_cell(_cell(value))


def _output_options(func: Any) -> Any:
    for decorate in reversed(
        [
            click.option("--host", metavar="TEXT", help="Hostname contains TEXT."),
            click.option(
                "--console", "console_filter", metavar="NAME", help="Only this console's."
            ),
            click.option("--limit", type=click.IntRange(min=0), help="At most this many rows."),
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["table", "json", "csv"]),
                default="table",
                show_default=True,
            ),
            click.option(
                "--csv-raw",
                is_flag=True,
                help="CSV cells exactly as stored: no ' before a leading = + - @ (see README).",
            ),
        ]
    ):
        func = decorate(func)
    return func


@click.command("assets")
@db_options
@click.option("--state", metavar="LIST", help="Lifecycle: active,inactive,retired,superseded")
@_output_options
@guarded
def assets_cmd(
    state: str | None,
    host: str | None,
    console_filter: str | None,
    limit: int | None,
    fmt: str,
    csv_raw: bool,
    **opts: Any,
) -> None:
    """List assets (endpoints) with their lifecycle."""
    state = one_of("--state", state, LIFECYCLES)
    cfg = settings(opts, need_console=False)
    store = _open(existing_database(cfg.db))
    try:
        rows = store.query_assets(console=console_filter, host=host, lifecycle=state, limit=limit)
        emit(rows, fmt, ASSET_COLUMNS, csv_raw)
    finally:
        store.close()


@click.command("findings")
@db_options
@click.option("--kind", "kind_filter", metavar="KIND", help="vulnerability or threat")
@click.option("--state", metavar="LIST", help="open,reopened,fixed,stale,archived,suppressed")
@click.option("--severity", metavar="LIST", help="critical,high,medium,low,info")
@click.option("--cve", metavar="CVE", help="One CVE id.")
@_output_options
@guarded
def findings_cmd(
    kind_filter: str | None,
    state: str | None,
    severity: str | None,
    cve: str | None,
    host: str | None,
    console_filter: str | None,
    limit: int | None,
    fmt: str,
    csv_raw: bool,
    **opts: Any,
) -> None:
    """List findings (vulnerabilities and threats) joined to their endpoints."""
    kind_filter = one_of("--kind", kind_filter, FINDING_KINDS)
    state = one_of("--state", state, STATES)
    severity = one_of("--severity", severity, SEVERITIES)
    cfg = settings(opts, need_console=False)
    store = _open(existing_database(cfg.db))
    try:
        rows = store.query_findings(
            kind=kind_filter,
            state=state,
            severity=severity,
            host=host,
            cve=cve,
            console=console_filter,
            limit=limit,
        )
        emit(rows, fmt, FINDING_COLUMNS, csv_raw)
    finally:
        store.close()


EXIT = EXIT_SYNC  # re-exported for the demo
