"""``s1uvm simulator serve``: the simulated console over real HTTP(S)."""

from __future__ import annotations

import json
import sys
from datetime import UTC
from pathlib import Path

import click

from s1uvm.simulator import (
    Console,
    FaultSpecError,
    SimConfig,
    SimulatorServer,
    TLSUnavailable,
    TokenSpec,
)
from s1uvm.simulator.endpoints import DataFileError
from s1uvm.simulator.timefmt import from_datetime


@click.group()
def simulator() -> None:
    """The built-in simulated SentinelOne console."""


def _load_tokens(path: Path) -> list[TokenSpec]:
    """Tokens from a JSON list of {"token", "scope", "scopeId", "role", "expiresAt"}."""
    from s1uvm.simulator.timefmt import parse_iso

    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"--tokens {path}: {exc}") from None
    if not isinstance(items, list) or not items:
        raise click.UsageError(f"--tokens {path}: expected a non-empty JSON list of tokens")
    out = []
    for item in items:
        spec = TokenSpec(
            scope=item.get("scope", "global"),
            scope_id=item.get("scopeId"),
            role=item.get("role", "Viewer"),
            revoked=bool(item.get("revoked")),
        )
        if item.get("token"):
            spec.value = str(item["token"])
        if "expiresAt" in item:
            spec.expires_us = parse_iso(item["expiresAt"]) if item["expiresAt"] else None
        out.append(spec)
    return out


@simulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, help="Port; 0 picks a free one.")
@click.option("--seed", default=1, show_default=True, help="Seed: same seed, same world.")
@click.option("--agents", default=200, show_default=True, help="Number of agents.")
@click.option("--accounts", default=2, show_default=True)
@click.option("--sites-per-account", default=2, show_default=True)
@click.option("--groups-per-site", default=2, show_default=True)
@click.option(
    "--threats-per-agent",
    default=0.5,
    show_default=True,
    help="Mean threats per agent (most agents have none).",
)
@click.option(
    "--risks-per-agent",
    default=12.0,
    show_default=True,
    help="Mean vulnerabilities per agent (skewed).",
)
@click.option(
    "--epoch",
    "epoch",
    default=None,
    metavar="ISO-8601",
    help="Simulated 'now' at start (default: the current minute).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Serve agents.json, threats.json and risks.json from DIR as given.",
)
@click.option("--tls", is_flag=True, help="HTTPS with a generated CA (its path is printed).")
@click.option("--rate-limits", is_flag=True, help="Enforce SentinelOne's per-endpoint limits.")
@click.option("--no-retry-after", is_flag=True, help="Send 429s without Retry-After.")
@click.option("--faults", default="", metavar="SPEC", help="e.g. 500:0.1,429:0.05,drop:0.02")
@click.option("--latency-ms", default=0.0, show_default=True, help="Added to every request.")
@click.option(
    "--slow-seconds", default=75.0, show_default=True, help="How long a 'slow' fault stalls."
)
@click.option(
    "--tokens",
    "tokens_file",
    type=click.Path(exists=True, path_type=Path),
    help="JSON list of tokens (scope, scopeId, role, expiresAt); first is printed.",
)
@click.option(
    "--no-vulnerabilities",
    is_flag=True,
    help="Act as a console without the vulnerability feature (risks → 403).",
)
def serve(
    host: str,
    port: int,
    seed: int,
    agents: int,
    accounts: int,
    sites_per_account: int,
    groups_per_site: int,
    threats_per_agent: float,
    risks_per_agent: float,
    epoch: str | None,
    data_dir: Path | None,
    tls: bool,
    rate_limits: bool,
    no_retry_after: bool,
    faults: str,
    latency_ms: float,
    slow_seconds: float,
    tokens_file: Path | None,
    no_vulnerabilities: bool,
) -> None:
    """Run the simulated console. The first stdout line is {"url", "token", "ca_bundle"}."""
    from datetime import datetime

    from s1uvm.simulator.timefmt import parse_iso

    epoch_us = None
    if epoch:
        try:
            epoch_us = parse_iso(epoch)
        except ValueError:
            raise click.BadParameter(
                "expected an ISO-8601 timestamp", param_hint="--epoch"
            ) from None
    config = SimConfig(
        seed=seed,
        agents=agents,
        accounts=accounts,
        sites_per_account=sites_per_account,
        groups_per_site=groups_per_site,
        threats_per_agent=threats_per_agent,
        risks_per_agent=risks_per_agent,
        epoch_us=epoch_us,
        data_dir=data_dir,
        rate_limits=rate_limits,
        retry_after=not no_retry_after,
        faults=faults,
        latency_ms=latency_ms,
        slow_seconds=slow_seconds,
        vulnerabilities_licensed=not no_vulnerabilities,
    )
    if tokens_file is not None:
        config.tokens = _load_tokens(tokens_file)
    try:
        console = Console(config)
        server = SimulatorServer(console, host=host, port=port, tls=tls)
    except (FaultSpecError, DataFileError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    except TLSUnavailable as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        click.echo(f"s1uvm: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        sys.exit(4)
    click.echo(json.dumps(server.banner()), nl=True)
    sys.stdout.flush()
    state = console.state()
    now = datetime.fromtimestamp(from_datetime(datetime.now(UTC)) / 1e6, UTC)
    click.echo(
        f"simulated console ready at {server.url} ({state['mode']}, "
        f"{json.dumps(state.get('counts', {}))}); started {now:%H:%M:%SZ}; Ctrl-C stops",
        err=True,
    )
    server.run()
