"""Export at scale: fill a store with N findings (plus their assets) through the store's own
write path, then run ``s1uvm export`` in its own process per format and report rows/s and the
export process's peak resident memory, to show memory stays flat as the store grows.

    python bench/export_scale.py --findings 1000000 --out bench/results/export_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from s1uvm.model import AssetRow, FindingRow, finding_key
from s1uvm.store import open_store

SEVERITIES = ("critical", "high", "medium", "low")


def fill(db: Path, findings: int, per_agent: int = 10) -> float:
    store = open_store(db)
    started = time.perf_counter()
    run = store.start_run("bench", "vulnerabilities", "snapshot")
    agents = max(1, findings // per_agent)
    raw = msgspec.Raw(b'{"source":"bench"}')
    for first in range(0, agents, 100):
        batch_agents = range(first, min(agents, first + 100))
        assets = [
            AssetRow(
                console="bench",
                agent_id=str(10**18 + a),
                hostname=f"host-{a}",
                os_type="windows",
                machine_type="desktop",
                mac=["bc:24:11:00:00:01"],
                ipv4=["10.0.0.1"],
                raw=raw,
            )
            for a in batch_agents
        ]
        rows = []
        for a in batch_agents:
            for j in range(per_agent):
                n = a * per_agent + j
                if n >= findings:
                    break
                cve = f"CVE-2024-{10000 + j}"
                rows.append(
                    FindingRow(
                        finding_id=finding_key(
                            "bench", str(10**18 + a), "vulnerability", f"{cve}|acme|app{j}"
                        ),
                        kind="vulnerability",
                        console="bench",
                        agent_id=str(10**18 + a),
                        source_id=str(2 * 10**18 + n),
                        title=f"{cve} in App {j}",
                        severity=SEVERITIES[n % 4],
                        cve_id=cve,
                        cvss_score=7.5,
                        app_name=f"App {j}",
                        app_vendor="Acme",
                        app_version=["1.0"],
                        first_seen_at="2025-06-02T04:46:51.710569Z",
                        raw=raw,
                    )
                )
        store.write_page(run, "bench", "vulnerabilities", assets=assets, findings=rows)
    store.finish_run(run, "success", {"records": findings}, True, None)
    store.close()
    return time.perf_counter() - started


def export(db: Path, fmt: str, out: Path) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, sys; from s1uvm.cli.main import main; sys.argv = sys.argv[1:];"
            "import atexit; atexit.register(lambda: print(resource.getrusage("
            "resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)); main()",
            "s1uvm",
            "export",
            "--db",
            str(db),
            "--format",
            fmt,
            "--mode",
            "state",
            "--kind",
            "vulnerability",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "megabytes": round(out.stat().st_size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--formats", default="ocsf,jsonl,csv,parquet")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="s1uvm-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        fill_seconds = fill(db, args.findings)
        report: dict[str, object] = {
            "findings": args.findings,
            "fill_seconds": round(fill_seconds, 1),
            "fill_rows_per_second": round(args.findings / fill_seconds),
            "cpus": os.cpu_count(),
            "exports": {},
        }
        for fmt in args.formats.split(","):
            figures = export(db, fmt, Path(tmp) / f"out.{fmt}")
            figures["rows_per_second"] = round(args.findings / figures["seconds"])
            report["exports"][fmt] = figures  # type: ignore[index]
            print(
                f"{fmt:<8} {figures['seconds']:>7}s {figures['rows_per_second']:>9,} rows/s "
                f"peak RSS {figures['peak_rss_mb']:>6} MB  {figures['megabytes']:>8} MB out"
            )
    print(
        f"filled {args.findings:,} findings in {report['fill_seconds']}s "
        f"({report['fill_rows_per_second']:,} rows/s); this process peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
