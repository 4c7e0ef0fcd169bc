"""Tooling: score the public HL7 cql-tests against a running `POST {base}/$cql`, by the official runner's rules and ours.

Usage:
    .venv/bin/python scripts/cql_tests_runner.py --base http://127.0.0.1:8080/fhir
    .venv/bin/python scripts/cql_tests_runner.py --in-process          # Flask test client, no server needed

"official" ports cqframework/cql-tests-runner's decisions (shared/cql-tests/README.md section 2): temporal
values compared as exact strings, `invalid="syntax"` compared with its `null` output, Long as BigInt or a
digits-only string. "ours" makes the three deliberate deviations: (1) temporals compared semantically
(components, precision, offset with Z == +00:00), (2) `invalid="syntax"` expects an error, (3) Long exact in
type as well as value (a Long must come back tagged as System.Long or as valueInteger64, and an Integer
must not come back as a Long).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pyparsing as pp

DEFAULT_CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cql-tests" / "cql-tests-public.jsonl"
ENGINE_VERSION = (1, 5)
TOLERANCE = 1e-8
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
EMPTY_LIST = "http://hl7.org/fhir/StructureDefinition/cqf-isEmptyList"
EMPTY_TUPLE = "http://hl7.org/fhir/StructureDefinition/cqf-isEmptyTuple"
CQL_TYPE = "http://hl7.org/fhir/StructureDefinition/cqf-cqlType"


# --- values both sides are reduced to (the runner's JavaScript shapes) ------------------------------------


class Null:
    """The runner's `null` (distinct from a missing value)."""

    def __repr__(self) -> str:
        return "null"


NULL = Null()


@dataclass(frozen=True)
class Num:
    value: float
    integer: bool  # written without a decimal point (for interval steps)


@dataclass(frozen=True)
class BigInt:
    value: int


@dataclass(frozen=True)
class Temporal:
    text: str  # '@2012-01-01T10:00', '@T10:30'


@dataclass(frozen=True)
class LongText:
    """An actual Long that arrived as a digits-only string (only a Long may match it)."""

    value: int
    tagged: bool


# --- the cvl grammar: CQL literals as they appear in <output> ---------------------------------------------


def _cvl() -> pp.ParserElement:
    value = pp.Forward()
    string = pp.QuotedString("'", esc_char="\\", unquote_results=False).set_parse_action(
        lambda t: _unescape(t[0][1:-1]))
    number_text = pp.Regex(r"[+-]?\d+(\.\d+)?")
    long = pp.Regex(r"[+-]?\d+L").set_parse_action(lambda t: BigInt(int(t[0][:-1])))
    temporal = pp.Regex(r"@T?[0-9][0-9T:.\-+Z]*").set_parse_action(lambda t: Temporal(t[0]))
    unit_word = pp.one_of("years year months month weeks week days day hours hour minutes minute seconds second "
                          "milliseconds millisecond", as_keyword=True)
    quantity = (number_text + (pp.QuotedString("'", esc_char="\\") | unit_word)).set_parse_action(
        lambda t: {"value": Num(float(t[0]), "." not in t[0]), "unit": t[1]})
    number = number_text.copy().set_parse_action(lambda t: Num(float(t[0]), "." not in t[0]))
    ratio = (quantity + pp.Suppress(":") + quantity).set_parse_action(
        lambda t: {"numerator": t[0], "denominator": t[1]})
    keyword = (pp.Keyword("true").set_parse_action(lambda: True) | pp.Keyword("false").set_parse_action(lambda: False)
               | pp.Keyword("null").set_parse_action(lambda: NULL))
    interval = (pp.Suppress(pp.Keyword("Interval")) + pp.one_of("[ (") + value + pp.Suppress(",") + value
                + pp.one_of("] )")).set_parse_action(
        lambda t: {"lowClosed": t[0] == "[", "low": t[1], "high": t[2], "highClosed": t[3] == "]", "__interval": True})
    identifier = pp.Word(pp.alphas + "_", pp.alphanums + "_") | pp.QuotedString('"')
    element = pp.Group(identifier + pp.Suppress(":") + value)
    tuple_body = pp.Suppress("{") + pp.Optional(pp.DelimitedList(element)) + pp.Suppress("}")
    tuple_ = (pp.Suppress(pp.Keyword("Tuple")) + tuple_body).set_parse_action(lambda t: {k: v for k, v in t})
    code = (pp.Suppress(pp.Keyword("Code")) + tuple_body).set_parse_action(lambda t: {k: v for k, v in t})
    concept = (pp.Suppress(pp.Keyword("Concept")) + tuple_body).set_parse_action(lambda t: _concept({k: v for k, v in t}))
    bare_tuple = (pp.Suppress("{") + pp.DelimitedList(element) + pp.Suppress("}")).set_parse_action(
        lambda t: {k: v for k, v in t})
    list_ = (pp.Suppress("{") + pp.Optional(pp.DelimitedList(value)) + pp.Suppress("}")).set_parse_action(
        lambda t: [list(t)])
    value <<= (keyword | interval | tuple_ | code | concept | bare_tuple | list_ | string | temporal | ratio
               | quantity | long | number)
    return value


