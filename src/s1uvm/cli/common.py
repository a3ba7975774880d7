"""What every console- or database-facing command shares: the options of design.md, loading
settings, exit codes, and turning any failure into one line on stderr (a traceback only with
``--debug``)."""

from __future__ import annotations

import functools
import getpass
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from s1uvm._errors import (
    EXIT_AUTH,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_SYNC,
    EXIT_USAGE,
    Error,
)
from s1uvm._text import terminal
from s1uvm.config import Settings, load
from s1uvm.s1 import (
    AuthenticationError,
    PermissionDenied,
    TLSError,
    TransportError,
)

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(error: BaseException | None) -> int:
    """The documented exit code of a failure: its type's, for s1uvm's own errors; 1 for
    anything else (a sync that failed for a reason no error type names)."""
    return error.exit_code if isinstance(error, Error) else EXIT_SYNC


def fail(message: str, code: int) -> NoReturn:
    click.echo(terminal(f"s1uvm: {message}"), err=True)
    sys.exit(code)


def console_options(func: F) -> F:
    """--url, --token-file, --db, --config, --ca-bundle, --debug, in design.md's order."""
    decorators = [
        click.option("--url", metavar="URL", help="Console URL (or S1_URL)."),
        click.option(
            "--token-file",
            type=click.Path(dir_okay=False),
            metavar="PATH",
            help="File holding the API token (or S1_API_TOKEN; never a flag value).",
        ),
        click.option("--db", metavar="PATH|URL", help="Database (or S1UVM_DB)."),
        click.option("--config", metavar="PATH", help="TOML config file (or S1UVM_CONFIG)."),
        click.option("--ca-bundle", metavar="PATH", help="CA bundle (or SSL_CERT_FILE)."),
        click.option(
            "--console",
            "console_name",
            metavar="NAME",
            help="Which console: a name from the config file, or the name to keep this URL's "
            "data under (default: the URL's host, with the port when not 443).",
        ),
        click.option("--debug", is_flag=True, help="Tracebacks and request logs (no token)."),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def run_options(func: F) -> F:
    """--connectors and --inactive-days: what a sync runs, for ``sync`` and ``worker``."""
    decorators = [
        click.option(
            "--connectors", metavar="LIST", help="Comma list: threats,vulnerabilities,assets"
        ),
        click.option(
            "--inactive-days",
            type=click.IntRange(1, 3650),
            default=30,
            show_default=True,
            help="An endpoint not seen for this long is 'inactive'.",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def db_options(func: F) -> F:
    for decorate in reversed(
        [
            click.option("--db", metavar="PATH|URL", help="Database (or S1UVM_DB)."),
            click.option("--config", metavar="PATH", help="TOML config file (or S1UVM_CONFIG)."),
            click.option("--debug", is_flag=True, help="Tracebacks (no token)."),
        ]
    ):
        func = decorate(func)
    return func


def _prompt() -> str:
    return getpass.getpass("SentinelOne API token (input hidden): ")


def settings(
    opts: dict[str, Any],
    *,
    need_console: bool = True,
    connectors: str | None = None,
    all_consoles: bool = False,
) -> Settings:
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    loaded = load(
        url=opts.get("url"),
        token_file=opts.get("token_file"),
        db=opts.get("db"),
        config=opts.get("config"),
        ca_bundle=opts.get("ca_bundle"),
        connectors=connectors,
        prompt=_prompt if interactive else None,
        need_console=need_console,
        console=opts.get("console_name"),
        all_consoles=all_consoles,
    )
    for warning in loaded.warnings:
        click.echo(terminal(f"s1uvm: warning: {warning}"), err=True)
    return loaded


class _Neutral(logging.Formatter):
    """A log line's message with control characters escaped (a traceback, in --debug, keeps
    its own lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal(super().formatMessage(record))


def guarded(func: F) -> F:
    """One line on stderr and the documented exit code for every expected failure."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug"))
        if debug:
            logging.basicConfig(
                level=logging.DEBUG,
                stream=sys.stderr,
                format="%(asctime)s %(name)s %(levelname)s %(message)s",
            )
            for noisy in ("httpcore2", "httpx2", "asyncio"):
                logging.getLogger(noisy).setLevel(logging.INFO)
        else:
            logging.basicConfig(
                level=logging.WARNING, stream=sys.stderr, format="s1uvm: %(message)s"
            )
        for handler in logging.getLogger().handlers:
            # Log lines quote what consoles sent (error details, cursors): no instructions
            # for the terminal among them.
            formatter = handler.formatter
            if type(handler) is logging.StreamHandler and type(formatter) is logging.Formatter:
                handler.setFormatter(_Neutral(formatter._fmt))
        try:
            return func(*args, **kwargs)
        except Error as exc:
            if debug:
                raise
            fail(str(exc), exc.exit_code)
        except sqlite3.Error as exc:
            if debug:
                raise
            if getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
                # Damage found mid-file by a query, not at opening: no disk space helps.
                fail(
                    f"the database is damaged ({exc}); restore it from a backup, or move it "
                    "aside and sync again into a new one",
                    EXIT_USAGE,
                )
            # A full disk, a read-only file, I/O trouble: the page in flight was rolled back.
            fail(
                f"the database could not be written ({exc}); free disk space or fix --db, "
                "then run again — nothing half-written was kept",
                EXIT_USAGE,
            )
        except KeyboardInterrupt:
            if debug:
                raise
            # Ctrl-C (or SIGTERM, for an export): every write is one transaction or a
            # temporary file, so nothing half-done was kept and no bookmark moved.
            fail("interrupted; nothing half-written was kept", EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, as Unix tools do. Nothing was
            # committed for the unfinished output (an export's bookmark did not move).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_SYNC)
        except Exception as exc:
            if debug:
                raise
            fail(
                f"internal error ({type(exc).__name__}: {exc}); please report it — "
                "--debug shows the traceback",
                EXIT_SYNC,
            )

    return wrapper  # type: ignore[return-value]


__all__ = [
    "EXIT_AUTH",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_SYNC",
    "EXIT_USAGE",
    "AuthenticationError",
    "PermissionDenied",
    "TLSError",
    "TransportError",
    "console_options",
    "db_options",
    "exit_code_for",
    "fail",
    "guarded",
    "run_options",
    "settings",
]
