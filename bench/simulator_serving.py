"""How fast the simulated console serves a large world, and how much memory it needs.

Starts ``s1uvm simulator serve`` in its own process, walks every risk (and every threat) with
``limit=1000`` over real HTTP, and reports records/s, MB/s and the peak resident memory of both
processes. Usage::

    python bench/simulator_serving.py --agents 100000 --risks-per-agent 10 \
        --threats-per-agent 0.2 --out bench/results/simulator_serving.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import msgspec


class _Pagination(msgspec.Struct):
    nextCursor: str | None = None  # the API's field name


class _Page(msgspec.Struct):
    data: list[msgspec.Raw] = []
    pagination: _Pagination | None = None


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def walk(client: httpx2.Client, path: str) -> dict[str, Any]:
    decoder = msgspec.json.Decoder(_Page)
    records = pages = size = 0
    cursor: str | None = None
    first_page = 0.0
    started = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        body = client.get(path, params=params).raise_for_status().content
        if not pages:
            first_page = time.perf_counter() - started
        page = decoder.decode(body)
        records += len(page.data)
        pages += 1
        size += len(body)
        cursor = page.pagination.nextCursor if page.pagination else None
        if not cursor:
            break
    seconds = time.perf_counter() - started
    return {
        "path": path,
        "records": records,
        "pages": pages,
        "seconds": round(seconds, 2),
        "first_page_seconds": round(first_page, 3),
        "records_per_second": round(records / seconds),
        "mb_per_second": round(size / seconds / 1e6, 1),
        "megabytes": round(size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--risks-per-agent", type=float, default=10.0)
    parser.add_argument("--threats-per-agent", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s1uvm",
            "simulator",
            "serve",
            "--agents",
            str(args.agents),
            "--risks-per-agent",
            str(args.risks_per_agent),
            "--threats-per-agent",
            str(args.threats_per_agent),
            "--seed",
            str(args.seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = json.loads(server.stdout.readline())
        build = time.perf_counter() - started
        rss_after_build = peak_rss_mb(server.pid)
        with httpx2.Client(
            base_url=banner["url"] + "/web/api/v2.1",
            timeout=300,
            headers={"Authorization": f"ApiToken {banner['token']}"},
        ) as client:
            results = [walk(client, "/application-management/risks"), walk(client, "/threats")]
        report = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "cpu": _cpu_model(),
            },
            "world": {
                "agents": args.agents,
                "risks_per_agent": args.risks_per_agent,
                "threats_per_agent": args.threats_per_agent,
                "seed": args.seed,
            },
            "startup_seconds": round(build, 2),
            "server_peak_rss_mb_after_startup": round(rss_after_build, 1),
            "server_peak_rss_mb": round(peak_rss_mb(server.pid), 1),
            "client_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            ),
            "walks": results,
        }
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"startup {report['startup_seconds']}s; server peak RSS "
        f"{report['server_peak_rss_mb']} MB; client peak RSS {report['client_peak_rss_mb']} MB"
    )
    print(f"{'endpoint':<34}{'records':>10}{'pages':>7}{'seconds':>9}{'rec/s':>9}{'MB/s':>7}")
    for r in results:
        print(
            f"{r['path']:<34}{r['records']:>10,}{r['pages']:>7}{r['seconds']:>9}"
            f"{r['records_per_second']:>9,}{r['mb_per_second']:>7}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
