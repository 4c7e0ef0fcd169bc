"""POST /fhir/$cql through Flask's test client: Parameters in, Parameters out as the cql-tests-runner reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.cqlapi import CQL_TYPE, DATA_ABSENT, EMPTY_LIST, EMPTY_TUPLE, bp

UCUM = "http://unitsofmeasure.org"


@pytest.fixture
def client() -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app.test_client()


def call(client: FlaskClient, expression: str | None, *extra: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    params: list[dict[str, Any]] = [{"name": "expression", "valueString": expression}] if expression else []
    response = client.post("/fhir/$cql", json={"resourceType": "Parameters", "parameter": [*params, *extra]})
    assert response.mimetype == "application/fhir+json"
    return response.status_code, json.loads(response.get_data(as_text=True))


def returns(client: FlaskClient, expression: str, *extra: dict[str, Any]) -> list[dict[str, Any]]:
    status, body = call(client, expression, *extra)
    assert status == 200, body
    assert body["resourceType"] == "Parameters"
    assert all(p["name"] == "return" for p in body["parameter"]), body
    return [{k: v for k, v in p.items() if k != "name"} for p in body["parameter"]]


def null_value() -> dict[str, Any]:
    return {"_valueBoolean": {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}}


@pytest.mark.parametrize(("expression", "expected"), [
    ("1 + 1", [{"valueInteger": 2}]),
    ("true and false", [{"valueBoolean": False}]),
    ("'a' + 'b'", [{"valueString": "ab"}]),
    ("null", [null_value()]),
    ("@2012-01-01", [{"valueDate": "2012-01-01"}]),
    ("@2012-01-01T10:30", [{"valueDateTime": "2012-01-01T10:30"}]),
    ("@T10:30:00", [{"valueTime": "10:30:00"}]),
    ("5 'mg'", [{"valueQuantity": {"value": 5, "unit": "mg", "code": "mg", "system": UCUM}}]),
    ("3 days", [{"valueQuantity": {"value": 3, "unit": "days", "code": "days"}}]),
    ("Code { code: '6301-6', system: 'http://loinc.org' }",
     [{"valueCoding": {"system": "http://loinc.org", "code": "6301-6"}}]),
])
def test_scalar_results(client: FlaskClient, expression: str, expected: list[dict[str, Any]]) -> None:
    assert returns(client, expression) == expected


def test_decimal_is_an_exact_json_number(client: FlaskClient) -> None:
    status, _ = call(client, "1.0")
    response = client.post("/fhir/$cql", json={"resourceType": "Parameters", "parameter": [
        {"name": "expression", "valueString": "0.1 + 0.2"}]})
    assert status == 200
    assert '"valueDecimal": 0.3}' in response.get_data(as_text=True)


def test_long_is_a_digits_only_string_tagged_with_its_cql_type(client: FlaskClient) -> None:
    assert returns(client, "3L") == [{"valueString": "3", "extension": [{"url": CQL_TYPE, "valueString": "System.Long"}]}]


def test_lists_are_repeated_returns_and_empty_list_is_flagged(client: FlaskClient) -> None:
    assert returns(client, "{1, null, 3}") == [{"valueInteger": 1}, null_value(), {"valueInteger": 3}]
    assert returns(client, "{}") == [{"_valueBoolean": {"extension": [{"url": EMPTY_LIST, "valueBoolean": True}]}}]


def test_nested_lists_are_parts_named_element(client: FlaskClient) -> None:
    assert returns(client, "{{1, 2}, {}}") == [
        {"part": [{"name": "element", "valueInteger": 1}, {"name": "element", "valueInteger": 2}]},
        {"part": [{"name": "element", "_valueBoolean": {"extension": [{"url": EMPTY_LIST, "valueBoolean": True}]}}]},
    ]


def test_interval_is_parts_with_its_point_type(client: FlaskClient) -> None:
    assert returns(client, "Interval[1, 10)") == [{
        "extension": [{"url": CQL_TYPE, "valueString": "Interval<System.Integer>"}],
        "part": [{"name": "low", "valueInteger": 1}, {"name": "high", "valueInteger": 10},
                 {"name": "lowClosed", "valueBoolean": True}, {"name": "highClosed", "valueBoolean": False}],
    }]


def test_tuples_are_parts_and_the_empty_tuple_is_flagged(client: FlaskClient) -> None:
    assert returns(client, "Tuple { a: 1, b: null }") == [
        {"part": [{"name": "a", "valueInteger": 1}, {"name": "b", **null_value()}]}]
    assert returns(client, "Tuple { a: Tuple { } }")[0]["part"] == [
        {"name": "a", "_valueBoolean": {"extension": [{"url": EMPTY_TUPLE, "valueBoolean": True}]}}]


def test_syntax_error_is_a_400_naming_the_expression_and_where(client: FlaskClient) -> None:
    status, body = call(client, "1 +")
    assert status == 400
    issue = body["issue"][0]
    assert issue["expression"] == ["expression"] and "line 1, column 3" in issue["diagnostics"]


def test_semantic_error_is_a_400(client: FlaskClient) -> None:
    status, body = call(client, "NoSuchFunction(1)")
    assert status == 400 and body["resourceType"] == "OperationOutcome"
    assert "NoSuchFunction" in body["issue"][0]["diagnostics"]


def test_run_time_error_is_an_evaluation_error_parameter(client: FlaskClient) -> None:
    status, body = call(client, "Message(1, true, 'E1', 'Error', 'stop here')")
    assert status == 200
    [param] = body["parameter"]
    assert param["name"] == "evaluation error"
    assert param["resource"]["resourceType"] == "OperationOutcome"
    assert "stop here" in param["resource"]["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("body", "field"), [
    ({"resourceType": "Patient"}, "Parameters"),
    ({"resourceType": "Parameters", "parameter": {}}, "Parameters.parameter"),
    ({"resourceType": "Parameters", "parameter": []}, "parameter.expression"),
    ({"resourceType": "Parameters", "parameter": [{"name": "expression", "valueInteger": 1}]},
     "parameter[0].valueString"),
    ({"resourceType": "Parameters", "parameter": [{"name": "expression", "valueString": "1"},
                                                  {"name": "data", "resource": {"resourceType": "Patient"}}]},
     "parameter[1].resource"),
    ({"resourceType": "Parameters", "parameter": [{"name": "expression", "valueString": "1"},
                                                  {"name": "parameters", "resource": {"resourceType": "Parameters",
                                                   "parameter": [{"name": "X", "valueAttachment": {}}]}}]},
     "parameter[1].resource.parameter[0].valueAttachment"),
    ({"resourceType": "Parameters", "parameter": [{"name": "expression", "valueString": "1"},
                                                  {"name": "parameters", "resource": {"resourceType": "Parameters",
                                                   "parameter": [{"name": "a\"b", "valueInteger": 1}]}}]},
     "parameter[1].resource.parameter[0].name"),
    ({"resourceType": "Parameters", "parameter": [{"name": "expression", "valueString": "1"},
                                                  {"name": "parameters", "resource": {"resourceType": "Parameters",
                                                   "parameter": [{"name": "D", "valueDate": "01/02/2020"}]}}]},
     "parameter[1].resource.parameter[0].valueDate"),
])
def test_bad_input_is_a_400_operation_outcome_naming_the_field(client: FlaskClient, body: Any, field: str) -> None:
    response = client.post("/fhir/$cql", json=body)
    assert response.status_code == 400
    outcome = json.loads(response.get_data(as_text=True))
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [field]


def test_non_json_body_is_a_400(client: FlaskClient) -> None:
    response = client.post("/fhir/$cql", data=b"\xff not json", content_type="application/json")
    assert response.status_code == 400
    assert json.loads(response.get_data(as_text=True))["issue"][0]["expression"] == ["body"]


def test_parameters_are_typed_cql_values(client: FlaskClient) -> None:
    nested = {"resourceType": "Parameters", "parameter": [
        {"name": "Threshold", "valueDecimal": 1.8},
        {"name": "Start", "valueDate": "2026-01-01"},
        {"name": "Dose", "valueQuantity": {"value": 5, "system": UCUM, "code": "mg"}}]}
    assert returns(client, "Threshold > 1.5 and Start < @2026-02-01 and Dose = 5 'mg'",
                   {"name": "parameters", "resource": nested}) == [{"valueBoolean": True}]


def _bundle() -> dict[str, Any]:
    def obs(oid: str, value: float, patient: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": oid, "status": "final",
                "subject": {"reference": f"Patient/{patient}"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "6301-6"}]},
                "valueQuantity": {"value": value, "system": UCUM, "code": "{INR}"}}

    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "va-pat-1", "birthDate": "1948-05-01"}},
        {"resource": {"resourceType": "Patient", "id": "va-pat-2"}},
        {"resource": obs("inr-1", 1.2, "va-pat-1")}, {"resource": obs("inr-2", 2.1, "va-pat-1")},
        {"resource": obs("inr-3", 3.0, "va-pat-2")}]}


def test_data_bundle_is_retrieved_from_and_subject_selects_the_patient(client: FlaskClient) -> None:
    data = {"name": "data", "resource": _bundle()}
    subject = {"name": "subject", "valueString": "Patient/va-pat-1"}
    expression = "Count([Observation] O where (O.value as Quantity) > 2.0 '{INR}')"
    assert returns(client, expression, data) == [{"valueInteger": 2}]
    assert returns(client, expression, data, subject) == [{"valueInteger": 1}]


# --- the conformance runner reads what the operation writes ----------------------------------------------------


def _runner() -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "cql_tests_runner.py"
    spec = importlib.util.spec_from_file_location("cql_tests_runner", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules["cql_tests_runner"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("expression", "output", "invalid", "official", "ours"), [
    ("1 + 2", "3", "false", "pass", "pass"),
    ("1 + 2", "4", "false", "fail", "fail"),
    ("{1, 2}", "{1, 2}", "false", "pass", "pass"),
    ("{2}", "{2}", "false", "pass", "pass"),
    ("{}", "{}", "false", "pass", "pass"),
    ("Interval[1, 5)", "Interval[1, 4]", "false", "pass", "pass"),
    ("Tuple { a: 1 }", "Tuple { a: 1 }", "false", "pass", "pass"),
    ("5L", "5L", "false", "pass", "pass"),
    ("@2012-01-01T00:00:00.000+00:00", "@2012-01-01T00:00:00.000Z", "false", "fail", "pass"),
    ("1 +", "null", "syntax", "fail", "pass"),
    ("Message(1, true, 'E', 'Error', 'x')", None, "true", "pass", "pass"),
])
def test_runner_scores_our_replies_by_both_rule_sets(client: FlaskClient, expression: str, output: str | None,
                                                     invalid: str, official: str, ours: str) -> None:
    runner = _runner()
    response = client.post("/fhir/$cql", json={"resourceType": "Parameters",
                                               "parameter": [{"name": "expression", "valueString": expression}]})
    is_error, returns = runner.read_reply(response.status_code, json.loads(response.get_data(as_text=True)))
    case = {"suite": "S", "expression": expression, "output": output, "invalid": invalid, "version": "1.0"}
    assert runner.verdict(case, is_error, returns, runner.OFFICIAL) == official
    assert runner.verdict(case, is_error, returns, runner.OURS) == ours


def test_runner_skips_cases_outside_cql_1_5() -> None:
    runner = _runner()
    assert not runner.in_scope({"version": "2.0"})
    assert not runner.in_scope({"version": "1.0", "version_to": "1.4"})
    assert runner.in_scope({"version": "1.5"})
