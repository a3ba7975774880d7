"""The sync benchmark: ``python -m bench`` (see docs/benchmark.md).

For each scenario it starts ``s1uvm simulator serve`` in its own process, runs the download-only
baseline (``bench.download``: the same requests, bodies discarded), then ``s1uvm sync`` into a
fresh database, then ``s1uvm sync`` again with nothing changed. It reports, per connector:
records, requests, wall seconds, records/s, and the ratio of sync to download throughput; per
sync process: CPU seconds and peak resident memory; and 429s received. With the simulator's
rate limits it also reports the bound those limits impose (pages ÷ allowed rate of the slowest
endpoint, the connectors running side by side) and the sync's wall time against it.

Scenarios: ``small`` (about 1,000 agents, 20,000 risks, 1,000 threats) and ``large`` (100,000
agents, 1,000,000 risks, 20,000 threats), each unthrottled, with rate limits, and (large) with
200 ms latency on every request; each unthrottled one, and the large rate-limited one, also on
PostgreSQL when a server is reachable. The table goes to stdout, the figures as JSON to
``bench/results/``, and with ``--markdown docs/benchmark.md`` the tables replace the generated
part of that page (between its ``bench:begin`` and ``bench:end`` markers), so the published
figures are always a run's output, never edited by hand."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from s1uvm.simulator.ratelimit import LIMITS
from s1uvm.store import open_store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_URL = os.environ.get("S1UVM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
PATHS = {  # connector → the simulator's rate-limit key of its endpoint
    "assets": "agents",
    "threats": "threats",
    "vulnerabilities": "risks",
}
SIZES = {
    # agents, risks per agent, threats per agent
    "small": (1_000, 20.0, 1.0),
    "large": (100_000, 10.0, 0.2),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    size: str
    rate_limits: bool = False
    latency_ms: float = 0.0
    db: str = "sqlite"


def scenarios(sizes: list[str], postgres: bool) -> list[Scenario]:
    out: list[Scenario] = []
    for size in sizes:
        out.append(Scenario(f"{size}", size))
        if postgres:
            out.append(Scenario(f"{size}-postgresql", size, db="postgresql"))
        out.append(Scenario(f"{size}-rate-limited", size, rate_limits=True))
        if size == "large" and postgres:
            out.append(
                Scenario(f"{size}-rate-limited-postgresql", size, rate_limits=True, db="postgresql")
            )
        if size == "large":
            out.append(
                Scenario(f"{size}-rate-limited-200ms", size, rate_limits=True, latency_ms=200)
            )
    return out


@dataclass
class Simulator:
    """``s1uvm simulator serve`` in its own process."""

    scenario: Scenario
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    token: str = ""
    startup_s: float = 0.0

    def __enter__(self) -> Simulator:
        agents, risks, threats = SIZES[self.scenario.size]
        args = [
            *(sys.executable, "-m", "s1uvm", "simulator", "serve", "--seed", "1"),
            *("--agents", str(agents), "--risks-per-agent", str(risks)),
            *("--threats-per-agent", str(threats)),
            *("--latency-ms", str(self.scenario.latency_ms)),
        ]
        if self.scenario.rate_limits:
            args.append("--rate-limits")
        started = time.perf_counter()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        banner = json.loads(self.proc.stdout.readline())
        self.startup_s = time.perf_counter() - started
        self.url, self.token = banner["url"], banner["token"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)


def child_env(token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S1_", "S1UVM_"))}
    env.update({"S1_API_TOKEN": token, **extra})
    return env


def measured(args: list[str], env: dict[str, str]) -> tuple[str, dict[str, float]]:
    """Run a child to completion: its stdout, wall seconds, CPU seconds and peak RSS (MB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:5])} failed ({proc.returncode}): {err.decode()}")
    return out.decode(), {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # KB on Linux
    }


def download(sim: Simulator) -> dict[str, Any]:
    out, proc = measured([sys.executable, "-m", "bench.download", sim.url], child_env(sim.token))
    per = {r["connector"]: r for r in map(json.loads, out.splitlines())}
    return {"process": proc, "connectors": per}


def sync(sim: Simulator, db: str) -> dict[str, Any]:
    _, proc = measured(
        [sys.executable, "-m", "s1uvm", "sync", "--url", sim.url, "--db", db],
        child_env(sim.token),
    )
    store = open_store(db)
    try:
        last = {r["connector"]: r for r in store.last_runs()}
    finally:
        store.close()
    per: dict[str, Any] = {}
    for name, run in last.items():
        c = run["counts"]
        per[name] = {
            "records": c.get("records", 0),
            "requests": c.get("requests", 0),
            "throttled": c.get("throttled", 0),
            "seconds": _seconds(run["started_at"], run["finished_at"]),
            "outcome": run["outcome"],
        }
    return {"process": proc, "connectors": per}


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def rate_bound(requests: dict[str, int]) -> float:
    """Seconds the simulator's limits impose: each endpoint's requests ÷ its rate (after its
    burst), the endpoints in parallel, so the slowest one bounds the run."""
    worst = 0.0
    for name, count in requests.items():
        rate, burst = LIMITS[PATHS[name]]
        worst = max(worst, max(0.0, count - burst) / rate)
    return worst


