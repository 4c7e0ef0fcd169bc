"""Prefetch templates may use only CDS Hooks 2.0 tokens; discovery entries carry what the spec requires."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cds_service.wire.discovery import ServiceDescriptor, check_template

FIELDS = frozenset({"userId", "patientId", "encounterId"})


@pytest.mark.parametrize("template", [
    "Patient/{{context.patientId}}",
    "Encounter/{{context.encounterId}}",
    "{{context.userId}}",
    "Practitioner/{{userPractitionerId}}",
    "Observation?patient={{context.patientId}}&code=http://loinc.org|72514-3&_sort=-date",
])
def test_legal_templates(template: str) -> None:
    check_template(template, FIELDS)


@pytest.mark.parametrize("template,reason", [
    ("ServiceRequest/{{context.draftOrders.entry.resource.id}}", "not a CDS Hooks 2.0 token"),
    ("ServiceRequest?_id={{context.selections}}", "not prefetch-able"),
    ("Observation?patient={{context.patientId}}&date=ge{{today() - 90 days}}", "not a CDS Hooks 2.0 token"),
    ("https://ehr.example.org/Patient/{{context.patientId}}", "relative"),
])
def test_illegal_templates(template: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_template(template, FIELDS)


def test_descriptor_requires_hook_id_description() -> None:
    with pytest.raises(ValidationError, match="description"):
        ServiceDescriptor.model_validate({"hook": "order-select", "id": "x"})
    body = ServiceDescriptor(hook="order-select", id="x", description="d", prefetch={}).to_json()
    assert body == {"hook": "order-select", "id": "x", "description": "d"}
