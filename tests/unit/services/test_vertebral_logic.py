"""Services layer: the whole vertebral pipeline on the real CQL engine: evaluate_bundle, its trace, configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service.admin.config import ActiveConfig, build_config, default_config
from cds_service.services.vertebral import logic
from cds_service.services.vertebral.cards import FINDING_EXTENSION

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LOCAL = "http://example.org/fhir/CodeSystem/vertebral-augmentation"
SNOMED = "http://snomed.info/sct"
L1 = {"coding": [{"system": SNOMED, "code": "66794005"}]}


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def obs(id_: str, system: str, code: str, days: float, site: dict[str, Any] | None = None, **value: Any) -> dict[str, Any]:
    res = {"resourceType": "Observation", "id": id_, "status": "final", "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": ago(days), **value}
    if site:
        res["bodySite"] = site
    return res


def record(inr: float = 1.9) -> list[dict[str, Any]]:
    """Synthetic: 78-year-old woman, inpatient, acute osteoporotic L1 fracture with edema, NRS 9."""
    return [
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1948-03-01"},
        {"resourceType": "Encounter", "id": "e1", "status": "in-progress", "subject": {"reference": "Patient/p1"},
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}},
        {"resourceType": "Condition", "id": "fx1", "subject": {"reference": "Patient/p1"},
         "clinicalStatus": {"coding": [{"code": "active"}]}, "bodySite": [L1], "onsetDateTime": ago(10),
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M80.08XA"}]}},
        obs("edema1", LOCAL, "marrow-edema", 3, L1,
            valueCodeableConcept={"coding": [{"system": SNOMED, "code": "52101004"}]}),
        obs("height1", LOCAL, "vb-height-loss-max-pct", 3, L1,
            valueQuantity={"value": 30, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}),
        obs("pain1", "http://loinc.org", "72514-3", 0.2, valueInteger=9),
        obs("inr1", "http://loinc.org", "6301-6", 1, valueQuantity={"value": inr, "unit": "{INR}"}),
        obs("plt1", "http://loinc.org", "777-3", 1, valueQuantity={"value": 220, "unit": "10*3/uL"}),
        obs("dxa1", "http://loinc.org", "38267-1", 200, valueQuantity={"value": -2.9, "unit": "{T-score}"}),
    ]


ORDER = {"resourceType": "ServiceRequest", "id": "draft-1", "status": "draft", "intent": "order",
         "subject": {"reference": "Patient/p1"}, "bodySite": [L1],
         "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]},
         "orderDetail": [{"text": "SpineJack implant"}]}


def keys(ev: logic.Evaluation) -> set[tuple[str, tuple[str, ...]]]:
    return {(f["id"], tuple(f["rules"])) for f in ev.findings}


@pytest.fixture(scope="module")
def active() -> ActiveConfig:
    cfg = ActiveConfig(default_config(), "test-default")
    logic.ensure_ready(cfg)  # compile once for the module (the engine caches per configuration version)
    return cfg


def test_inr_above_hard_stop_blocks_and_the_trace_shows_value_source_and_threshold(active: ActiveConfig) -> None:
    ev = logic.evaluate_bundle({"resourceType": "Bundle", "entry": [{"resource": r} for r in record(1.9)]},
                               [ORDER], active, NOW)
    assert keys(ev) == {("C-CI-ABS", ("CI-A5",)), ("C-IND-MET", ("IND-OP",))}
    assert ev.levels == {"L1": "ci-absolute"}
    inr = [row for row in ev.trace if row["criterion"] == "inr"]
    assert inr and inr[0]["value"] == "1.9" and inr[0]["source"] == "Observation/inr1"
    assert inr[0]["result"] == "met" and "1.8" in inr[0]["threshold"]
    # The trace and the cards come from one evaluation: every finding is also inside a card.
    assert [c.extension[FINDING_EXTENSION] for c in ev.cards] == ev.findings
    assert all(f["configVersion"] == "test-default" and f["profile"] == "cms-lcd" for f in ev.findings)


def test_threshold_comes_from_the_configuration_not_the_code(active: ActiveConfig) -> None:
    relaxed = ActiveConfig(build_config({"clinical": {"profiles": {"cms-lcd": {"inr_hard_stop": 2.0}}}}), "inr-2.0")
    ev = logic.evaluate_bundle(record(1.9), [ORDER], relaxed, NOW)
    assert ("C-CI-ABS", ("CI-A5",)) not in keys(ev)
    assert ("C-CI-REL", ("CI-R3",)) in keys(ev)  # 1.9 is now in the (1.5, 2.0] gray zone
    assert ("C-TECH", ("IND-OP",)) in keys(ev)


def test_indicated_level_gets_a_spinejack_first_technique_card(active: ActiveConfig) -> None:
    ev = logic.evaluate_bundle(record(1.0), [ORDER], active, NOW)
    tech = [f for f in ev.findings if f["id"] == "C-TECH"]
    assert tech == [{"id": "C-TECH", "rules": ["IND-OP"], "levels": ["L1"],
                     "ranking": ["spinejack", "kyphoplasty", "vertebroplasty"], "requested": "spinejack",
                     "profile": "cms-lcd", "configVersion": "test-default"}]


def test_stale_pain_score_makes_the_technique_provisional(active: ActiveConfig) -> None:
    resources = [r for r in record(1.0) if r["id"] != "pain1"]
    resources.append(obs("pain-old", "http://loinc.org", "72514-3", 9, valueInteger=9))
    ev = logic.evaluate_bundle(resources, [ORDER], active, NOW)
    missing = [f for f in ev.findings if f["id"] == "C-MISSING"]
    assert [(f["rules"], f["missing"]) for f in missing] == [(["IND-OP"], ["pain-score"])]
    assert [f.get("provisional") for f in ev.findings if f["id"] == "C-TECH"] == [True]
    assert any(row["criterion"] == "pain-score" and row["result"] == "unknown" for row in ev.trace)


def test_orders_without_vertebral_augmentation_give_no_cards(active: ActiveConfig) -> None:
    mri = {**ORDER, "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72148"}]}}
    ev = logic.evaluate_bundle(record(), [mri], active, NOW)
    assert ev.cards == [] and ev.trace == []


def test_a_bundle_without_patient_is_refused_with_a_clear_error(active: ActiveConfig) -> None:
    with pytest.raises(ValueError, match="Patient"):
        logic.evaluate_bundle([r for r in record() if r["resourceType"] != "Patient"], [ORDER], active, NOW)


def statement(rxcui: str, last_dose_days: float) -> dict[str, Any]:
    return {"resourceType": "MedicationStatement", "id": f"ms-{rxcui}", "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": rxcui}]},
            "effectivePeriod": {"start": ago(100), "end": ago(last_dose_days)}}


@pytest.mark.parametrize("last_dose_days, warned", [(2, True), (4, False)])
def test_apixaban_last_dose_inside_its_hold_window_is_a_bleeding_risk(active: ActiveConfig, last_dose_days: float,
                                                                      warned: bool) -> None:
    # P15: apixaban is held 3 days; a last dose 2 days ago is inside the window, 4 days ago is not.
    ev = logic.evaluate_bundle(record(1.0) + [statement("1364430", last_dose_days)], [ORDER], active, NOW)
    assert (("C-CI-REL", ("CI-R3",)) in keys(ev)) is warned


def test_coded_bleeding_disorder_without_correction_flag_asks_for_confirmation(active: ActiveConfig) -> None:
    disorder = {"resourceType": "Condition", "id": "vwd", "subject": {"reference": "Patient/p1"},
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D68.01"}]}}
    ev = logic.evaluate_bundle(record(1.0) + [disorder], [ORDER], active, NOW)
    assert ("C-CI-REL", ("CI-R3",)) in keys(ev)
    assert ("C-CI-ABS", ("CI-A5",)) not in keys(ev)


def test_switching_a_rule_off_in_configuration_removes_its_card(active: ActiveConfig) -> None:
    off = ActiveConfig(build_config({"rules": {"CI-A5": {"enabled": False}}}), "ci-a5-off")
    ev = logic.evaluate_bundle(record(1.9), [ORDER], off, NOW)
    assert ("C-CI-ABS", ("CI-A5",)) not in keys(ev)
    assert ("C-TECH", ("IND-OP",)) in keys(ev)  # no longer blocked, so the technique is recommended


def test_day_counts_use_the_site_time_zone(active: ActiveConfig) -> None:
    # Onset 84 days before the UTC date is subacute; in Pacific/Kiritimati (UTC+14) the same instant is
    # already the next calendar day, so the fracture is 85 days old there: chronic.
    now = datetime(2026, 6, 1, 11, tzinfo=UTC)
    resources = [r for r in record(1.0) if r["id"] != "fx1"]
    resources.append({**next(r for r in record(1.0) if r["id"] == "fx1"), "onsetDateTime": "2026-03-09"})
    utc = logic.evaluate_bundle(resources, [ORDER], active, now)
    east = ActiveConfig(build_config({"clinical": {"timezone": "Pacific/Kiritimati"}}), "tz-east")
    far_east = logic.evaluate_bundle(resources, [ORDER], east, now)
    assert ("C-IND-MET", ("IND-OP",)) in keys(utc)
    assert ("C-IND-NOTMET", ("IND-OP",)) in keys(far_east)
