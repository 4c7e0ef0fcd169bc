"""PatientRecord: the engine's DataSource over one request's resources, indexed by type, code and reference."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.cql.datasource import DataSource
from cds_service.cql.types import Code, Concept
from cds_service.fhir.record import PatientRecord

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def obs(oid: str, code: str, system: str = LOINC) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": system, "code": code}]}}


def cond(cid: str, *codes: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "code": {"coding": [{"system": ICD10, "code": c} for c in codes]}}


class PrefixValueSet:
    """A value set with explicit codes and `M80.*`-style prefix filters, as hospital configuration gives."""

    def __init__(self, codes: tuple[Code, ...], prefixes: tuple[tuple[str, str], ...] = ()) -> None:
        self._codes = codes
        self._prefixes = prefixes
        self.asked = 0

    @property
    def codes(self) -> tuple[Code, ...]:
        return self._codes

    def contains(self, code: Code) -> bool:
        self.asked += 1
        return any(c.code == code.code and c.system == code.system for c in self._codes) or any(
            code.system == system and (code.code or "").startswith(prefix) for system, prefix in self._prefixes)


@pytest.fixture
def record() -> PatientRecord:
    return PatientRecord([
        {"resourceType": "Patient", "id": "va-pat-1"},
        obs("inr-1", "6301-6"), obs("plt-1", "777-3"), obs("inr-2", "6301-6"),
        cond("fx-1", "M80.08XA"), cond("sepsis-1", "A41.9"), cond("both-1", "M80.08XA", "A41.9"),
        {"resourceType": "Medication", "id": "med-apixaban",
         "code": {"coding": [{"system": RXNORM, "code": "1364430"}]}},
        {"resourceType": "MedicationRequest", "id": "mr-ref", "status": "active",
         "medicationReference": {"reference": "Medication/med-apixaban"}},
        {"resourceType": "MedicationRequest", "id": "mr-cc", "status": "active",
         "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "855332"}]}},
        {"resourceType": "Procedure", "id": "proc-1", "status": "completed", "code": {"text": "no codes"}},
    ])


def ids(resources: Any) -> list[str]:
    return [r["id"] for r in resources]


def test_record_is_a_datasource_and_indexes_types(record: PatientRecord) -> None:
    assert isinstance(record, DataSource)
    assert ids(record.retrieve("Observation")) == ["inr-1", "plt-1", "inr-2"]
    assert ids(record.retrieve("FHIR.Condition")) == ["fx-1", "sepsis-1", "both-1"]
    assert ids(record.retrieve("{http://hl7.org/fhir}Procedure")) == ["proc-1"]
    assert record.retrieve("Encounter") == []
    assert record.types()["Observation"] == 3
    assert len(record) == 11


def test_code_retrieve_returns_only_matching_resources_in_record_order(record: PatientRecord) -> None:
    assert ids(record.retrieve("Observation", codes=[Code("6301-6", LOINC)])) == ["inr-1", "inr-2"]
    assert ids(record.retrieve("Observation", code_path="code",
                               codes=[Code("777-3", LOINC), Code("6301-6", LOINC)])) == ["inr-1", "plt-1", "inr-2"]
    assert record.retrieve("Observation", codes=[Code("6301-6", "http://other")]) == []
    assert ids(record.retrieve("Observation", codes=[Concept((Code("777-3", LOINC),))])) == ["plt-1"]


def test_a_resource_matching_two_codes_comes_back_once(record: PatientRecord) -> None:
    found = record.retrieve("Condition", codes=[Code("M80.08XA", ICD10), Code("A41.9", ICD10)])
    assert ids(found) == ["fx-1", "sepsis-1", "both-1"]


def test_valueset_retrieve_honours_prefix_filters_and_is_cached(record: PatientRecord) -> None:
    sepsis = PrefixValueSet((), ((ICD10, "A41"),))
    assert ids(record.retrieve("Condition", valueset=sepsis)) == ["sepsis-1", "both-1"]
    asked = sepsis.asked
    assert asked == 2  # one question per distinct code in the record, not per resource
    assert ids(record.retrieve("Condition", valueset=sepsis)) == ["sepsis-1", "both-1"]
    assert sepsis.asked == asked


def test_medication_retrieve_indexes_codeable_concept_and_referenced_medication(record: PatientRecord) -> None:
    apixaban = PrefixValueSet((Code("1364430", RXNORM),))
    assert ids(record.retrieve("MedicationRequest", valueset=apixaban)) == ["mr-ref"]
    assert ids(record.retrieve("MedicationRequest", codes=[Code("855332", RXNORM)])) == ["mr-cc"]


def test_contained_medication_is_resolved_for_the_code_index() -> None:
    record = PatientRecord([{
        "resourceType": "MedicationRequest", "id": "mr-contained", "status": "active",
        "contained": [{"resourceType": "Medication", "id": "m1",
                       "code": {"coding": [{"system": RXNORM, "code": "1364430"}]}}],
        "medicationReference": {"reference": "#m1"}}])
    assert ids(record.retrieve("MedicationRequest", codes=[Code("1364430", RXNORM)])) == ["mr-contained"]
    assert record.get("#m1") is None  # a local reference means nothing outside its resource


def test_filters_it_cannot_apply_return_the_whole_type(record: PatientRecord) -> None:
    # The engine re-applies every filter, so a superset is correct; a subset would silently drop data.
    assert ids(record.retrieve("Observation", code_path="category", codes=[Code("x")])) == ["inr-1", "plt-1", "inr-2"]
    assert ids(record.retrieve("Observation", codes=["6301-6"])) == ["inr-1", "plt-1", "inr-2"]
    assert ids(record.retrieve("Patient", codes=[Code("x")])) == ["va-pat-1"]


def test_patient_and_reference_resolution(record: PatientRecord) -> None:
    assert record.patient is not None and record.patient["id"] == "va-pat-1"
    assert record.get("Medication/med-apixaban")["id"] == "med-apixaban"  # type: ignore[index]
    assert record.get({"reference": "https://ehr.example/fhir/Observation/inr-2"})["id"] == "inr-2"  # type: ignore[index]
    assert record.get("Observation/inr-2/_history/3")["id"] == "inr-2"  # type: ignore[index]
    assert record.get("Observation/missing") is None
    assert record.get(None) is None
    assert ids(record.by_type("Condition")) == ["fx-1", "sepsis-1", "both-1"]


def test_bundles_are_opened_and_full_urls_resolve() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1b1d", "resource": {"resourceType": "Patient", "id": "p"}},
        {"resource": obs("o1", "6301-6")}, {"notAResource": True}, "junk"]}
    record = PatientRecord.from_bundle(bundle)
    assert record.get("urn:uuid:1b1d")["id"] == "p"  # type: ignore[index]
    assert ids(PatientRecord([bundle, {"no": "type"}]).retrieve("Observation")) == ["o1"]


def test_building_a_record_of_a_thousand_resources_is_cheap() -> None:
    import time

    resources = [obs(f"o{i}", str(i % 50)) for i in range(1000)]
    started = time.perf_counter()
    record = PatientRecord(resources)
    record.retrieve("Observation", codes=[Code("7", LOINC)])
    elapsed = time.perf_counter() - started
    assert len(record.retrieve("Observation", codes=[Code("7", LOINC)])) == 20
    assert elapsed < 0.25, f"build + first indexed retrieve took {elapsed:.3f}s"