def run_scenario(s: Scenario, folder: Path) -> dict[str, Any]:
    with Simulator(s) as sim:
        base = download(sim)
        db = str(folder / f"{s.name}.db")
        schema = None
        if s.db == "postgresql":
            schema, db = _pg_schema(s.name)
        try:
            first = sync(sim, db)
            again = sync(sim, db)
        finally:
            if schema:
                _drop_schema(schema)
    figures: dict[str, Any] = {
        "scenario": s.name,
        "database": s.db,
        "rate_limits": s.rate_limits,
        "latency_ms": s.latency_ms,
        "simulator_startup_s": sim.startup_s,
        "download": base,
        "sync": first,
        "repeat": again,
        "connectors": {},
    }
    for name in PATHS:
        d, y = base["connectors"][name], first["connectors"][name]
        d_rate = d["records"] / d["seconds"] if d["seconds"] else 0.0
        y_rate = y["records"] / y["seconds"] if y["seconds"] else 0.0
        figures["connectors"][name] = {
            "records": y["records"],
            "requests": y["requests"],
            "wall_s": y["seconds"],
            "records_per_s": y_rate,
            "download_records_per_s": d_rate,
            "ratio": y_rate / d_rate if d_rate else None,
            "throttled": y["throttled"],
            "repeat_requests": again["connectors"][name]["requests"],
        }
    if s.rate_limits:
        bound = rate_bound({n: first["connectors"][n]["requests"] for n in PATHS})
        figures["rate_bound_s"] = bound
        # Within the bursts the limits impose nothing: a ratio to ~0 s would say nothing.
        figures["wall_over_bound"] = first["process"]["wall_s"] / bound if bound >= 1 else None
    return figures


def _pg_schema(name: str) -> tuple[str, str]:
    import psycopg

    schema = "bench_" + name.replace("-", "_")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    joiner = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{joiner}options={quote(f'-csearch_path={schema}')}"


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| scenario | connector | records | requests | sync s | rec/s | download rec/s | "
        "ratio | 429s | repeat requests |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in results:
        for name, c in r["connectors"].items():
            ratio = f"{c['ratio']:.2f}" if c["ratio"] is not None else "-"
            lines.append(
                f"| {r['scenario']} | {name} | {c['records']:,} | {c['requests']:,} | "
                f"{c['wall_s']:.1f} | {c['records_per_s']:,.0f} | "
                f"{c['download_records_per_s']:,.0f} | {ratio} | {c['throttled']} | "
                f"{c['repeat_requests']} |"
            )
    lines += [
        "",
        "| scenario | sync wall s | CPU s | peak RSS MB | download wall s | rate bound s | "
        "wall ÷ bound |",
        "|" + "---|" * 7,
    ]
    for r in results:
        p, d = r["sync"]["process"], r["download"]["process"]
        bound = r.get("rate_bound_s")
        over = r.get("wall_over_bound")
        lines.append(
            f"| {r['scenario']} | {p['wall_s']:.1f} | {p['cpu_s']:.1f} | "
            f"{p['peak_rss_mb']:.0f} | {d['wall_s']:.1f} | "
            f"{f'{bound:.1f}' if bound is not None else '-'} | "
            f"{f'{over:.2f}' if over else 'within burst' if bound is not None else '-'} |"
        )
    return "\n".join(lines)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_markdown(page: Path, reports: list[dict[str, Any]]) -> None:
    """Replace the generated part of ``page`` with the tables of ``reports``."""
    text = page.read_text()
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{page}: no {BEGIN} … {END} block to replace")
    first = reports[0]
    runs = ", ".join(
        sorted({f"{r.get('date', '?')} at commit {r.get('commit', '?')}" for r in reports})
    )
    m = first["machine"]
    block = (
        f"{BEGIN}\n"
        f"Generated by `python -m bench` ({runs}) on {m['cpus']} CPUs, {m['memory_gb']} GB, "
        f"Python {m['python']}, {m['platform']}.\n\n"
        f"{table([r for e in reports for r in e['results']])}\n"
        f"{END}"
    )
    page.write_text(head + block + tail)


def commit() -> str:
    """The commit measured (with ``+`` when the tree had changes), or ``?`` outside git."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return rev + ("+" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--sizes", default="small,large", help="Comma list of scenario sizes: small,large"
    )
    parser.add_argument("--only", help="Run only scenarios whose name contains this text")
    parser.add_argument("--no-postgres", action="store_true", help="Skip the PostgreSQL runs")
    parser.add_argument("--out", type=Path, default=RESULTS / "sync.json")
    parser.add_argument(
        "--render", type=Path, nargs="+", help="Print the tables of earlier results and exit"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PAGE",
        help="Also write the tables into PAGE's generated block (docs/benchmark.md)",
    )
    args = parser.parse_args()
    if args.render:
        earlier = [json.loads(p.read_text()) for p in args.render]
        print(f"machine: {json.dumps(earlier[0]['machine'])}")
        print(table([r for e in earlier for r in e["results"]]))
        if args.markdown:
            write_markdown(args.markdown, earlier)
        return
    postgres = not args.no_postgres and postgres_reachable()
    chosen = [
        s
        for s in scenarios(args.sizes.split(","), postgres)
        if not args.only or args.only in s.name
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="s1uvm-bench-") as tmp:
        for s in chosen:
            print(f"running {s.name} …", file=sys.stderr, flush=True)
            results.append(run_scenario(s, Path(tmp)))
    report = {
        "machine": machine(),
        "date": datetime.now(UTC).date().isoformat(),
        "commit": commit(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"machine: {json.dumps(report['machine'])}")
    print(table(results))
    if args.markdown:
        write_markdown(args.markdown, [report])
    print(f"\nfigures: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
