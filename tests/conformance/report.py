"""Conformance report: pass rate per suite and overall for the in-scope HL7 cql-tests public cases.

Run: `.venv/bin/python -m tests.conformance.report [--failures]`. Prints the deliberate-deviation numbers
(temporal values compared semantically, invalid="syntax" expects an error, Long exact).
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict

from tests.conformance.cases import load_cases, load_skiplist, run_case


def main(argv: list[str]) -> int:
    show_failures = "--failures" in argv
    cases = load_cases()
    skips = load_skiplist()
    per_suite: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    out_of_scope = 0
    failures: list[str] = []
    official_pass = 0
    started = time.perf_counter()
    for case in cases:
        if case.out_of_scope():
            out_of_scope += 1
            continue
        passed, detail = run_case(case)
        if run_case(case, official=True)[0]:
            official_pass += 1
        per_suite[case.suite][1] += 1
        if passed:
            per_suite[case.suite][0] += 1
        else:
            mark = " (skiplist)" if case.id in skips else ""
            failures.append(f"{case.id}{mark}: {case.expression[:80]!r}: {detail[:160]}")
    elapsed = time.perf_counter() - started
    total_pass = sum(p for p, _ in per_suite.values())
    total = sum(n for _, n in per_suite.values())
    print(f"{'suite':40} {'pass':>6} {'total':>6} {'rate':>7}")
    for suite in sorted(per_suite):
        p, n = per_suite[suite]
        print(f"{suite:40} {p:6d} {n:6d} {100.0 * p / n:6.1f}%")
    print(f"{'OVERALL (in scope)':40} {total_pass:6d} {total:6d} {100.0 * total_pass / total:6.1f}%")
    print(f"{'OVERALL, official runner rules':40} {official_pass:6d} {total:6d} {100.0 * official_pass / total:6.1f}%"
          "  (temporals as exact text, Z != +00:00; invalid=syntax compared with null)")
    print(f"out of scope (CQL 2.0 only, valid only before 1.5, no output): {out_of_scope}; run time {elapsed:.1f}s")
    if show_failures:
        print("\nfailures:")
        for line in failures:
            print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