def _unescape(text: str) -> str:
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1).startswith("u")
                  and len(m.group(1)) == 5 else {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}.get(m.group(1), m.group(1)),
                  text)


def _concept(fields: dict[str, Any]) -> Any:
    codes = fields.get("codes")
    if isinstance(codes, list) and len(codes) == 1:
        codes = codes[0]
    if isinstance(codes, dict) and "display" not in fields:
        return codes  # the runner normalises a single-code Concept to its code
    return {**fields, "codes": codes}


CVL = _cvl()


def parse_expected(text: str) -> Any:
    return CVL.parse_string(text.strip(), parse_all=True)[0]


# --- reading the engine's Parameters reply ----------------------------------------------------------------


def _extensions(param: dict[str, Any], key: str = "_valueBoolean") -> dict[str, Any]:
    holder = param.get(key) if key else param
    if not isinstance(holder, dict):
        return {}
    return {e.get("url"): e for e in holder.get("extension", []) if isinstance(e, dict)}


def _temporal_text(kind: str, raw: str) -> Temporal:
    if kind == "Time":
        return Temporal("@T" + raw)
    text = "@" + raw
    if kind == "DateTime" and len(text) <= 11:
        text += "T"
    return Temporal(text)


def _quantity(raw: dict[str, Any]) -> dict[str, Any]:
    return {"value": Num(float(raw.get("value", math.nan)), False), "unit": raw.get("code", raw.get("unit"))}


