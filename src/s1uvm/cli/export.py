"""``s1uvm export``."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from s1uvm.cli._values import (
    FINDING_KINDS,
    LIFECYCLES,
    SEVERITIES,
    STATES,
    existing_database,
    one_of,
)
from s1uvm.cli.common import EXIT_SYNC, EXIT_USAGE, db_options, fail, guarded, settings
from s1uvm.export import FORMATS, MODES, ExportBusy, ExportError, export


def check_out(out: str) -> None:
    """Refuse an ``--out`` that cannot become the file, before anything is read."""
    path = Path(out).expanduser()
    if path.is_dir():
        fail(
            f"--out {out} is a folder; give a file name in it, e.g. {path / 'out.csv'}", EXIT_USAGE
        )
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                fail(f"--out {out}: {folder} is a file, not a folder", EXIT_USAGE)
            if not os.access(folder, os.W_OK | os.X_OK):
                fail(f"--out {out}: the folder {folder} is not writable by this user", EXIT_USAGE)
            return


@click.command("export")
@db_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="changes",
    show_default=True,
    help="changes: one event per change since the last export; state: everything now.",
)
@click.option(
    "--out",
    default="-",
    show_default=True,
    metavar="PATH",
    help="Output file, or - for stdout; may hold {date}, {time}, {datetime} (UTC).",
)
@click.option("--kind", metavar="LIST", help="vulnerability,threat,asset")
@click.option("--state", metavar="LIST", help="open,reopened,fixed,stale,archived,suppressed")
@click.option("--severity", metavar="LIST", help="critical,high,medium,low,info")
@click.option("--since", metavar="ISO-8601", help="Only changes (or findings seen) since then.")
@click.option(
    "--bookmark",
    metavar="NAME",
    help="Names the feed (default: one per format, output and filters).",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Exit 1 at once when another export is using the bookmark, instead of waiting.",
)
@click.option(
    "--csv-raw",
    is_flag=True,
    help="CSV cells exactly as stored: no ' before a leading = + - @ (see README).",
)
@guarded
def export_cmd(
    fmt: str,
    mode: str,
    out: str,
    kind: str | None,
    state: str | None,
    severity: str | None,
    since: str | None,
    bookmark: str | None,
    no_wait: bool,
    csv_raw: bool,
    **opts: Any,
) -> None:
    """Export findings and assets as OCSF 1.8.0, JSON Lines, CSV or Parquet."""
    from s1uvm.connectors.normalise import timestamp
    from s1uvm.store import open_store

    since_ts = None
    if since:
        since_ts = timestamp(since)
        if since_ts is None:
            fail(f"--since {since!r} is not an ISO-8601 timestamp", EXIT_USAGE)
    kind = one_of("--kind", kind, (*FINDING_KINDS, "asset"))
    state = one_of("--state", state, dict.fromkeys((*STATES, *LIFECYCLES)))
    severity = one_of("--severity", severity, SEVERITIES)
    if out != "-":
        check_out(out)
    cfg = settings(opts, need_console=False)
    store = open_store(existing_database(cfg.db))
    with _terminated_as_interrupt():
        try:
            result = export(
                store,
                fmt=fmt,
                mode=mode,
                out=out,
                kind=kind,
                state=state,
                severity=severity,
                since=since_ts,
                bookmark=bookmark,
                csv_raw=csv_raw,
                wait=not no_wait,
                on_wait=lambda name: click.echo(
                    f"s1uvm: waiting for another export using bookmark {name!r} to finish…",
                    err=True,
                ),
            )
        except ExportError as exc:
            fail(str(exc), EXIT_USAGE)
        except ExportBusy as exc:
            fail(str(exc), EXIT_SYNC)
        except BrokenPipeError:
            raise
        except OSError as exc:
            # The disk filled, the folder went away or is not ours to write: nothing was kept
            # (the file is written under a temporary name) and the bookmark did not move.
            where = out if out != "-" else "standard output"
            fail(
                f"cannot write {where}: {exc.strerror or exc}; free space or choose another "
                "--out (nothing half-written was kept)",
                EXIT_USAGE,
            )
        finally:
            store.close()
    if result.nothing_new:
        if result.previous_export:
            said = f"no new events since {result.previous_export} (the last export of bookmark"
        else:
            said = "no events yet (for bookmark"
        said += f" {result.bookmark!r})"
        if result.path is not None:
            kept = os.path.lexists(result.path)
            said += f"; {result.path} left as it was" if kept else "; nothing written"
        click.echo(f"s1uvm: {said}", err=True)
    elif result.path is not None:
        click.echo(f"{result.records:,} records written to {result.path}", err=True)


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a service stopping) ends the export as Ctrl-C does: through its
    clean-up, so no staging is left behind and the bookmark stays where it was."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
