"""The library's one verb: sync a console into a store from Python, as ``s1uvm sync`` does it
on the command line, without the command line's printing or exit codes."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from s1uvm.config import load
from s1uvm.identity import establish
from s1uvm.lease import holding
from s1uvm.s1 import AuthenticationError, TransportError, site_ids
from s1uvm.store import open_store
from s1uvm.sync import RunResult, not_run, run_console

log = logging.getLogger("s1uvm")


def sync_console(
    url: str,
    token: str,
    db: str | os.PathLike[str],
    *,
    connectors: Sequence[str] | None = None,
    full: bool = False,
    ca_bundle: str | os.PathLike[str] | None = None,
    inactive_days: int = 30,
    console: str | None = None,
    wait: bool = True,
    rescope: bool = False,
) -> list[RunResult]:
    """Sync one console's connectors (default: all three) into the database ``db`` — a SQLite
    path or a ``postgresql://`` URL, created and migrated as needed — and return one result
    per connector, in the order asked.

    The URL, token and connectors are checked as the command line checks them, and only
    these arguments count: no environment variable or config file is read. A mistake raises
    a ``s1uvm.Error`` subclass before anything is fetched; a connector the console fails
    comes back as a result whose ``outcome`` is ``"failed"`` or ``"partial"``, with
    ``error`` and ``exit_code`` saying why. The token's expiry is recorded for ``status``
    and, when it is near, logged as a warning on the ``s1uvm`` logger.

    As on the command line, the data is kept under ``console`` (default: the URL's host, with
    the port when not 443), whose identity (URL and token scope) must match its record
    (``rescope`` accepts a change), and the sync holds the console's lease: it waits for a
    run already going (``wait=False``: ``ConsoleBusy`` instead)."""
    names = (
        connectors if connectors is None or isinstance(connectors, str) else ",".join(connectors)
    )
    settings = load(
        url=url,
        db=os.fspath(db),
        ca_bundle=os.fspath(ca_bundle) if ca_bundle is not None else None,
        connectors=names,
        env={"S1_API_TOKEN": token},
        console=console,
    )
    (target,) = settings.consoles
    with open_store(settings.db) as store, target.client() as client:
        try:
            rescoped, warning = establish(store, target, client, rescope=rescope)
        except (AuthenticationError, TransportError) as err:
            # Nothing can be synced: each connector's result says why, as a failed run would.
            return not_run(target.name, target.connectors, err)
        if warning:
            log.warning("%s: %s", target.name, warning)
        with holding(lambda: open_store(settings.db), target.name, target.url, wait=wait) as held:
            assert held is not None  # no stop was asked for while waiting
            if rescoped:
                store.archive_out_of_scope(target.name, site_ids(client, target.scope))
            results = run_console(
                target.name,
                target.connectors,
                open_store=lambda: open_store(settings.db),
                open_client=target.client,
                full=full,
                inactive_days=inactive_days,
                scope=target.scope,
                stop=lambda: held.lost,
                fence=held.owner,
            )
            held.outcome = "success" if all(r.outcome == "success" for r in results) else "partial"
    return results