def read_param(param: dict[str, Any]) -> Any:
    """One Parameters.parameter -> the runner's value shape."""
    ext = _extensions(param)
    if EMPTY_LIST in ext:
        return []
    if EMPTY_TUPLE in ext:
        return {}
    if DATA_ABSENT in ext:
        return NULL
    own = _extensions(param, "")
    if "valueBoolean" in param:
        return bool(param["valueBoolean"])
    if "valueInteger" in param:
        return Num(float(param["valueInteger"]), True)
    if "valueInteger64" in param:
        return LongText(int(param["valueInteger64"]), True)
    if "valueDecimal" in param:
        return Num(float(param["valueDecimal"]), False)
    if "valueString" in param:
        text = param["valueString"]
        tag = own.get(CQL_TYPE, {}).get("valueString")
        if re.fullmatch(r"-?\d+", text) and tag == "System.Long":
            return LongText(int(text), True)
        return text
    for kind in ("Date", "DateTime", "Time", "Instant"):
        if f"value{kind}" in param:
            return _temporal_text("DateTime" if kind == "Instant" else kind, param[f"value{kind}"])
    if "valueQuantity" in param:
        return _quantity(param["valueQuantity"])
    if "valueRatio" in param:
        return {"numerator": _quantity(param["valueRatio"]["numerator"]),
                "denominator": _quantity(param["valueRatio"]["denominator"])}
    if "valueCoding" in param:
        return {k: v for k, v in param["valueCoding"].items() if k in ("code", "system", "version", "display")}
    if "valueCodeableConcept" in param:
        concept = param["valueCodeableConcept"]
        codes = [{k: v for k, v in c.items() if k in ("code", "system", "version", "display")}
                 for c in concept.get("coding", [])]
        return _concept({"codes": codes, **({"display": concept["text"]} if "text" in concept else {})})
    if "valueRange" in param:
        rng = param["valueRange"]
        return {"lowClosed": True, "low": _quantity(rng["low"]) if "low" in rng else NULL,
                "highClosed": True, "high": _quantity(rng["high"]) if "high" in rng else NULL, "__interval": True}
    if "valuePeriod" in param:
        period = param["valuePeriod"]
        return {"lowClosed": True, "low": _temporal_text("DateTime", period["start"]) if "start" in period else NULL,
                "highClosed": True, "high": _temporal_text("DateTime", period["end"]) if "end" in period else NULL,
                "__interval": True}
    parts = param.get("part")
    if isinstance(parts, list):
        names = [p.get("name") for p in parts]
        if names and all(n == "element" for n in names):
            return _collect(parts)
        point_type = own.get(CQL_TYPE, {}).get("valueString", "")
        if point_type.startswith("Interval") or set(names) >= {"lowClosed", "highClosed"}:
            by_name = {p["name"]: read_param(p) for p in parts}
            return {"lowClosed": by_name.get("lowClosed"), "low": by_name.get("low", NULL),
                    "highClosed": by_name.get("highClosed"), "high": by_name.get("high", NULL),
                    "__interval": True, "__pointType": point_type}
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in parts:
            grouped[p["name"]].append(p)
        return {name: (read_param(items[0]) if len(items) == 1 else _collect(items)) for name, items in grouped.items()}
    if "resource" in param:
        return param["resource"]
    return NULL


def _collect(params: list[dict[str, Any]]) -> list[Any]:
    if len(params) == 1 and EMPTY_LIST in _extensions(params[0]):
        return []
    return [read_param(p) for p in params]


def read_reply(status: int, body: Any) -> tuple[bool, Any]:
    """(is_error, value). A list or a one-element list versus a scalar is decided later by the expected shape."""
    if status >= 300 or not isinstance(body, dict):
        return True, None
    if body.get("resourceType") == "OperationOutcome":
        return True, None
    params = [p for p in body.get("parameter", []) if isinstance(p, dict)]
    if any(p.get("name") == "evaluation error" for p in params):
        return True, None
    returns = [p for p in params if p.get("name") == "return"]
    if not returns:
        return True, None
    return False, returns


# --- comparison -------------------------------------------------------------------------------------------


_TIME = re.compile(r"^@T(\d{2})(?::(\d{2}))?(?::(\d{2}))?(?:\.(\d+))?$")
_DATETIME = re.compile(r"^@(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?(T(?:(\d{2})(?::(\d{2}))?(?::(\d{2}))?(?:\.(\d+))?)?"
                       r"(Z|[+-]\d{2}:\d{2})?)?$")


def _millis(fraction: str | None) -> int | None:
    return int((fraction + "00")[:3]) if fraction else None


