"""DATA layer: generates the engine's FHIR R4 element-type table (cql/fhir_r4_types.json) from fhir.resources R4B metadata.

The engine must not import fhir.resources (it costs ~1 s and pydantic on the request path), so the type of
every element the CQL engine may navigate is extracted here once and committed as JSON.
Regenerate with `.venv/bin/python -m cds_service.fhir.modelinfo`; a unit test fails when the file is stale.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
import typing
import uuid
from pathlib import Path
from typing import Any

import fhir.resources
from fhir.resources.R4B.backboneelement import BackboneElement
from fhir.resources.R4B.resource import Resource
from fhir_core import types as core_types
from fhir_core.fhirabstractmodel import FHIRAbstractModel

OUTPUT = Path(__file__).resolve().parent.parent / "cql" / "fhir_r4_types.json"

# The resources the clinical logic, the CDS Hooks prefetch and the tests touch. Datatypes they reference are
# pulled in transitively; adding a resource here and regenerating is all it takes to support another one.
RESOURCES: tuple[str, ...] = (
    "Patient", "Encounter", "Condition", "Observation", "Procedure", "MedicationRequest",
    "MedicationStatement", "MedicationAdministration", "Medication", "AllergyIntolerance",
    "ServiceRequest", "DiagnosticReport", "DeviceRequest", "ImagingStudy", "Coverage", "Practitioner",
    "Organization", "Location", "Bundle", "Parameters", "ValueSet", "OperationOutcome", "Immunization",
    "FamilyMemberHistory", "Goal", "CarePlan", "DocumentReference", "QuestionnaireResponse",
)

# fhir_core annotation metadata class -> FHIR primitive type name. Order matters: subclasses first.
_PRIMITIVES: tuple[tuple[type, str], ...] = (
    (core_types.Instant, "instant"),
    (core_types.DateTime, "dateTime"),
    (core_types.Date, "date"),
    (core_types.Time, "time"),
    (core_types.PositiveInt, "positiveInt"),
    (core_types.UnsignedInt, "unsignedInt"),
    (core_types.Integer64, "integer64"),
    (core_types.Integer, "integer"),
    (core_types.Decimal, "decimal"),
    (core_types.Canonical, "canonical"),
    (core_types.Oid, "oid"),
    (core_types.Markdown, "markdown"),
    (core_types.Uri, "uri"),
    (core_types.Url, "url"),
    (core_types.Uuid, "uuid"),
    (core_types.Id, "id"),
    (core_types.Code, "code"),
    (core_types.Base64Binary, "base64Binary"),
    (core_types.Xhtml, "xhtml"),
    (core_types.String, "string"),
)


def _is_list(annotation: Any) -> bool:
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) in (list, typing.List):
            return True
    return False


def _leaf(annotation: Any) -> Any:
    """The element's item type: unwrap Optional/Union/List down to the model type or the Annotated primitive."""
    current = annotation
    while True:
        origin = typing.get_origin(current)
        if origin is typing.Annotated:
            return current
        if origin in (list, typing.Union, types.UnionType):
            current = next(a for a in typing.get_args(current) if a is not type(None))
            continue
        return current


def _primitive_name(leaf: Any) -> str | None:
    if leaf is bool:
        return "boolean"
    if typing.get_origin(leaf) is typing.Annotated:
        for meta in leaf.__metadata__:
            for klass, name in _PRIMITIVES:
                if isinstance(meta, klass) or meta is klass:
                    return name
        base = typing.get_args(leaf)[0]
        return {str: "string", int: "integer", bool: "boolean", uuid.UUID: "uuid"}.get(base)
    for klass, name in _PRIMITIVES:
        if leaf is klass:
            return name
    return None


def _model_class(leaf: Any) -> type[FHIRAbstractModel] | None:
    getter = getattr(leaf, "get_model_klass", None)
    if getter is None:
        return None
    return typing.cast("type[FHIRAbstractModel]", getter())


def _is_top_level(klass: type) -> bool:
    """Datatypes and resources live in a module named after them; backbone elements do not."""
    return klass.__module__.rsplit(".", 1)[-1] == klass.__name__.lower()


def _base_name(klass: type) -> str | None:
    for parent in klass.__mro__[1:]:
        if parent is FHIRAbstractModel or not issubclass(parent, FHIRAbstractModel):
            return None
        if _is_top_level(parent):
            return parent.__name__
    return None


class _Generator:
    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._pending: list[tuple[str, type[FHIRAbstractModel]]] = []
        # Backbone classes are named by their first path; recursive ones (QuestionnaireResponse.item.item)
        # reuse that name instead of growing a new path forever.
        self._backbone_names: dict[type, str] = {}

    def _queue(self, name: str, klass: type[FHIRAbstractModel]) -> None:
        if name not in self.types and all(name != n for n, _ in self._pending):
            self._pending.append((name, klass))

    def run(self, resources: tuple[str, ...]) -> dict[str, Any]:
        for name in resources:
            module = importlib.import_module(f"fhir.resources.R4B.{name.lower()}")
            self._queue(name, getattr(module, name))
        while self._pending:
            name, klass = self._pending.pop(0)
            self.types[name] = self._describe(name, klass)
        return {
            "generator": "cds_service.fhir.modelinfo",
            "source": f"fhir.resources {fhir.resources.__version__} R4B models",
            "types": dict(sorted(self.types.items())),
        }

    def _describe(self, name: str, klass: type[FHIRAbstractModel]) -> dict[str, Any]:
        if issubclass(klass, Resource):
            kind = "resource"
        elif issubclass(klass, BackboneElement) and not _is_top_level(klass):
            kind = "backbone"
        else:
            kind = "datatype"
        elements: dict[str, Any] = {}
        for field_name, field in klass.model_fields.items():
            extra = field.json_schema_extra
            if not isinstance(extra, dict) or not extra.get("element_property"):
                continue
            alias = field.alias or field_name
            if alias == "resourceType":
                continue
            is_list = _is_list(field.annotation)
            leaf = _leaf(field.annotation)
            type_name = _primitive_name(leaf)
            if type_name is None:
                model = _model_class(leaf)
                if model is None:
                    raise TypeError(f"cannot type {name}.{alias}: {field.annotation!r}")
                if model.__name__ in ("Resource", "DomainResource"):
                    type_name = "Resource"
                elif _is_top_level(model):
                    type_name = model.__name__
                    if not issubclass(model, Resource) or type_name in RESOURCES:
                        self._queue(type_name, model)
                else:
                    type_name = self._backbone_names.setdefault(model, f"{name}.{alias}")
                    self._queue(type_name, model)
            choice = extra.get("one_of_many")
            if isinstance(choice, str) and choice:
                entry = elements.setdefault(choice, {"choice": {}, "list": False})
                entry["choice"][type_name] = alias
            else:
                elements[alias] = {"type": type_name, "list": is_list}
        info: dict[str, Any] = {"kind": kind, "elements": elements}
        base = _base_name(klass)
        if base is not None and kind != "backbone":
            info["base"] = base
        return info


def generate() -> dict[str, Any]:
    return _Generator().run(RESOURCES)


def render() -> str:
    return json.dumps(generate(), indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args == ["--check"]:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run python -m cds_service.fhir.modelinfo", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(json.loads(text)['types'])} types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
