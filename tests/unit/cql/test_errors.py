"""Errors: syntax errors with line/column/caret, semantic errors at compile time, run-time errors naming the define."""
from __future__ import annotations

import pytest

from cds_service.cql import EvaluationContext, evaluate_expression
from cds_service.cql.builder import parse_library
from cds_service.cql.errors import (
    CqlError,
    CqlEvaluationError,
    CqlMessageError,
    CqlSemanticError,
    CqlSyntaxError,
    CqlUnsupportedError,
)
from tests.unit.cql.conftest import NOW, compile_library


def test_syntax_error_reports_line_column_and_caret() -> None:
    text = "library Main\ndefine \"A\": 1 +\ndefine \"B\": (2 * 3"
    with pytest.raises(CqlSyntaxError) as info:
        parse_library(text)
    err = info.value
    assert err.line >= 2
    line, caret = err.snippet.split("\n")
    assert caret.strip() == "^"
    assert caret.index("^") == err.column - 1
    assert line in text.split("\n")


def test_syntax_error_in_a_single_expression_points_at_the_bad_token() -> None:
    with pytest.raises(CqlSyntaxError) as info:
        evaluate_expression("1 + * 2")
    assert info.value.line == 1
    assert info.value.column == 3
    assert "1 + * 2\n  ^" == info.value.snippet


def test_comments_are_ignored_but_strings_with_slashes_are_kept() -> None:
    assert evaluate_expression("'http://x' // comment\n") == "http://x"
    assert evaluate_expression("/* a\nb */ 1 + 1") == 2


def test_unknown_identifier_is_a_semantic_error_at_load() -> None:
    with pytest.raises(CqlSemanticError) as info:
        compile_library("library Main\ndefine \"A\": Nope + 1")
    assert "Nope" in str(info.value) and info.value.define == "A" and info.value.library == "Main"


def test_wrong_operand_types_are_a_semantic_error_when_known() -> None:
    with pytest.raises(CqlSemanticError, match="Add"):
        evaluate_expression("1 + 'a'")
    with pytest.raises(CqlSemanticError, match="compare"):
        evaluate_expression("'a' < 1")
    with pytest.raises(CqlSemanticError, match="And"):
        evaluate_expression("1 and true")


def test_unknown_function_is_a_semantic_error() -> None:
    with pytest.raises(CqlSemanticError, match="Frobnicate"):
        evaluate_expression("Frobnicate(1)")


def test_invalid_literals_are_rejected_at_compile_time() -> None:
    for text in ("@T24:00:00", "2147483648", "0.000000001", "@2012-13-01"):
        with pytest.raises(CqlSemanticError):
            evaluate_expression(text)


def test_runtime_error_names_library_define_and_expression() -> None:
    lib = compile_library("library Main\ndefine \"Pick\": singleton from {1, 2}")
    with pytest.raises(CqlEvaluationError) as info:
        lib.evaluate(EvaluationContext(now=NOW))
    err = info.value
    assert err.library == "Main" and err.define == "Pick"
    assert err.expression is not None and "singleton from {1, 2}" in err.expression
    assert "Pick" in str(err) and "Main" in str(err)


def test_runtime_error_in_a_referenced_define_names_the_inner_define() -> None:
    lib = compile_library("library Main\ndefine \"Inner\": Interval[5, 1]\ndefine \"Outer\": Inner")
    with pytest.raises(CqlEvaluationError) as info:
        lib.evaluate(EvaluationContext(now=NOW), ["Outer"])
    assert info.value.define == "Inner"


def test_message_with_error_severity_stops_evaluation() -> None:
    with pytest.raises(CqlMessageError, match="too high"):
        evaluate_expression("Message(5, true, 'INR', 'Error', 'INR too high')")
    assert evaluate_expression("Message(5, true, 'INR', 'Warning', 'just saying')") == 5


def test_unsupported_construct_is_a_clear_error() -> None:
    with pytest.raises(CqlUnsupportedError):
        evaluate_expression("%context")


def test_every_engine_error_is_a_cql_error() -> None:
    for cls in (CqlSyntaxError, CqlSemanticError, CqlEvaluationError, CqlUnsupportedError, CqlMessageError):
        assert issubclass(cls, CqlError)


def test_runtime_errors_do_not_quote_patient_values() -> None:
    from tests.unit.cql.conftest import ListDataSource

    text = """
library Main
using FHIR version '4.0.1'
context Patient
define "Huge": [Observation] O return (O.value as Quantity).value * 10000000000000.0
define "Big": [Observation] O return ToInteger((O.value as Quantity).value) * 2147483647
"""
    obs = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"},
           "valueQuantity": {"value": 987654321, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
    lib = compile_library(text)
    for define in ("Huge", "Big"):
        with pytest.raises(CqlEvaluationError) as info:
            lib.evaluate(EvaluationContext(data=ListDataSource([obs]), now=NOW), [define])
        assert "987654321" not in str(info.value) and info.value.define == define


def test_runtime_error_points_at_the_failing_sub_expression() -> None:
    text = 'library Main\ndefine "Pick":\n  1 +\n    Coalesce(singleton from {1, 2}, 0)'
    lib = compile_library(text)
    with pytest.raises(CqlEvaluationError) as info:
        lib.evaluate(EvaluationContext(now=NOW))
    err = info.value
    assert (err.line, err.column) == (4, 14)
    assert err.expression is not None and err.expression.startswith("singleton from {1, 2}")
    assert "at line 4, column 14" in str(err)
