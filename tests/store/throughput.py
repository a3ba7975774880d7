"""How fast ``Store.write_page`` takes 1000-row pages (not a test: timings vary by machine).

    .venv/bin/python -m tests.store.throughput [PAGES]

Records carry ~1.2 KB of raw JSON, like SentinelOne's; each page is one transaction with its
checkpoint, as a sync writes it."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from s1uvm.model import AssetRow, FindingRow
from s1uvm.store import Store, open_store
from tests.store.rows import asset, vuln

PAGE = 1000
RAW = msgspec.Raw(msgspec.json.encode({"id": "2228104980801805822", "detail": "x" * 1150}))


def timed(
    store: Store, label: str, pages: Sequence[Sequence[AssetRow | FindingRow]], connector: str
) -> float:
    run = store.start_run("c1", connector, "snapshot")
    started = time.perf_counter()
    for n, page in enumerate(pages):
        assets = [r for r in page if isinstance(r, AssetRow)]
        findings = [r for r in page if isinstance(r, FindingRow)]
        store.write_page(
            run, "c1", connector, assets=assets, findings=findings, checkpoint={"n": n}
        )
    seconds = time.perf_counter() - started
    rate = len(pages) * PAGE / seconds
    print(f"{label:32s} {rate:9,.0f} rows/s  {seconds / len(pages) * 1000:6.1f} ms/page")
    return rate


def main(argv: Sequence[str]) -> None:
    count = int(argv[0]) if argv else 30
    findings = [
        [vuln(str(10**17 + p * 100 + i % 100), f"CVE-2024-{p}{i}", raw=RAW) for i in range(PAGE)]
        for p in range(count)
    ]
    changed = [[msgspec.structs.replace(r, severity="critical") for r in p] for p in findings]
    assets = [
        [
            asset(str(10**17 + p * PAGE + i), serial_number=f"SN{p}-{i}", raw=RAW)
            for i in range(PAGE)
        ]
        for p in range(count)
    ]
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(Path(folder) / "throughput.db")
        try:
            timed(store, "findings, first insert", findings, "vulnerabilities")
            timed(store, "findings, re-upsert unchanged", findings, "vulnerabilities")
            timed(store, "findings, re-upsert changed", changed, "vulnerabilities")
            timed(store, "assets, first insert", assets, "assets")
            timed(store, "assets, re-upsert unchanged", assets, "assets")
        finally:
            store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
