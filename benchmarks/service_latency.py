"""Benchmark: order-select latency (p50/p99) and throughput of the real service vs a bare Flask endpoint.

Both are served by gunicorn the same way (gthread, same workers and threads, in-process BaseApplication);
the bare endpoint only parses the same JSON body and returns a fixed card. A third run measures the
FHIR-fallback path (no prefetch; data read from a real sekmet-fhir server with paging).

    .venv/bin/python benchmarks/service_latency.py [--requests 300] [--seconds 10] [--write-docs]

With --write-docs the results replace the service section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.fhir_server import FhirServer, ServiceProcess, _stop, _wait_http_ok, free_port  # noqa: E402

PAT = "va-bench-pat-1"


# ----------------------------------------------------------------------------------------- synthetic record

def synthetic_record(n_observations: int = 240) -> list[dict[str, Any]]:
    """A realistic record: demographics, fracture diagnoses, a year of pain scores, labs, meds, procedures."""
    subject = {"reference": f"Patient/{PAT}"}
    out: list[dict[str, Any]] = [{"resourceType": "Patient", "id": PAT, "gender": "female",
                                  "birthDate": "1946-03-12"}]
    out.append({"resourceType": "Encounter", "id": "va-bench-enc-1", "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": subject})
    for i, code in enumerate(["M80.08XA", "M81.0", "I10", "E11.9", "N18.3", "M54.50"] * 4):
        out.append({"resourceType": "Condition", "id": f"va-bench-cond-{i}", "subject": subject,
                    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                   "code": "active"}]},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
                    "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "66794005"}]}],
                    "onsetDateTime": f"2026-0{1 + i % 4}-{1 + i % 27:02d}"})
    loincs = [("72514-3", "{score}"), ("6301-6", "{INR}"), ("777-3", "10*9/L"), ("8310-5", "Cel"), ("1988-5", "mg/L")]
    for i in range(n_observations):
        code, unit = loincs[i % len(loincs)]
        out.append({"resourceType": "Observation", "id": f"va-bench-obs-{i}", "status": "final", "subject": subject,
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "effectiveDateTime": f"2026-{1 + i % 4:02d}-{1 + i % 27:02d}T08:00:00Z",
                    "valueQuantity": {"value": i % 9 + 1, "unit": unit, "system": "http://unitsofmeasure.org",
                                      "code": unit}})
    for i in range(15):
        out.append({"resourceType": "MedicationRequest", "id": f"va-bench-med-{i}", "status": "active",
                    "intent": "order", "subject": subject,
                    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                              "code": ["1191", "161", "11289"][i % 3]}]},
                    "authoredOn": "2026-03-01"})
    for i in range(6):
        out.append({"resourceType": "Procedure", "id": f"va-bench-proc-{i}", "status": "completed", "subject": subject,
                    "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}]},
                    "performedDateTime": "2026-02-10"})
    out.append({"resourceType": "AllergyIntolerance", "id": "va-bench-allergy-1", "patient": subject,
                "code": {"text": "penicillin"}})
    return out


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}


def prefetch_for(record: list[dict[str, Any]]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in record:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    empty = _searchset([])
    return {
        "patient": by_type["Patient"][0], "encounter": by_type["Encounter"][0],
        "conditions": _searchset(by_type["Condition"]), "observations": _searchset(by_type["Observation"]),
        "procedures": _searchset(by_type["Procedure"]), "medicationRequests": _searchset(by_type["MedicationRequest"]),
        "medicationStatements": empty, "allergies": _searchset(by_type["AllergyIntolerance"]),
        "serviceRequests": empty, "deviceRequests": empty,
    }


def hook_body(prefetch: dict[str, Any] | None, fhir: FhirServer | None = None) -> dict[str, Any]:
    draft = {"resourceType": "ServiceRequest", "id": "draft-va-1", "status": "draft", "intent": "order",
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]},
             "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "66794005"}]}],
             "subject": {"reference": f"Patient/{PAT}"}}
    body: dict[str, Any] = {
        "hook": "order-select", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/va-bench-dr", "patientId": PAT, "encounterId": "va-bench-enc-1",
                    "selections": ["ServiceRequest/draft-va-1"],
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir is not None:
        body["fhirServer"] = fhir.base_url
        body["fhirAuthorization"] = fhir.fhir_authorization
    return body


# ------------------------------------------------------------------------------------------- bare endpoint

def serve_bare(port: int, workers: int, threads: int) -> None:
    """The baseline: Flask + gunicorn, parse the body, return one fixed card."""
    from flask import Flask, jsonify, request
    from gunicorn.app.base import BaseApplication

    app = Flask("bare")
    card = {"cards": [{"uuid": "b2b0f7a4-4a4c-4c41-8f59-2f8a8d7f3a10", "summary": "Fixed card",
                       "indicator": "info", "source": {"label": "bare"}}]}

    @app.post("/cds-services/<service_id>")
    def hook(service_id: str) -> Any:
        json.loads(request.get_data())
        return jsonify(card)

    @app.get("/healthz")
    def health() -> Any:
        return jsonify({"status": "ok"})

    class Bare(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": workers, "worker_class": "gthread",
                               "threads": threads, "keepalive": 5, "accesslog": None, "loglevel": "warning",
                               "preload_app": True}.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Bare().run()


# ------------------------------------------------------------------------------------------- measurement

def interleaved_latencies(urls: list[str], make_body: Callable[[], dict[str, Any]], n: int,
                          warmup: int = 20) -> list[list[float]]:
    """Per-URL latencies, the URLs called in turn, so every endpoint sees the same machine load.

    (The benchmark host is shared; measuring one server after the other would compare two different loads.)
    """
    sessions = [requests.Session() for _ in urls]
    out: list[list[float]] = [[] for _ in urls]
    for i in range(n + warmup):
        payload = json.dumps(make_body())
        for index, url in enumerate(urls):
            started = time.perf_counter()
            response = sessions[index].post(url, data=payload, headers={"Content-Type": "application/json"},
                                            timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:500]}")
            if i >= warmup:
                out[index].append(elapsed)
    return out


def throughput(url: str, make_body: Callable[[], dict[str, Any]], seconds: float, clients: int) -> float:
    payloads = [json.dumps(make_body()) for _ in range(50)]
    stop_at = time.perf_counter() + seconds
    counts = [0] * clients
    errors: list[str] = []

    def run(index: int) -> None:
        session = requests.Session()
        i = 0
        while time.perf_counter() < stop_at:
            response = session.post(url, data=payloads[i % len(payloads)],
                                    headers={"Content-Type": "application/json"}, timeout=60)
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}")
                return
            counts[index] += 1
            i += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{url}: {errors[0]}")
    return sum(counts) / (time.perf_counter() - started)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(name: str, values: list[float], rps: float | None) -> dict[str, Any]:
    return {"name": name, "n": len(values), "p50": statistics.median(values), "p99": pct(values, 0.99),
            "mean": statistics.fmean(values), "rps": rps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients in the throughput run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--service", default="vertebral-augmentation-select",
                        help="service id to call (protocol-echo-select measures the protocol layer alone)")
    parser.add_argument("--engine", choices=("both", "compiled", "pure"), default="both",
                        help="CQL engine build of the service: compiled (cds-service accel build, built here when "
                             "missing), pure Python, or both side by side in the same interleaved run")
    parser.add_argument("--write-docs", action="store_true", help="write the results into docs/benchmarks.md")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.workers, args.threads)
        return 0

    engines = ("compiled", "pure") if args.engine == "both" else (args.engine,)
    if "compiled" in engines:
        from cds_service import accel

        print(f"compiled engine: {accel.build()}", file=sys.stderr)
    record = synthetic_record()
    prefetch = prefetch_for(record)
    body_size = len(json.dumps(hook_body(prefetch)))
    work = Path(tempfile.mkdtemp(prefix="cds-bench-"))
    bare_port = free_port()
    bare_log = (work / "bare.log").open("wb")
    bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port), "--workers", str(args.workers),
                             "--threads", str(args.threads)], stdout=bare_log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    env = {"CDS_LOG_LEVEL": "WARNING"}
    if args.service.startswith("protocol-echo"):
        env.update({"CDS_SERVICE_MODULES": "tests.protocol_services",
                    "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)})
    services: dict[str, ServiceProcess] = {}
    fhir = None
    try:
        _wait_http_ok(f"http://127.0.0.1:{bare_port}/healthz", bare, work / "bare.log", 60)
        for engine in engines:
            # `require` refuses to start without the compiled build, so a compiled run cannot silently be pure.
            services[engine] = ServiceProcess.start(
                work / f"service-{engine}", workers=args.workers, threads=args.threads,
                env={**env, "CDS_CQL_ACCEL": "require" if engine == "compiled" else "off"})
        fhir = FhirServer.start(work / "fhir")
        fhir.load_bundle({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in record]})

        urls = {engine: proc.url(f"cds-services/{args.service}") for engine, proc in services.items()}
        bare_url = f"http://127.0.0.1:{bare_port}/cds-services/{args.service}"
        with_prefetch = lambda: hook_body(prefetch)  # noqa: E731
        no_prefetch = lambda: hook_body(None, fhir)  # noqa: E731
        bare_ms, *ours_ms = interleaved_latencies([bare_url, *urls.values()], with_prefetch, args.requests)
        first = engines[0]
        (fallback_ms,) = interleaved_latencies([urls[first]], no_prefetch, max(50, args.requests // 3), warmup=5)
        results = [summary("bare Flask (parse + fixed card)", bare_ms,
                           throughput(bare_url, with_prefetch, args.seconds, args.clients))]
        for engine, latencies in zip(engines, ours_ms):
            results.append(summary(f"cds-service {args.service}, prefetch, {engine} engine", latencies,
                                   throughput(urls[engine], with_prefetch, args.seconds, args.clients)))
        results.append(summary(f"cds-service {args.service}, FHIR fallback, {first} engine", fallback_ms, None))
    finally:
        for proc in services.values():
            proc.stop()
        if fhir is not None:
            fhir.stop()
        _stop(bare)
        bare_log.close()

    # One section per service measured, so the protocol-only and the clinical runs sit side by side.
    mark_start = f"<!-- service-latency:{args.service}:start -->"
    mark_end = f"<!-- service-latency:{args.service}:end -->"
    ratios = {engine: results[1 + i]["p50"] / results[0]["p50"] for i, engine in enumerate(engines)}
    n_resources = len(record)
    lines = [
        mark_start,
        f"### Service latency: {args.service} (benchmarks/service_latency.py)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} "
        f"({os.cpu_count()} CPUs, shared), Python {platform.python_version()}; gunicorn gthread, "
        f"{args.workers} workers x {args.threads} threads for every server; order-select with {n_resources} "
        f"prefetched resources ({body_size // 1024} KiB body); {args.requests} sequential requests per "
        f"endpoint after 20 warm-up, the endpoints called in turn so all see the same machine load; "
        f"throughput with {args.clients} concurrent keep-alive clients for {args.seconds:.0f} s.",
        "",
        "| endpoint | p50 ms | p99 ms | mean ms | req/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        rps = f"{r['rps']:.0f}" if r["rps"] is not None else "-"
        lines.append(f"| {r['name']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['mean']:.1f} | {rps} |")
    shown = "; ".join(f"{engine} engine **{ratio:.2f}x**" for engine, ratio in ratios.items())
    lines += ["", f"Ours / bare p50: {shown} (goal <= 3x). FHIR fallback: {n_resources} resources read "
              f"from sekmet-fhir over loopback in 10 concurrent searches with paging.",
              f"Command: `.venv/bin/python benchmarks/service_latency.py --requests {args.requests} "
              f"--seconds {args.seconds:g} --service {args.service} --engine {args.engine} --write-docs`", mark_end]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        docs = REPO / "docs" / "benchmarks.md"
        current = docs.read_text() if docs.exists() else "# Benchmarks\n"
        if mark_start in current and mark_end in current:
            before, rest = current.split(mark_start, 1)
            after = rest.split(mark_end, 1)[1]
            current = before + text + after
        else:
            current = current.rstrip("\n") + "\n\n" + text + "\n"
        docs.write_text(current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
