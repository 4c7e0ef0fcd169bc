"""Benchmark: garbage-collector settings for the hook path (what `cds-service serve` sets before forking).

The service is built in-process (embedded defaults, SQLite in a temporary directory) and order-select with the
288-resource prefetch of service_latency.py is posted through Flask's test client, in alternating blocks
with CPython's default thresholds (700, 10, 10) and with `cds_service.server.GC_THRESHOLDS`, after the same
`gc.collect(); gc.freeze()` that `serve` does. Collections are counted with `gc.callbacks`.

    .venv/bin/python benchmarks/gc_thresholds.py [--requests 300] [--rounds 4]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from service_latency import hook_body, prefetch_for, synthetic_record  # noqa: E402

URL = "/cds-services/vertebral-augmentation-select"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per block")
    parser.add_argument("--rounds", type=int, default=4, help="blocks per setting, alternating")
    args = parser.parse_args()

    os.environ["CDS_DATA_DIR"] = tempfile.mkdtemp(prefix="cds-gc-bench-")
    os.environ.setdefault("CDS_LOG_LEVEL", "WARNING")
    from cds_service import accel
    from cds_service.app import create_app
    from cds_service.server import GC_THRESHOLDS

    client = create_app().test_client()
    prefetch = prefetch_for(synthetic_record())
    bodies = [json.dumps(hook_body(prefetch)).encode() for _ in range(20)]
    for body in bodies:
        assert client.post(URL, data=body, content_type="application/json").status_code == 200
    gc.collect()
    gc.freeze()

    collections: dict[int, int] = {}
    started: list[float] = []
    paused: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        else:
            paused[0] += time.perf_counter() - started.pop()
            collections[info["generation"]] = collections.get(info["generation"], 0) + 1

    gc.callbacks.append(on_gc)
    settings = {"CPython default (700, 10, 10)": (700, 10, 10), f"serve {GC_THRESHOLDS}": GC_THRESHOLDS}
    latencies: dict[str, list[float]] = {name: [] for name in settings}
    counts: dict[str, dict[int, int]] = {name: {} for name in settings}
    pauses: dict[str, float] = {name: 0.0 for name in settings}
    for _ in range(args.rounds):
        for name, thresholds in settings.items():
            gc.set_threshold(*thresholds)
            collections.clear()
            paused[0] = 0.0
            for i in range(args.requests):
                t0 = time.perf_counter()
                client.post(URL, data=bodies[i % len(bodies)], content_type="application/json")
                latencies[name].append((time.perf_counter() - t0) * 1000)
            for generation, n in collections.items():
                counts[name][generation] = counts[name].get(generation, 0) + n
            pauses[name] += paused[0]
    gc.callbacks.remove(on_gc)

    total = args.requests * args.rounds
    print(f"order-select in-process, 288 prefetched resources, {args.rounds} x {args.requests} requests per "
          f"setting, alternating; CQL engine: {accel.status()}")
    print("| gc thresholds | p50 ms | mean ms | collections per request (gen 0/1/2) | gc pause ms per request |")
    print("|---|---:|---:|---|---:|")
    for name in settings:
        per = "/".join(f"{counts[name].get(g, 0) / total:.2f}" for g in (0, 1, 2))
        print(f"| {name} | {statistics.median(latencies[name]):.2f} | {statistics.mean(latencies[name]):.2f} | "
              f"{per} | {pauses[name] / total * 1000:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
