"""The committed FHIR type table is what the generator produces from the installed fhir.resources R4B models."""

from __future__ import annotations

import json

from cds_service.fhir import modelinfo


def test_committed_type_table_is_up_to_date() -> None:
    committed = modelinfo.OUTPUT.read_text(encoding="utf-8")
    assert committed == modelinfo.render(), "stale: run .venv/bin/python -m cds_service.fhir.modelinfo"


def test_table_covers_the_resources_the_service_reads_with_their_choice_elements() -> None:
    types = json.loads(modelinfo.OUTPUT.read_text(encoding="utf-8"))["types"]
    for name in ("Patient", "Encounter", "Condition", "Observation", "Procedure", "MedicationRequest",
                 "MedicationStatement", "AllergyIntolerance", "ServiceRequest", "DiagnosticReport",
                 "DeviceRequest", "Bundle"):
        assert types[name]["kind"] == "resource", name
    assert types["Observation"]["elements"]["effective"]["choice"] == {
        "dateTime": "effectiveDateTime", "instant": "effectiveInstant", "Period": "effectivePeriod",
        "Timing": "effectiveTiming"}
    assert types["Condition"]["elements"]["onset"]["choice"]["Age"] == "onsetAge"
    assert types["ServiceRequest"]["elements"]["category"] == {"type": "CodeableConcept", "list": True}
    assert types["Age"]["base"] == "Quantity"
    assert types["Observation.component"]["kind"] == "backbone"


def test_check_mode_reports_a_stale_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stale = tmp_path / "types.json"
    stale.write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(modelinfo, "OUTPUT", stale)
    assert modelinfo.main(["--check"]) == 1
    assert modelinfo.main([]) == 0
    assert modelinfo.main(["--check"]) == 0