def _temporal_key(text: str) -> tuple[Any, ...] | None:
    """Components, precision (which are present) and the offset in minutes: Z and +00:00 are the same."""
    match = _TIME.match(text)
    if match:
        hour, minute, second, fraction = match.groups()
        return ("time", hour, minute, second, _millis(fraction))
    match = _DATETIME.match(text)
    if match is None:
        return None
    year, month, day, t_part, hour, minute, second, fraction, zone = match.groups()
    offset: int | None = None
    if zone == "Z":
        offset = 0
    elif zone:
        offset = (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
    kind = "datetime" if t_part is not None else "date"
    return (kind, year, month, day, hour, minute, second, _millis(fraction), offset)


@dataclass
class Rules:
    semantic_temporals: bool
    syntax_expects_error: bool
    strict_long: bool


OFFICIAL = Rules(False, False, False)
OURS = Rules(True, True, True)


def equal(expected: Any, actual: Any, rules: Rules) -> bool:
    if expected is NULL:
        return actual is NULL
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual is expected
    if isinstance(expected, BigInt):
        if isinstance(actual, LongText):
            return actual.value == expected.value
        if rules.strict_long:
            return False
        return isinstance(actual, str) and re.fullmatch(r"-?\d+", actual) is not None and int(actual) == expected.value
    if isinstance(expected, Num):
        if isinstance(actual, LongText):
            return not rules.strict_long and not actual.tagged and abs(actual.value - expected.value) <= TOLERANCE
        return isinstance(actual, Num) and abs(actual.value - expected.value) <= TOLERANCE
    if isinstance(expected, Temporal):
        if not isinstance(actual, Temporal):
            return False
        if not rules.semantic_temporals:
            return actual.text == expected.text
        return _temporal_key(actual.text) == _temporal_key(expected.text) is not None
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        return all(equal(e, a, rules) for e, a in zip(expected, actual))
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        if expected.get("__interval"):
            return actual.get("__interval") is True and _interval_equal(expected, actual, rules)
        keys = {k for k in expected if not k.startswith("__")}
        if keys != {k for k in actual if not k.startswith("__")}:
            return False
        return all(equal(expected[k], actual[k], rules) for k in keys)
    return False


def _step(interval: dict[str, Any], actual: dict[str, Any] | None) -> float | None:
    point_type = (actual or {}).get("__pointType", "")
    for bound in ("low", "high"):
        value = (actual or interval).get(bound)
        if isinstance(value, Num):
            if "Integer" in point_type or "Long" in point_type:
                return 1.0
            if "Decimal" in point_type:
                return 1e-8
            return 1.0 if value.integer else 1e-8
    return None


def _closed(interval: dict[str, Any], step: float) -> tuple[Any, Any]:
    low, high = interval["low"], interval["high"]
    if isinstance(low, Num) and not interval["lowClosed"]:
        low = Num(low.value + step, low.integer)
    if isinstance(high, Num) and not interval["highClosed"]:
        high = Num(high.value - step, high.integer)
    return low, high


def _interval_equal(expected: dict[str, Any], actual: dict[str, Any], rules: Rules) -> bool:
    step = _step(expected, actual)
    numeric = step is not None and all(isinstance(v, (Num, Null)) for v in
                                       (expected["low"], expected["high"], actual.get("low"), actual.get("high")))
    if numeric:
        assert step is not None
        el, eh = _closed(expected, step)
        al, ah = _closed({**actual, "low": actual.get("low", NULL), "high": actual.get("high", NULL)}, step)
        return equal(el, al, rules) and equal(eh, ah, rules)
    return (expected["lowClosed"] == actual.get("lowClosed") and expected["highClosed"] == actual.get("highClosed")
            and equal(expected["low"], actual.get("low", NULL), rules)
            and equal(expected["high"], actual.get("high", NULL), rules))


def shape_actual(expected: Any, returns: list[dict[str, Any]]) -> Any:
    """A one-element list and a scalar look the same on the wire: the expected value's shape decides."""
    values = [read_param(p) for p in returns]
    if len(values) != 1:
        return values
    only = values[0]
    if not isinstance(expected, list):
        return only
    if only == [] and EMPTY_LIST in _extensions(returns[0]):
        return []
    return [only]


# --- running ----------------------------------------------------------------------------------------------


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


def in_scope(case: dict[str, Any]) -> bool:
    version = _version_tuple(case.get("version"))
    version_to = _version_tuple(case.get("version_to"))
    if version is not None and version > ENGINE_VERSION:
        return False
    if version_to is not None and version_to < ENGINE_VERSION:
        return False
    return True


def verdict(case: dict[str, Any], is_error: bool, returns: Any, rules: Rules) -> str:
    """'pass' | 'fail' | 'skip' for one case under one set of rules."""
    if not in_scope(case):
        return "skip"
    invalid = str(case.get("invalid", "false"))
    if invalid in ("true", "semantic") or (invalid == "syntax" and rules.syntax_expects_error):
        return "pass" if is_error else "fail"
    output = case.get("output")
    if output is None:
        return "skip"
    if is_error:
        return "fail"
    try:
        expected = parse_expected(output)
    except pp.ParseException:
        return "fail"
    return "pass" if equal(expected, shape_actual(expected, returns), rules) else "fail"


Poster = Callable[[dict[str, Any]], tuple[int, Any]]


def http_poster(base: str, timeout: float) -> Poster:
    import requests

    session = requests.Session()
    url = base.rstrip("/") + "/$cql"

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        response = session.post(url, json=body, timeout=timeout, headers={"Accept": "application/fhir+json"})
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    return post


def in_process_poster() -> Poster:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from flask import Flask

    from cds_service.cqlapi import bp

    app = Flask("cql-tests")
    app.register_blueprint(bp)
    client = app.test_client()

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        response = client.post("/fhir/$cql", json=body)
        try:
            return response.status_code, json.loads(response.get_data(as_text=True), parse_float=Decimal)
        except ValueError:
            return response.status_code, None

    return post


def run(cases: list[dict[str, Any]], post: Poster) -> dict[str, dict[str, dict[str, int]]]:
    """suite -> rules name -> {'pass', 'fail', 'skip'} counts; failures listed on stderr with --verbose."""
    totals: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: {
        "official": defaultdict(int), "ours": defaultdict(int)})
    for case in cases:
        body = {"resourceType": "Parameters", "parameter": [{"name": "expression", "valueString": case["expression"]}]}
        status, reply = post(body)
        is_error, returns = read_reply(status, reply)
        for name, rules in (("official", OFFICIAL), ("ours", OURS)):
            outcome = verdict(case, is_error, returns, rules)
            totals[case["suite"]][name][outcome] += 1
            case.setdefault("_verdicts", {})[name] = outcome
    return totals


