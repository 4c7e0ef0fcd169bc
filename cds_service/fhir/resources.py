"""DATA layer: tolerant reading of FHIR R4 JSON with fhir.resources R4B (strict parse, known repairs, raw fallback).

Real EHR-side clients deviate from R4 (the CDS Hooks Sandbox sends ServiceRequest.category and reasonCode as
single objects where R4 has arrays). A deviation must not cost the clinician the card, so a resource that fails
strict validation is repaired where the repair is unambiguous and otherwise kept as the raw dict with a
problem note. Notes never carry PHI: resource type, id, field path and the validator's error type only.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from cds_service.cql.fhirmodel import FHIR_MODEL

log = logging.getLogger(__name__)

_MAX_NOTES_PER_RESOURCE = 5


@dataclass
class ReadResult:
    """One resource as read: the JSON the engine uses, the validated model when there is one, and notes."""

    resource: dict[str, Any]
    model: Resource | None
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.model is not None


def _label(data: dict[str, Any]) -> str:
    resource_type = data.get("resourceType")
    resource_id = data.get("id")
    label = resource_type if isinstance(resource_type, str) else "resource"
    if isinstance(resource_id, str) and resource_id:
        label += f"/{resource_id}"
    return label


def _resource_class(resource_type: str) -> type[Resource] | None:
    try:
        klass = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None
    return klass if isinstance(klass, type) and issubclass(klass, Resource) else None


def _validate(resource_type: str, data: dict[str, Any]) -> Resource:
    klass = _resource_class(resource_type)
    if klass is None:
        raise KeyError(resource_type)
    return klass.model_validate(data)


def _wrap_singletons(data: dict[str, Any], type_name: str, path: str, notes: list[str]) -> dict[str, Any]:
    """Wrap objects sent where the element is an array (category: {...} -> [{...}]), at any depth."""
    repaired: dict[str, Any] | None = None
    for key, value in data.items():
        if key.startswith("_") or key == "resourceType":
            continue
        info = FHIR_MODEL.element(type_name, key)
        if info is None:
            continue
        child_type = info.types[0]
        new_value = value
        if info.is_list and isinstance(value, dict):
            new_value = [value]
            notes.append(f"{path}{key}: single object where R4 has an array; wrapped")
        if info.is_choice:
            continue
        if isinstance(new_value, list):
            items = [
                _wrap_singletons(item, child_type, f"{path}{key}.", notes) if isinstance(item, dict)
                and FHIR_MODEL.has_type(child_type) and "resourceType" not in item else item
                for item in new_value
            ]
            if any(a is not b for a, b in zip(items, new_value)):
                new_value = items
        elif isinstance(new_value, dict) and "resourceType" not in new_value and FHIR_MODEL.has_type(child_type):
            new_value = _wrap_singletons(new_value, child_type, f"{path}{key}.", notes)
        if new_value is not value:
            if repaired is None:
                repaired = dict(data)
            repaired[key] = new_value
    return repaired if repaired is not None else data


def _error_notes(label: str, error: ValidationError) -> list[str]:
    notes = []
    for item in error.errors(include_input=False, include_url=False)[:_MAX_NOTES_PER_RESOURCE]:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "__root__") or "(resource)"
        notes.append(f"{label}: {location}: invalid ({item.get('type', 'error')})")
    return notes


def read_resource(data: Any) -> ReadResult:
    """Parse strictly; on failure repair known client deviations; else keep the raw dict with problem notes."""
    if not isinstance(data, dict):
        return ReadResult({}, None, [f"resource: expected a JSON object, got {type(data).__name__}"])
    resource_type = data.get("resourceType")
    label = _label(data)
    if not isinstance(resource_type, str) or not resource_type:
        return ReadResult(data, None, [f"{label}: resourceType: missing"])
    if _resource_class(resource_type) is None:
        return ReadResult(data, None, [f"{label}: resourceType: unknown FHIR R4 type"])
    try:
        return ReadResult(data, _validate(resource_type, data))
    except ValidationError as first_error:
        repair_notes: list[str] = []
        repaired = _wrap_singletons(data, resource_type, "", repair_notes)
        if repaired is not data:
            try:
                model = _validate(resource_type, repaired)
                return ReadResult(repaired, model, [f"{label}: {note}" for note in repair_notes])
            except ValidationError as second_error:
                notes = [f"{label}: {note}" for note in repair_notes] + _error_notes(label, second_error)
                return ReadResult(repaired, None, notes)
        return ReadResult(data, None, _error_notes(label, first_error))


def read_resources(items: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Read a Bundle (its entries) or a list of resources tolerantly: the JSON to use, and every note."""
    if isinstance(items, dict) and items.get("resourceType") == "Bundle":
        entries = items.get("entry") or []
        if isinstance(entries, dict):
            entries = [entries]
        items = [entry.get("resource") for entry in entries if isinstance(entry, dict)]
    elif isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return [], ["resources: expected a Bundle or a list of resources"]
    resources: list[dict[str, Any]] = []
    problems: list[str] = []
    for item in items:
        result = read_resource(item)
        problems.extend(result.problems)
        if result.resource:
            resources.append(result.resource)
    return resources, problems


def read_draft_orders(draft_orders: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The hook context's draftOrders Bundle -> order resources as JSON (repaired where needed) and notes."""
    if draft_orders in (None, {}, []):
        return [], []
    resources, problems = read_resources(draft_orders)
    if problems:
        # Counts and notes only: notes carry type, id, path and error type, never values.
        log.info("draft orders read with %d problem(s): %s", len(problems), "; ".join(problems))
    return resources, problems


def validate_resource(data: dict[str, Any]) -> list[str]:
    """Strict validation only (fixtures, tests): the problem notes, empty when the resource is valid R4."""
    if not isinstance(data, dict):
        return ["resource: expected a JSON object"]
    label = _label(data)
    try:
        _validate(str(data.get("resourceType")), copy.deepcopy(data))
    except KeyError:
        return [f"{label}: resourceType: unknown FHIR R4 type"]
    except ValidationError as error:
        return _error_notes(label, error)
    return []
