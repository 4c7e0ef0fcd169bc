"""Robustness: random grammar-guided and mutated expressions only ever raise CqlError subclasses."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.cql import evaluate_expression
from cds_service.cql.errors import CqlError

CASES = Path(__file__).resolve().parents[2] / "conformance" / "data" / "cql-tests-public.jsonl"
SEEDS = [json.loads(line)["expression"] for line in CASES.read_text(encoding="utf-8").splitlines()[::7] if line]

ATOMS = st.sampled_from([
    "1", "0", "-1", "2147483647", "1.5", "0.0", "3L", "'abc'", "''", "null", "true", "false",
    "@2012-01-01", "@2012-01-01T10:00:00.000Z", "@T12:00", "5 days", "3 'mg'", "{}", "{1, 2, null}",
    "Interval[1, 10]", "Interval[@2012-01-01, @2012-12-31)", "Tuple { a: 1 }", "{ 'a', 'b' }",
])
BINARY = st.sampled_from([
    "+", "-", "*", "/", "div", "mod", "^", "&", "=", "!=", "~", "<", ">=", "and", "or", "xor", "implies",
    "union", "intersect", "except", "in", "contains", "includes", "during", "before", "after", "overlaps",
    "meets", "starts", "same day as", "3 days or less before", "within 2 days of", "properly includes",
])
UNARY = st.sampled_from([
    "not {}", "exists {}", "-{}", "start of {}", "end of {}", "width of {}", "singleton from {}", "distinct {}",
    "flatten {}", "Count({})", "Sum({})", "First({})", "Length({})", "ToString({})", "ToInteger({})",
    "Abs({})", "Round({}, 2)", "Coalesce({}, 1)", "{} is null", "{} as Integer", "convert {} to String",
    "({}) X where X > 1", "({}) X return X", "predecessor of {}", "year from {}", "Upper({})", "Floor({})",
])


def expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
            st.tuples(UNARY, inner).map(lambda t: t[0].format(t[1])),
            st.tuples(inner, inner, inner).map(lambda t: f"if {t[0]} then {t[1]} else {t[2]}"),
        ),
        max_leaves=6,
    )


def _evaluate(text: str) -> None:
    try:
        evaluate_expression(text)
    except CqlError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_grammar_guided_expressions_raise_only_cql_errors(text: str) -> None:
    _evaluate(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=6),
       st.text(alphabet="()[]{},.:'\"@+-*/ 0123456789aZ<>=~!", max_size=3))
def test_mutated_conformance_expressions_raise_only_cql_errors(seed: str, at: int, cut: int, insert: str) -> None:
    at = at % (len(seed) + 1)
    _evaluate(seed[:at] + insert + seed[at + cut:])
