"""Benchmark worker (runs in .bench-venv, not the service venv): evaluates one workload with ms-cql-sdk on request.

    .bench-venv/bin/python benchmarks/cql_mssdk_worker.py WORKLOAD

Protocol on stdin/stdout, one JSON line per command, so the harness can interleave its iterations with ours
and the hand-written Python (paired samples under the same machine load): `run` -> {"seconds": s},
`results` -> {"results": {...}}, `quit`. The first line printed is {"ready": true, "compile_seconds": s}.

The CQL is the same text our engine compiles, translated once by ms-cql-sdk's own pure-Python CQL-to-ELM
front end; each run builds the in-memory FHIR data source from the same resources and evaluates every define
in one runtime context, as our engine does per request.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cql_workloads as workloads  # noqa: E402
from cql_sdk.api import load_library_from_cql_text  # noqa: E402
from cql_sdk.fhir.context import context_from_bundle  # noqa: E402
from cql_sdk.invocation.invoker import Invoker  # noqa: E402


def main(argv: list[str]) -> int:
    workload = workloads.WORKLOADS[argv[0]]
    started = time.perf_counter()
    library = load_library_from_cql_text(workload["cql"])
    compile_seconds = time.perf_counter() - started
    resources = workload["record"]()
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    invoker = Invoker()

    def once() -> dict[str, Any]:
        context = context_from_bundle(bundle)
        return {d: invoker.invoke(library=library, definition=d, context=context) for d in workload["defines"]}

    results = once()
    print(json.dumps({"ready": True, "compile_seconds": compile_seconds}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command.startswith("run"):
            # "run N MS": back-to-back runs, each timed, at least N of them and for at least MS milliseconds
            # (the first runs after waiting on stdin pay the vCPU's wake-up; see cql_engines._block).
            parts = command.split()
            count = int(parts[1]) if len(parts) > 1 else 1
            budget = float(parts[2]) / 1000 if len(parts) > 2 else 0.0
            times: list[float] = []
            block_start = time.perf_counter()
            while len(times) < count or time.perf_counter() - block_start < budget:
                t0 = time.perf_counter()
                results = once()
                times.append(time.perf_counter() - t0)
            print(json.dumps({"seconds": times[0], "all": times}), flush=True)
        elif command == "results":
            print(json.dumps({"results": {k: workloads.normalise(v) for k, v in results.items()}}), flush=True)
        elif command == "quit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
