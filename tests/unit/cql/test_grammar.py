"""Grammar and builder: precedence, timing phrases, literals and library constructs parse to the right ELM nodes."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.cql import ast as A
from cds_service.cql import evaluate_expression
from cds_service.cql.builder import parse_expression, parse_library
from cds_service.cql.types import Long, Quantity, Time


def test_arithmetic_precedence_and_left_associativity() -> None:
    assert evaluate_expression("2 + 3 * 4 ^ 2") == 50
    assert evaluate_expression("10 - 4 - 3") == 3
    assert evaluate_expression("-2 ^ 2") == 4  # unary minus binds tighter than ^ in CQL
    assert evaluate_expression("7 div 2 * 2 + 7 mod 2") == 7


def test_boolean_precedence() -> None:
    node = parse_expression("a or b and c implies d")
    assert isinstance(node, A.Implies)
    assert isinstance(node.operands[0], A.Or) and isinstance(node.operands[0].operands[1], A.And)
    assert evaluate_expression("1 < 2 and 2 < 3 = true") is True


def test_literals() -> None:
    assert evaluate_expression("3L") == Long(3) and isinstance(evaluate_expression("3L"), Long)
    assert evaluate_expression("'it\\'s \\u00e9'") == "it's é"
    assert evaluate_expression("1.5 'mg'") == Quantity(Decimal("1.5"), "mg")
    assert evaluate_expression("5 days") == Quantity(Decimal(5), "days")
    assert evaluate_expression("@T10:00") == Time(10, 0)
    assert repr(evaluate_expression("@2012-01-01T10:00:00.000+01:00")) == "@2012-01-01T10:00:00.000+01:00"
    assert evaluate_expression("-2147483648") == -2147483648


def test_selectors() -> None:
    assert str(evaluate_expression("Interval[1, 5)")) == "Interval[1, 5)"
    assert evaluate_expression("Tuple { a: 1, b: 'x' }.b") == "x"
    assert evaluate_expression("List<Integer>{1, 2}") == [1, 2]
    assert evaluate_expression("Code { code: 'x', system: 's' }").system == "s"
    assert evaluate_expression("Concept { codes: { Code { code: 'x' } } }").codes[0].code == "x"


@pytest.mark.parametrize("text,expected", [
    ("@2012-01-01 3 days or less before @2012-01-03", True),
    ("@2012-01-01 3 days or less before @2012-01-05", False),
    ("@2012-01-01 less than 2 days before @2012-01-03", False),
    ("@2012-01-01 more than 1 days before @2012-01-03", True),
    ("@2012-01-01 2 days or more before @2012-01-03", True),
    ("@2012-01-05 2 days after @2012-01-03", True),
    ("@2012-01-01T10:00 same day as @2012-01-01T23:00", True),
    ("@2012-01-01 same month or before @2012-01-31", True),
    ("@2012-01-01 on or after @2012-01-01", True),
    ("@2012-03-01 during Interval[@2012-01-01, @2012-12-31]", True),
    ("@2012-03-01 included in day of Interval[@2012-01-01, @2012-02-01]", False),
    ("Interval[1, 5] overlaps before Interval[3, 7]", True),
    ("Interval[1, 5] overlaps after Interval[3, 7]", False),
    ("Interval[6, 9] meets after Interval[1, 5]", True),
    ("Interval[@2012-01-01, @2012-01-10] starts 3 days or less before start of Interval[@2012-01-03, @2012-02-01]", True),
    ("Interval[@2012-01-01, @2012-01-10] ends before start of Interval[@2012-01-11, @2012-02-01]", True),
    ("@2012-01-04 within 3 days of @2012-01-01", True),
    ("@2012-01-05 within 3 days of @2012-01-01", False),
    ("Interval[1, 10] properly includes Interval[2, 3]", True),
    ("Interval[1, 10] includes start Interval[2, 30]", True),
    ("5 in Interval[1, 10]", True),
    ("Interval[1, 10] contains 11", False),
    ("4 between 1 and 5", True),
    ("years between @2000-01-01 and @2012-06-01", 12),
    ("duration in days of Interval[@2012-01-01, @2012-01-11]", 10),
    ("difference in months between @2012-01-31 and @2012-02-01", 1),
])
def test_timing_phrases(text: str, expected: object) -> None:
    assert evaluate_expression(text) == expected


def test_library_constructs_parse() -> None:
    lib = parse_library("""
library VA version '1.2.3'
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1' called FH
codesystem "LOINC": 'http://loinc.org' version '2.7'
valueset "Fractures": 'http://example.org/vs/fractures'
code "INR": '6301-6' from "LOINC" display 'INR'
concept "Coag": { "INR" } display 'Coagulation'
parameter "Threshold" Integer default 5
private parameter Other Interval<DateTime>
context Patient
define private "A": 1
define public fluent function "f"(x Integer, y List<String>) returns Integer: x
define function g(): external
""")
    assert (lib.name, lib.version) == ("VA", "1.2.3")
    assert lib.includes[0].alias == "FH" and lib.includes[0].version == "4.0.1"
    assert lib.codesystems[0].version == "2.7" and lib.codes[0].display == "INR"
    assert lib.parameters[0].name == "Threshold" and isinstance(lib.parameters[0].default, A.Literal)
    assert lib.parameters[1].access == "private"
    define, fluent, external = lib.statements
    assert define.access == "private" and define.context == "Patient"
    assert isinstance(fluent, A.FunctionDef) and fluent.fluent and len(fluent.operands) == 2
    assert isinstance(external, A.FunctionDef) and external.expression is None


def test_query_clauses_build_elm_nodes() -> None:
    node = parse_expression(
        "[Observation: code in \"VS\"] O let V: O.value with [Condition] C such that C.id = O.id "
        "where V > 1 return distinct V sort by $this desc")
    assert isinstance(node, A.Query)
    assert isinstance(node.sources[0].expression, A.Retrieve)
    assert node.sources[0].expression.code_property == "code"
    assert node.lets[0].identifier == "V" and isinstance(node.relationships[0], A.With)
    assert node.return_clause is not None and node.return_clause.distinct
    assert node.sort is not None and node.sort.by[0].direction == "desc"


def test_quoted_and_keyword_like_identifiers() -> None:
    assert evaluate_expression('Tuple { "start": 1 }."start"') == 1
    assert evaluate_expression("Interval[1, 2].low") == 1
