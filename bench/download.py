"""The download-only baseline: the requests a full sync makes — same paths, filters, page size
and partitions, the same ``S1Client`` with its rate limiter, connectors concurrently — with
every body read and its records counted, then discarded. What ``s1uvm sync`` adds on top
(decoding, normalising, writing) is then a ratio against this, not an absolute time.

Run as ``python -m bench.download URL`` with ``S1_API_TOKEN`` set; prints one JSON object per
connector on stdout."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any

from s1uvm.connectors import ORDER, make
from s1uvm.connectors.base import Context
from s1uvm.s1 import ApiToken, Fetcher, S1Client, Walk
from s1uvm.sync import PARTITION_WORKERS, partitions


def download(url: str, token: ApiToken, name: str) -> dict[str, Any]:
    connector = make(name)
    started = time.perf_counter()
    records = 0
    with S1Client(url, token) as client:
        ctx = Context("bench", "2100-01-01T00:00:00.000000Z", 30)
        plans = partitions(client, connector.plan(None, full=True, ctx=ctx))
        walks = [Walk(client, p.path, p.params, limit=p.page_size, nested=p.nested) for p in plans]
        for page in Fetcher(walks, workers=PARTITION_WORKERS):
            records += len(page.items)
        return {
            "connector": name,
            "records": records,
            "requests": client.stats.requests,
            "throttled": client.stats.throttled,
            "bytes": client.stats.bytes,
            "seconds": time.perf_counter() - started,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--connectors", default=",".join(ORDER))
    args = parser.parse_args()
    token = ApiToken(os.environ["S1_API_TOKEN"])
    results: dict[str, dict[str, Any]] = {}

    def one(name: str) -> None:
        results[name] = download(args.url, token, name)

    threads = [threading.Thread(target=one, args=(n,)) for n in args.connectors.split(",")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in args.connectors.split(","):
        print(json.dumps(results[name]))


if __name__ == "__main__":
    main()
