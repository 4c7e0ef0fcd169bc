"""Conformance harness: loads the HL7 cql-tests cases, runs one, and compares results as the suite's README says."""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cds_service.cql import evaluate_expression
from cds_service.cql.errors import CqlError
from cds_service.cql.types import Code, Concept, Date, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple

DATA = Path(__file__).with_name("data") / "cql-tests-public.jsonl"
SKIPLIST = Path(__file__).with_name("skiplist.txt")
ENGINE_VERSION = (1, 5)
TOLERANCE = Decimal("0.00000001")


@dataclass(frozen=True)
class Case:
    suite: str
    group: str
    name: str
    expression: str
    output: str | None
    invalid: str
    version: str | None
    version_to: str | None

    @property
    def id(self) -> str:
        return f"{self.suite}.{self.group}.{self.name}"

    def out_of_scope(self) -> str | None:
        """A reason when a CQL 1.5 engine should not run this case, else None."""
        if self.version and _version(self.version) > ENGINE_VERSION:
            return f"needs CQL {self.version} (engine is CQL 1.5)"
        if self.version_to and _version(self.version_to) < ENGINE_VERSION:
            return f"only valid up to CQL {self.version_to} (engine is CQL 1.5)"
        if self.invalid == "false" and not self.output:
            return "the case has no expected output"
        return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def load_cases() -> list[Case]:
    cases = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        cases.append(Case(d["suite"], d["group"], d["name"], d["expression"], d.get("output"),
                          str(d.get("invalid", "false")), d.get("version"), d.get("version_to")))
    return cases


def load_skiplist() -> dict[str, str]:
    """case id -> reason; '#' starts a comment, a line is `Suite.Group.Name  # reason`."""
    skips: dict[str, str] = {}
    current = ""
    if not SKIPLIST.exists():
        return skips
    for raw in SKIPLIST.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = line.lstrip("# ").strip()
            continue
        case_id, _, reason = line.partition("#")
        skips[case_id.strip()] = reason.strip() or current
    return skips


def run_case(case: Case, official: bool = False) -> tuple[bool, str]:
    """(passed, detail). Errors other than CqlError are failures: the engine must never crash.

    `official=True` applies the cql-tests-runner rules without our three deviations: temporal values
    compare as exact literal text (so Z differs from +00:00), invalid="syntax" is compared with its null
    output, and (as there) Long stays exact.
    """
    expects_error = case.invalid in (("true", "semantic") if official else ("true", "semantic", "syntax"))
    try:
        actual = evaluate_expression(case.expression)
    except CqlError as exc:
        if expects_error:
            return True, f"error as expected: {exc}"
        return False, f"unexpected error: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a crash is reported as a failure with its type
        return False, f"CRASH {type(exc).__name__}: {exc}"
    if expects_error:
        return False, f"expected an error, got {actual!r}"
    assert case.output is not None
    expected = evaluate_expression(case.output or "null")
    if same(expected, actual) and (not official or _literal_text_matches(actual, case.output or "null")):
        return True, "ok"
    return False, f"expected {expected!r}, got {actual!r}"


def _temporals(value: Any) -> list[Any]:
    if isinstance(value, (Date, DateTime, Time)):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _temporals(v)]
    if isinstance(value, Interval):
        return _temporals(value.low) + _temporals(value.high)
    if isinstance(value, Tuple):
        return [t for k in value for t in _temporals(value[k])]
    return []


def _literal_text_matches(actual: Any, raw: str) -> bool:
    """The runner compares temporals as text: each actual temporal's literal must appear verbatim."""
    return all(repr(t) in raw for t in _temporals(actual))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def same(expected: Any, actual: Any) -> bool:
    """The runner's structural comparison, with temporal values compared semantically and Long exact."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, Long):
        return isinstance(actual, Long) and int(actual) == int(expected)
    if _is_number(expected):
        return _is_number(actual) and not isinstance(actual, Long) and abs(Decimal(expected) - Decimal(actual)) <= TOLERANCE
    if isinstance(expected, str):
        return isinstance(actual, str) and expected == actual
    if isinstance(expected, (Date, DateTime, Time)):
        return _same_temporal(expected, actual)
    if isinstance(expected, Quantity):
        return (isinstance(actual, Quantity) and expected.unit == actual.unit
                and abs(expected.value - actual.value) <= TOLERANCE)
    if isinstance(expected, Ratio):
        return isinstance(actual, Ratio) and same(expected.numerator, actual.numerator) and same(
            expected.denominator, actual.denominator)
    if isinstance(expected, Interval):
        return isinstance(actual, Interval) and _same_interval(expected, actual)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            same(e, a) for e, a in zip(expected, actual))
    if isinstance(expected, Tuple):
        if not isinstance(actual, Tuple):
            return False
        keys = {k for k in actual if actual[k] is not None} | {k for k in expected if expected[k] is not None}
        return all(same(expected.get(k), actual.get(k)) for k in keys)
    if isinstance(expected, Concept):
        if isinstance(actual, Code) and len(expected.codes) == 1:
            return same(expected.codes[0], actual)
        return isinstance(actual, Concept) and len(expected.codes) == len(actual.codes) and all(
            same(e, a) for e, a in zip(expected.codes, actual.codes))
    if isinstance(expected, Code):
        if isinstance(actual, Concept) and len(actual.codes) == 1:
            actual = actual.codes[0]
        return isinstance(actual, Code) and all(
            getattr(expected, f) is None or getattr(expected, f) == getattr(actual, f)
            for f in ("code", "system", "version", "display"))
    return bool(expected == actual)


def _same_temporal(expected: Any, actual: Any) -> bool:
    if type(expected) is not type(actual):
        return False
    if expected.components() != actual.components():
        return False
    if isinstance(expected, DateTime):
        return expected.offset == actual.offset
    return True


def _closed(i: Interval) -> tuple[Any, Any]:
    """Numeric intervals compare after normalising open bounds to closed ones, as the runner does."""
    low, high = i.low, i.high
    if _is_number(low) or _is_number(high):
        step: Any = 1 if all(isinstance(v, int) or v is None for v in (low, high)) else TOLERANCE
        if low is not None and not i.low_closed:
            low = low + step
        if high is not None and not i.high_closed:
            high = high - step
        return low, high
    return None, None


def _same_interval(expected: Interval, actual: Interval) -> bool:
    if _is_number(expected.low) or _is_number(expected.high):
        el, eh = _closed(expected)
        al, ah = _closed(actual)
        return same(el, al) and same(eh, ah)
    return (expected.low_closed == actual.low_closed and expected.high_closed == actual.high_closed
            and same(expected.low, actual.low) and same(expected.high, actual.high))
