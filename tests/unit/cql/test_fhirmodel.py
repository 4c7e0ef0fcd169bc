"""FhirModel: FHIRPath navigation, choice types, FHIRHelpers conversions and is/as over synthetic FHIR JSON."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.fhirmodel import FHIR_MODEL as M
from cds_service.cql.fhirmodel import FhirElement
from cds_service.cql.types import Code, Concept, Date, DateTime, Interval, Quantity, Ratio, Time

UCUM = "http://unitsofmeasure.org"


def observation(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "resourceType": "Observation", "id": "obs-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "6301-6", "display": "INR"}], "text": "INR"},
        "subject": {"reference": "Patient/va-pat-1"},
    }
    base.update(extra)
    return base


def test_choice_value_finds_the_typed_key_and_converts_quantity() -> None:
    obs = observation(valueQuantity={"value": 1.9, "unit": "{INR}", "system": UCUM, "code": "{INR}"})
    assert M.get_property(obs, "value") == Quantity(Decimal("1.9"), "{INR}")


def test_json_float_becomes_the_exact_decimal_written() -> None:
    obs = observation(valueQuantity={"value": 0.1, "system": UCUM, "code": "mg"})
    assert M.get_property(obs, "value").value == Decimal("0.1")


@pytest.mark.parametrize(("key", "raw", "expected"), [
    ("valueCodeableConcept", {"coding": [{"system": "s", "code": "c"}], "text": "t"},
     Concept((Code("c", "s"),), "t")),
    ("valueString", "positive", "positive"),
    ("valueBoolean", False, False),
    ("valueInteger", 7, 7),
    ("valueDateTime", "2026-03-01", DateTime(2026, 3, 1)),
    ("valueTime", "10:30:05.5", Time(10, 30, 5, 500)),
    ("valueRange", {"low": {"value": 1, "system": UCUM, "code": "mg"}, "high": {"value": 2, "system": UCUM,
                                                                              "code": "mg"}},
     Interval(Quantity(Decimal(1), "mg"), Quantity(Decimal(2), "mg"), True, True, "Quantity")),
    ("valueRatio", {"numerator": {"value": 1}, "denominator": {"value": 128}},
     Ratio(Quantity(Decimal(1)), Quantity(Decimal(128)))),
])
def test_every_value_choice_converts_to_its_system_type(key: str, raw: object, expected: object) -> None:
    assert M.get_property(observation(**{key: raw}), "value") == expected


def test_effective_choice_datetime_keeps_offset_and_precision() -> None:
    assert M.get_property(observation(effectiveDateTime="2026-01-02T10:00:00.123+02:00"), "effective") == \
        DateTime(2026, 1, 2, 10, 0, 0, 123, Decimal(2))
    assert M.get_property(observation(effectiveInstant="2026-01-02T10:00:00Z"), "effective") == \
        DateTime(2026, 1, 2, 10, 0, 0, None, Decimal(0))


def test_period_converts_to_interval_with_fhirhelpers_null_bounds() -> None:
    closed = M.get_property(observation(effectivePeriod={"start": "2026-01-01", "end": "2026-01-05"}), "effective")
    assert closed == Interval(DateTime(2026, 1, 1), DateTime(2026, 1, 5), True, True, "DateTime")
    no_start = M.get_property(observation(effectivePeriod={"end": "2026-01-05"}), "effective")
    assert no_start.low is None and no_start.low_closed is False
    ongoing = M.get_property(observation(effectivePeriod={"start": "2026-01-01"}), "effective")
    assert ongoing.high is None and ongoing.high_closed is True


def test_absent_choice_and_absent_element_are_null_and_absent_list_is_empty() -> None:
    obs = observation()
    assert M.get_property(obs, "value") is None
    assert M.get_property(obs, "issued") is None
    assert M.get_property(obs, "category") == []
    assert M.get_property(obs, "noSuchElement") is None


def test_quantity_units_follow_fhirhelpers_calendar_mapping() -> None:
    cond = {"resourceType": "Condition", "onsetAge": {"value": 70, "unit": "years", "system": UCUM, "code": "a"}}
    assert M.get_property(cond, "onset") == Quantity(Decimal(70), "year")
    no_code = observation(valueQuantity={"value": 3, "unit": "mg"})
    assert M.get_property(no_code, "value") == Quantity(Decimal(3), "mg")


def test_quantity_with_comparator_or_foreign_system_is_null_not_a_wrong_number() -> None:
    assert M.get_property(observation(valueQuantity={"value": 0.5, "comparator": "<", "system": UCUM,
                                                     "code": "mg"}), "value") is None
    assert M.get_property(observation(valueQuantity={"value": 2, "system": "http://snomed.info/sct",
                                                     "code": "258684004"}), "value") is None


def test_codeable_concept_and_coding_navigation_still_works_after_conversion() -> None:
    obs = observation()
    assert M.get_property(obs, "code") == Concept((Code("6301-6", "http://loinc.org", None, "INR"),), "INR")
    codings = M.get_property(M.get_property(obs, "code"), "coding")
    assert M.get_property(codings, "code") == ["6301-6"]
    assert M.get_property(M.get_property(obs, "code"), "text") == "INR"


def test_lists_flatten_like_fhirpath() -> None:
    obs = observation(component=[
        {"code": {"text": "systolic"}, "valueQuantity": {"value": 120, "system": UCUM, "code": "mm[Hg]"}},
        {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80, "system": UCUM, "code": "mm[Hg]"}},
        {"code": {"text": "no value"}},
    ])
    components = M.get_property(obs, "component")
    assert [c.fhir_type for c in components] == ["Observation.component"] * 3
    assert M.get_property(components, "value") == [Quantity(Decimal(120), "mm[Hg]"), Quantity(Decimal(80), "mm[Hg]")]
    assert M.path(obs, "component.code.text") == ["systolic", "diastolic", "no value"]


def test_complex_elements_are_typed_dicts_and_references_navigate() -> None:
    subject = M.get_property(observation(), "subject")
    assert isinstance(subject, FhirElement) and isinstance(subject, dict)
    assert subject.fhir_type == "Reference"
    assert M.get_property(subject, "reference") == "Patient/va-pat-1"


def test_primitive_types_of_resource_elements() -> None:
    patient = {"resourceType": "Patient", "id": "va-pat-1", "birthDate": "1948-07", "active": True,
               "deceasedBoolean": False, "multipleBirthInteger": 2, "gender": "female"}
    assert M.get_property(patient, "birthDate") == Date(1948, 7)
    assert M.get_property(patient, "active") is True
    assert M.get_property(patient, "deceased") is False
    assert M.get_property(patient, "multipleBirth") == 2
    assert M.get_property(patient, "gender") == "female"
    assert M.get_property(patient, "id") == "va-pat-1"


def test_primitive_extensions_are_reachable_and_value_less_primitives_are_null() -> None:
    dar = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
    patient = {"resourceType": "Patient", "_birthDate": {"extension": [dar]}}
    assert M.get_property(patient, "birthDate") is None
    extensions = M.path(patient, "birthDate.extension")
    assert [M.get_property(e, "value") for e in extensions] == ["unknown"]
    assert M.path(patient, "birthDate.extension.url") == [dar["url"]]


def test_primitive_value_property_is_the_value_itself() -> None:
    assert M.path({"resourceType": "Patient", "birthDate": "1950-02-03"}, "birthDate.value") == Date(1950, 2, 3)


def test_navigation_on_converted_values_uses_fhir_element_names() -> None:
    obs = observation(effectivePeriod={"start": "2026-01-01T08:00:00Z"},
                      valueQuantity={"value": 5, "system": UCUM, "code": "mg"})
    assert M.path(obs, "effective.start") == DateTime(2026, 1, 1, 8, 0, 0, None, Decimal(0))
    assert M.path(obs, "value.unit") == "mg"
    assert M.path(obs, "value.value") == Decimal(5)


def test_medication_request_reference_choice_stays_a_reference() -> None:
    mr = {"resourceType": "MedicationRequest", "medicationReference": {"reference": "Medication/m1"}}
    med = M.get_property(mr, "medication")
    assert isinstance(med, FhirElement) and med.fhir_type == "Reference"
    assert M.is_type(med, "Reference") and not M.is_type(med, "CodeableConcept")


@pytest.mark.parametrize(("type_name", "expected"), [
    ("Quantity", True), ("FHIR.Quantity", True), ("System.Quantity", True), ("CodeableConcept", False),
    ("Age", True), ("string", False),
])
def test_is_on_converted_choice_values(type_name: str, expected: bool) -> None:
    value = M.get_property(observation(valueQuantity={"value": 5, "system": UCUM, "code": "mg"}), "value")
    assert M.is_type(value, type_name) is expected


def test_is_and_as_on_resources_and_periods() -> None:
    obs = observation(effectivePeriod={"start": "2026-01-01"})
    assert M.is_type(obs, "Observation") and M.is_type(obs, "FHIR.Resource") and M.is_type(obs, "DomainResource")
    assert not M.is_type(obs, "Condition")
    effective = M.get_property(obs, "effective")
    assert M.is_type(effective, "Period") and not M.is_type(effective, "dateTime")
    assert M.as_type(effective, "dateTime") is None
    assert M.as_type(effective, "Period") is effective
    assert M.is_type(None, "Quantity") is False


def test_strict_cast_of_the_wrong_type_is_an_error() -> None:
    with pytest.raises(CqlEvaluationError, match="cannot cast"):
        M.as_type(observation(), "Condition", strict=True)


@pytest.mark.parametrize("raw", ["yesterday", "2026-13-45", "2026-02-30", "2026-06-01T25:00:00Z"])
def test_a_malformed_fhir_date_in_the_record_reads_as_null(raw: str) -> None:
    # Bad data in an EHR record is unknown, not a failed evaluation (the logic reports it as missing).
    assert M.get_property(observation(effectiveDateTime=raw), "effective") is None


def test_a_malformed_fhir_decimal_in_the_record_reads_as_null() -> None:
    quantity = M.get_property(observation(valueQuantity={"value": "abc", "unit": "mg"}), "value")
    assert quantity is None or getattr(quantity, "value", None) is None


def test_unknown_resource_type_navigates_by_shape() -> None:
    thing = {"resourceType": "Basic2", "valueDateTime": "2026-01-01", "code": {"coding": [{"code": "x"}]}}
    assert M.get_property(thing, "value") == DateTime(2026, 1, 1)
    assert M.get_property(thing, "code") == Concept((Code("x"),))


def test_compile_time_element_lookup_and_primary_code_paths() -> None:
    value = M.element("Observation", "value")
    assert value is not None and value.is_choice and "Quantity" in value.types
    category = M.element("FHIR.Observation", "category")
    assert category is not None and category.is_list and category.types == ("CodeableConcept",)
    assert M.element("Observation", "nope") is None
    assert M.primary_code_path("MedicationRequest") == "medication"
    assert M.primary_code_path("FHIR.Condition") == "code"
    assert M.is_resource_type("ServiceRequest") and not M.is_resource_type("Quantity")


def test_compiled_getter_matches_generic_navigation_and_falls_back_for_other_values() -> None:
    status = M.getter("FHIR.Observation", "status")
    value = M.getter("Observation", "value")
    category = M.getter("Observation", "category")
    obs = observation(valueQuantity={"value": 5, "system": UCUM, "code": "mg"}, category=[{"text": "lab"}])
    assert status(obs) == "final" and value(obs) == M.get_property(obs, "value")
    assert category(obs) == [Concept((), "lab")]
    assert status(None) is None
    assert status([obs, obs]) == ["final", "final"]
    condition = {"resourceType": "Condition", "code": {"text": "x"}}
    assert M.getter("Observation", "code")(condition) == Concept((), "x")
    assert M.getter(None, "status")(obs) == "final"


def test_fhir_elements_survive_copy_and_json() -> None:
    import copy
    import json

    subject = M.get_property(observation(), "subject")
    clone = copy.deepcopy(subject)
    assert isinstance(clone, FhirElement) and clone.fhir_type == "Reference" and clone == subject
    assert json.loads(json.dumps(subject)) == {"reference": "Patient/va-pat-1"}
