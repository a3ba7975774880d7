"""``s1uvm export``."""

from __future__ import annotations

import os
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
from s1uvm.cli.common import EXIT_USAGE, db_options, fail, guarded, settings
from s1uvm.export import FORMATS, MODES, ExportError, export


def check_out(out: str) -> None:
    """Refuse an ``--out`` that cannot become the file, before anything is read."""
    path = Path(out).expanduser()
    if path.is_dir():
        fail(
            f"--out {out} is a folder; give a file name in it, e.g. {path / 'out.csv'}", EXIT_USAGE
        )
    if path.exists() and not path.is_file():
        # Renaming the finished file over a device or a pipe would replace it, not write to it.
        fail(f"--out {out} is not a regular file; give a file path, or - for stdout", EXIT_USAGE)
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
    "--out", default="-", show_default=True, metavar="PATH", help="Output file, or - for stdout."
)
@click.option("--kind", metavar="LIST", help="vulnerability,threat,asset")
@click.option("--state", metavar="LIST", help="open,reopened,fixed,stale,archived,suppressed")
@click.option("--severity", metavar="LIST", help="critical,high,medium,low,info")
@click.option("--since", metavar="ISO-8601", help="Only changes (or findings seen) since then.")
@click.option(
    "--bookmark",
    metavar="NAME",
    help="Names the changes bookmark (default: one per format and output).",
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
        )
    except ExportError as exc:
        fail(str(exc), EXIT_USAGE)
    except BrokenPipeError:
        raise
    except OSError as exc:
        # The disk filled, the folder went away or is not ours to write: nothing was kept
        # (the file is written under a temporary name) and the bookmark did not move.
        where = out if out != "-" else "standard output"
        fail(
            f"cannot write {where}: {exc.strerror or exc}; free space or choose another --out "
            "(nothing half-written was kept)",
            EXIT_USAGE,
        )
    finally:
        store.close()
    if out != "-":
        click.echo(f"{result.records:,} records written to {out}", err=True)
