"""Queries and retrieves: sources, let, with/without, where, return (distinct/all), sort, aggregate, value sets."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.cql import EvaluationContext, evaluate_expression
from cds_service.cql.types import Code, DateTime, Tuple
from tests.unit.cql.conftest import NOW, DictValueSets, ListDataSource, SimpleValueSet, compile_library

LOINC = "http://loinc.org"


def observation(oid: str, code: str, value: float, when: str, status: str = "final") -> dict:
    return {
        "resourceType": "Observation", "id": oid, "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "{INR}", "system": "http://unitsofmeasure.org", "code": "{INR}"},
    }


RECORD = [
    observation("inr-old", "6301-6", 1.2, "2026-03-01T08:00:00Z"),
    observation("inr-new", "6301-6", 2.1, "2026-04-28T08:00:00Z"),
    observation("inr-bad", "6301-6", 9.9, "2026-04-29T08:00:00Z", status="entered-in-error"),
    observation("plt", "777-3", 180, "2026-04-28T08:00:00Z"),
    {"resourceType": "Condition", "id": "c1", "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M80.08XA"}]}},
]

LIB = """
library Main
using FHIR version '4.0.1'
codesystem "LOINC": 'http://loinc.org'
valueset "Osteoporotic fracture": 'urn:vs:osteo'
code "INR": '6301-6' from "LOINC"
context Patient
define "Inrs": [Observation: "INR"] O where O.status = 'final'
define "Latest INR": First("Inrs" O sort by effective desc)
define "Latest INR value": ("Latest INR".value as Quantity).value
define "Fractures": [Condition: "Osteoporotic fracture"]
define "Count all": Count([Observation])
define "Lab codes": [Observation] O return O.code.coding[0].code
define "Lab codes all": [Observation] O return all O.code.coding[0].code
"""


def evaluate(define: str) -> object:
    vs = DictValueSets({"urn:vs:osteo": SimpleValueSet((), prefixes=(("http://hl7.org/fhir/sid/icd-10-cm", "M80."),))})
    lib = compile_library(LIB)
    return lib.evaluate(EvaluationContext(data=ListDataSource(RECORD), valuesets=vs, now=NOW), [define])[define]


def test_retrieve_filters_by_code_even_when_the_source_does_not() -> None:
    ids = [o["id"] for o in evaluate("Inrs")]  # type: ignore[attr-defined]
    assert ids == ["inr-old", "inr-new"]


def test_sort_by_a_choice_element_descending_picks_the_latest() -> None:
    assert evaluate("Latest INR")["id"] == "inr-new"  # type: ignore[index]
    assert evaluate("Latest INR value") == Decimal("2.1")


def test_retrieve_by_value_set_uses_the_resolver_prefix_filters() -> None:
    assert [c["id"] for c in evaluate("Fractures")] == ["c1"]  # type: ignore[attr-defined]


def test_return_is_distinct_by_default_and_all_keeps_duplicates() -> None:
    assert evaluate("Lab codes") == ["6301-6", "777-3"]
    assert evaluate("Lab codes all") == ["6301-6", "6301-6", "6301-6", "777-3"]
    assert evaluate("Count all") == 4


def test_with_and_without_relationships() -> None:
    assert evaluate_expression("({1, 2, 3}) A with ({2, 3, 4}) B such that A = B return A * 10") == [20, 30]
    assert evaluate_expression("({1, 2, 3}) A without ({2, 3, 4}) B such that A = B") == [1]


def test_let_and_multi_source_queries() -> None:
    assert evaluate_expression("({1, 2}) A let D: A * 2 return D + 1") == [3, 5]
    result = evaluate_expression("from ({1, 2}) A, ({'x'}) B return Tuple { a: A, b: B }")
    assert result == [Tuple(a=1, b="x"), Tuple(a=2, b="x")]


def test_multi_source_without_return_gives_tuples_of_aliases() -> None:
    assert evaluate_expression("from ({1}) A, ({2}) B") == [Tuple(A=1, B=2)]


def test_sort_by_expression_and_direction() -> None:
    assert evaluate_expression("({Tuple{n: 2}, Tuple{n: 1}, Tuple{n: 3}}) T sort by n desc") == [
        Tuple(n=3), Tuple(n=2), Tuple(n=1)]
    assert evaluate_expression("({3, null, 1}) X sort asc") == [None, 1, 3]


def test_aggregate_with_starting_value_and_distinct() -> None:
    assert evaluate_expression("({1, 2, 3, 3}) X aggregate R starting 1: R * X") == 18
    assert evaluate_expression("({1, 2, 3, 3}) X aggregate distinct R starting 0: R + X") == 6


def test_query_over_a_single_value_returns_a_single_value() -> None:
    assert evaluate_expression("(5) X return X + 1") == 6
    assert evaluate_expression("(5) X where X > 10") is None


def test_where_treats_null_as_not_true() -> None:
    assert evaluate_expression("({1, null, 3}) X where X > 1") == [3]


def test_aliases_do_not_leak_between_nested_queries() -> None:
    text = "({1, 2}) X return (({10, 20}) X return X + 1)"
    assert evaluate_expression(text) == [[11, 21]]


def test_code_in_value_set_and_equivalence() -> None:
    text = """
library Main
codesystem "LOINC": 'http://loinc.org'
valueset "Coag": 'urn:vs:coag'
define "In": Code '6301-6' from "LOINC" in "Coag"
define "Out": Code '1-1' from "LOINC" in "Coag"
define "NullIn": (null as Code) in "Coag"
"""
    vs = DictValueSets({"urn:vs:coag": SimpleValueSet((Code("6301-6", LOINC),))})
    result = compile_library(text).evaluate(EvaluationContext(valuesets=vs, now=NOW))
    assert result == {"In": True, "Out": False, "NullIn": None}


def test_fhir_datetime_values_compare_as_cql_datetimes() -> None:
    text = """
library Main
using FHIR version '4.0.1'
context Patient
define "Recent": [Observation] O where O.effective after @2026-04-01T00:00:00Z return O.id
"""
    lib = compile_library(text)
    result = lib.evaluate(EvaluationContext(data=ListDataSource(RECORD), now=NOW), ["Recent"])["Recent"]
    assert result == ["inr-new", "inr-bad", "plt"]
    assert isinstance(evaluate_expression("@2026-04-01T00:00:00Z"), DateTime)


@pytest.mark.parametrize("text,expected", [
    ("(null as List<Integer>) X return X", None),
    ("({}) X return X", []),
])
def test_empty_and_null_sources(text: str, expected: object) -> None:
    assert evaluate_expression(text) == expected


def test_patient_context_resource_and_age() -> None:
    text = """
library Main
using FHIR version '4.0.1'
context Patient
define "Gender": Patient.gender
define "Age": AgeInYears()
define "AgeAt": AgeInYearsAt(@2020-01-01)
define "IsPatient": Patient is FHIR.Patient
define "BirthIsDate": Patient.birthDate is FHIR.date
"""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-06-15"}
    lib = compile_library(text)
    result = lib.evaluate(EvaluationContext(data=ListDataSource([patient]), now=NOW))
    assert result == {"Gender": "female", "Age": 75, "AgeAt": 69, "IsPatient": True, "BirthIsDate": True}
