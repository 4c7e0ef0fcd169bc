"""Tolerant reading: strict R4 parse, repair of known client deviations, raw fallback with PHI-free notes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cds_service.fhir.resources import read_draft_orders, read_resource, read_resources, validate_resource

PATIENT_NAME = "Zelda Synthetic"


def sandbox_order() -> dict[str, Any]:
    """A draft order as the CDS Hooks Sandbox sends it: category and reasonCode as single objects."""
    return {
        "resourceType": "ServiceRequest", "id": "draft-1", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/va-pat-1", "display": PATIENT_NAME},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22513"}]},
        "category": {"coding": [{"system": "http://snomed.info/sct", "code": "387713003"}]},
        "reasonCode": {"text": "osteoporotic fracture L1"},
    }


def test_valid_resource_parses_strictly_without_notes() -> None:
    order = sandbox_order()
    order["category"] = [order["category"]]
    order["reasonCode"] = [order["reasonCode"]]
    result = read_resource(order)
    assert result.valid and result.problems == [] and result.resource is order
    assert result.model is not None and result.model.get_resource_type() == "ServiceRequest"


def test_sandbox_single_objects_are_wrapped_into_arrays_and_noted() -> None:
    result = read_resource(sandbox_order())
    assert result.valid
    assert result.resource["category"][0]["coding"][0]["code"] == "387713003"
    assert result.resource["reasonCode"] == [{"text": "osteoporotic fracture L1"}]
    assert result.problems == [
        "ServiceRequest/draft-1: category: single object where R4 has an array; wrapped",
        "ServiceRequest/draft-1: reasonCode: single object where R4 has an array; wrapped",
    ]


def test_nested_single_objects_are_wrapped_too() -> None:
    obs = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"},
           "component": {"code": {"coding": {"system": "s", "code": "c"}}, "valueInteger": 3}}
    result = read_resource(obs)
    assert result.valid
    assert result.resource["component"][0]["code"]["coding"] == [{"system": "s", "code": "c"}]


def test_unrepairable_resource_is_kept_raw_with_notes_that_carry_no_values() -> None:
    order = sandbox_order()
    order["authoredOn"] = f"not a date {PATIENT_NAME}"
    result = read_resource(order)
    assert not result.valid
    assert result.resource["code"]["coding"][0]["code"] == "22513"  # still usable by the rules
    assert isinstance(result.resource["category"], list)  # the repairs that could be made were made
    assert any("authoredOn" in note for note in result.problems)
    assert all(PATIENT_NAME not in note and "not a date" not in note for note in result.problems)


@pytest.mark.parametrize(("data", "note"), [
    ({"resourceType": "NotAType", "id": "x"}, "NotAType/x: resourceType: unknown FHIR R4 type"),
    ({"id": "x"}, "resource/x: resourceType: missing"),
    ({"resourceType": "Quantity"}, "Quantity: resourceType: unknown FHIR R4 type"),
    (["not", "an", "object"], "resource: expected a JSON object, got list"),
])
def test_not_a_resource_is_a_note_never_an_exception(data: Any, note: str) -> None:
    assert read_resource(data).problems == [note]


def test_draft_orders_bundle_is_read_entry_by_entry(caplog: pytest.LogCaptureFixture) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": sandbox_order()}, {"resource": {"resourceType": "Nope"}}, {"x": 1}]}
    with caplog.at_level(logging.INFO, logger="cds_service.fhir.resources"):
        orders, problems = read_draft_orders(bundle)
    # The unknown type is kept raw (the rules decide what to do with it); the non-resource entry is dropped.
    assert [o["resourceType"] for o in orders] == ["ServiceRequest", "Nope"]
    assert problems[2:] == ["Nope: resourceType: unknown FHIR R4 type",
                            "resource: expected a JSON object, got NoneType"]
    assert PATIENT_NAME not in caplog.text and "osteoporotic" not in caplog.text


def test_empty_draft_orders_and_single_object_entry_list() -> None:
    assert read_draft_orders(None) == ([], [])
    assert read_draft_orders({}) == ([], [])
    orders, problems = read_resources({"resourceType": "Bundle", "entry": {"resource": sandbox_order()}})
    assert [o["id"] for o in orders] == ["draft-1"] and len(problems) == 2
    assert read_resources(42) == ([], ["resources: expected a Bundle or a list of resources"])


def test_validate_resource_is_strict() -> None:
    assert validate_resource(sandbox_order()) == [
        "ServiceRequest/draft-1: category: invalid (list_type)",
        "ServiceRequest/draft-1: reasonCode: invalid (list_type)",
    ]
    fixed = read_resource(sandbox_order()).resource
    assert validate_resource(fixed) == []