def _rate(counts: dict[str, int]) -> str:
    scored = counts["pass"] + counts["fail"]
    return f"{counts['pass']:4d}/{scored:<4d} {100.0 * counts['pass'] / scored:5.1f} %" if scored else "   -"


def report(totals: dict[str, dict[str, dict[str, int]]]) -> str:
    lines = [f"{'suite':34s} {'official rules':>20s} {'our rules':>20s}"]
    overall = {"official": defaultdict(int), "ours": defaultdict(int)}
    for suite in sorted(totals):
        for name in overall:
            for key, value in totals[suite][name].items():
                overall[name][key] += value
        lines.append(f"{suite:34s} {_rate(totals[suite]['official']):>20s} {_rate(totals[suite]['ours']):>20s}")
    lines.append(f"{'ALL':34s} {_rate(overall['official']):>20s} {_rate(overall['ours']):>20s}")
    lines.append(f"skipped (version gating / no output): official {overall['official']['skip']}, "
                 f"ours {overall['ours']['skip']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--base", help="FHIR base URL of a running service, e.g. http://127.0.0.1:8080/fhir")
    target.add_argument("--in-process", action="store_true", help="call the $cql blueprint through Flask's test client")
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="cql-tests JSONL file")
    parser.add_argument("--suite", action="append", help="only these suites (repeatable)")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--failures", type=Path, help="write failing case ids (ours) to this file")
    args = parser.parse_args(argv)
    cases = [json.loads(line) for line in args.cases.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.suite:
        cases = [c for c in cases if c["suite"] in args.suite]
    post = in_process_poster() if args.in_process else http_poster(args.base, args.timeout)
    started = time.perf_counter()
    totals = run(cases, post)
    elapsed = time.perf_counter() - started
    print(report(totals))
    print(f"{len(cases)} cases in {elapsed:.1f} s")
    if args.failures:
        failed = [f"{c['suite']}.{c['group']}.{c['name']}\t{c['expression']!r}\texpected {c.get('output')!r}"
                  for c in cases if c.get("_verdicts", {}).get("ours") == "fail"]
        args.failures.write_text("\n".join(failed) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
