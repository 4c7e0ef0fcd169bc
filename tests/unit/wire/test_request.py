"""Request model: every field the service cannot work without is named when it is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.wire.request import RequestFieldError, parse_hook_request

VALID: dict[str, Any] = {
    "hook": "order-select",
    "hookInstance": "3f1b7b9e-2c3a-4f7e-9a51-7d0f2b8c1e44",
    "fhirServer": "https://ehr.example.org/fhir/",
    "fhirAuthorization": {"access_token": "secret-token-value", "token_type": "Bearer", "expires_in": 30,
                          "scope": "user/Patient.read", "subject": "va-cds"},
    "context": {"userId": "PractitionerRole/123", "patientId": "va-pat-1", "encounterId": "enc-1",
                "selections": ["ServiceRequest/draft-va-1"],
                "draftOrders": {"resourceType": "Bundle", "entry": []}},
    "prefetch": {"patient": None},
    "extension": {"com.example.client": {"x": 1}},
    "unknownField": "ignored",
}


def with_change(path: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    target = body
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    if delete:
        del target[last]
    else:
        target[last] = value
    return body


def test_valid_request_parses_with_tolerance_for_unknown_fields() -> None:
    request = parse_hook_request(VALID)
    assert request.context.patient_id == "va-pat-1"
    assert request.fhir_server == "https://ehr.example.org/fhir"  # trailing slash dropped for joining
    assert request.prefetch == {"patient": None}


@pytest.mark.parametrize("path,value,delete,field", [
    ("hook", None, True, "hook"),
    ("hookInstance", None, True, "hookInstance"),
    ("hookInstance", "bad instance\nforged log line", False, "hookInstance"),
    ("context", None, True, "context"),
    ("context", "patient", False, "context"),
    ("context.patientId", None, True, "context.patientId"),
    ("context.patientId", "../Patient/x", False, "context.patientId"),
    ("context.draftOrders", [{"resourceType": "ServiceRequest"}], False, "context.draftOrders"),
    ("context.draftOrders", {"resourceType": "ServiceRequest"}, False, "context.draftOrders"),
    ("context.selections", "ServiceRequest/1", False, "context.selections"),
    ("fhirServer", None, True, "fhirServer"),
    ("fhirServer", "ehr.example.org/fhir", False, "fhirServer"),
    ("fhirAuthorization.token_type", "MAC", False, "fhirAuthorization.token_type"),
    ("fhirAuthorization.access_token", None, True, "fhirAuthorization.access_token"),
    ("prefetch", ["patient"], False, "prefetch"),
])
def test_bad_field_is_named(path: str, value: Any, delete: bool, field: str) -> None:
    with pytest.raises(RequestFieldError) as caught:
        parse_hook_request(with_change(path, value, delete=delete))
    assert caught.value.field == field


def test_body_must_be_an_object() -> None:
    with pytest.raises(RequestFieldError) as caught:
        parse_hook_request(["hook"])
    assert caught.value.field == "(body)"


def test_access_token_never_appears_in_reprs_or_errors() -> None:
    request = parse_hook_request(VALID)
    assert "secret-token-value" not in repr(request)
    assert "secret-token-value" not in repr(request.fhir_authorization)
    with pytest.raises(RequestFieldError) as caught:
        parse_hook_request(with_change("fhirAuthorization.token_type", "MAC"))
    assert "secret-token-value" not in str(caught.value)
