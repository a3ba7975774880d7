"""``s1uvm export``."""

from __future__ import annotations

from typing import Any

import click

from s1uvm.cli.common import EXIT_USAGE, db_options, fail, guarded, settings
from s1uvm.export import FORMATS, MODES, ExportError, export


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
    cfg = settings(opts, need_console=False)
    store = open_store(cfg.db)
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
    finally:
        store.close()
    if out != "-":
        click.echo(f"{result.records:,} records written to {out}", err=True)
