"""Benchmark workloads: synthetic FHIR records, the CQL both engines run, and the same logic hand-written in Python.

Standard library only: imported by the harness (service venv) and by the ms-cql-sdk worker (.bench-venv).
Everything is deterministic (seeded) and synthetic.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOCAL = "urn:example:va-findings"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
EVAL_TIME = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
LEVELS = [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]

# --- (a) retrieve -> where -> Count over 1,000 Observations ---------------------------------------------------

COUNT_CQL = """library BenchCount version '1.0.0'
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1'
context Patient
define "High Pain Count":
  Count([Observation] O where O.status = 'final' and (O.value as Quantity).value > 5)
"""
COUNT_DEFINES = ["High Pain Count"]


def count_record(n: int = 1000, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    resources: list[dict[str, Any]] = [{"resourceType": "Patient", "id": "bench-pat-1", "birthDate": "1944-03-02"}]
    for i in range(n):
        resources.append({
            "resourceType": "Observation", "id": f"pain-{i}",
            "status": "final" if rng.random() < 0.8 else "preliminary",
            "code": {"coding": [{"system": LOINC, "code": "72514-3"}]},
            "subject": {"reference": "Patient/bench-pat-1"},
            "effectiveDateTime": (EVAL_TIME - timedelta(hours=i * 7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "valueQuantity": {"value": rng.randint(0, 10), "unit": "{score}", "system": UCUM, "code": "{score}"},
        })
    return resources


def count_python(resources: list[dict[str, Any]]) -> dict[str, Any]:
    count = 0
    for r in resources:
        if r.get("resourceType") != "Observation" or r.get("status") != "final":
            continue
        q = r.get("valueQuantity")
        if q is not None and q.get("value") is not None and Decimal(str(q["value"])) > 5:
            count += 1
    return {"High Pain Count": count}


# --- (b) a small clinical library over a realistic record -------------------------------------------------------

CLINICAL_CQL = """library BenchClinical version '1.0.0'
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1'
codesystem "LOINC": 'http://loinc.org'
codesystem "ICD10": 'http://hl7.org/fhir/sid/icd-10-cm'
codesystem "LOCAL": 'urn:example:va-findings'
code "Pain NRS": '72514-3' from "LOINC"
code "INR": '6301-6' from "LOINC"
code "Platelets": '777-3' from "LOINC"
code "WBC": '6690-2' from "LOINC"
code "CRP": '1988-5' from "LOINC"
code "Height loss": 'height-loss-pct' from "LOCAL"
code "Marrow edema": 'marrow-edema' from "LOCAL"
code "Osteoporotic fracture": 'M80.08XA' from "ICD10"
code "Sepsis": 'A41.9' from "ICD10"
code "Osteomyelitis": 'M46.26' from "ICD10"
context Patient
define "Eval Time": @2026-05-01T12:00:00.000Z
define "Recent Pain":
  [Observation: "Pain NRS"] O
    where O.status = 'final' and O.effective after ("Eval Time" - 30 days)
define "Recent Pain Count": Count("Recent Pain")
define "Pain At Least 5": exists ("Recent Pain" O where (O.value as Quantity).value >= 5)
define "Severe Pain Days": Count("Recent Pain" O where (O.value as Quantity).value >= 8)
define "INR High":
  exists ([Observation: "INR"] O
    where O.status = 'final' and O.effective after ("Eval Time" - 30 days) and (O.value as Quantity).value > 1.8)
define "Platelets Low":
  exists ([Observation: "Platelets"] O
    where O.status = 'final' and O.effective after ("Eval Time" - 30 days) and (O.value as Quantity).value < 50)
define "WBC High":
  exists ([Observation: "WBC"] O
    where O.status = 'final' and O.effective after ("Eval Time" - 7 days) and (O.value as Quantity).value > 11)
define "CRP High":
  exists ([Observation: "CRP"] O
    where O.status = 'final' and O.effective after ("Eval Time" - 7 days) and (O.value as Quantity).value > 10)
define "Infection Signs": "WBC High" or "CRP High"
define "Active Infection":
  exists ([Condition: "Sepsis"] C where 'active' in C.clinicalStatus.coding.code)
    or exists ([Condition: "Osteomyelitis"] C where 'active' in C.clinicalStatus.coding.code)
define "Has Osteoporotic Fracture": exists [Condition: "Osteoporotic fracture"]
define "Height Loss Findings":
  [Observation: "Height loss"] O where O.status = 'final' and (O.value as Quantity).value > 25
define "Levels With Height Loss": Count("Height Loss Findings")
define "Edema Findings": Count([Observation: "Marrow edema"] O where O.status = 'final' and 'present' in (O.value as CodeableConcept).coding.code)
define "Active Medications": Count([MedicationRequest] M where M.status = 'active')
define "Indicated":
  "Has Osteoporotic Fracture" and "Pain At Least 5" and "Levels With Height Loss" > 0
define "Contraindicated": "INR High" or "Platelets Low" or "Active Infection"
"""
CLINICAL_DEFINES = [
    "Recent Pain Count", "Pain At Least 5", "Severe Pain Days", "INR High", "Platelets Low", "WBC High",
    "CRP High", "Infection Signs", "Active Infection", "Has Osteoporotic Fracture", "Levels With Height Loss",
    "Edema Findings", "Active Medications", "Indicated", "Contraindicated",
]


def _obs(oid: str, system: str, code: str, when: datetime, value: float | None = None, unit: str = "1",
         status: str = "final", body_site: str | None = None, concept: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": oid, "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/bench-pat-2"},
        "effectiveDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    if concept is not None:
        resource["valueCodeableConcept"] = {"coding": [{"system": LOCAL, "code": concept}]}
    if body_site is not None:
        resource["bodySite"] = {"coding": [{"system": LOCAL, "code": body_site}], "text": body_site}
    return resource


def clinical_record(seed: int = 2) -> list[dict[str, Any]]:
    """About 400 resources: a 78-year-old with two osteoporotic fractures, daily pain scores, labs over months,
    imaging findings for every level, comorbid conditions, medications and encounters."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = [{"resourceType": "Patient", "id": "bench-pat-2", "birthDate": "1948-02-11",
                                  "gender": "female"}]
    conditions = [("M80.08XA", "active")] * 2 + [("A41.9", "resolved"), ("M46.26", "resolved")] + [
        (rng.choice(["I10", "E11.9", "N18.3", "J44.9", "I48.91", "E78.5", "K21.9", "F32.9", "M17.11", "G47.33"]),
         rng.choice(["active", "resolved"])) for _ in range(36)]
    for i, (code, status) in enumerate(conditions):
        out.append({"resourceType": "Condition", "id": f"cond-{i}",
                    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                   "code": status}]},
                    "code": {"coding": [{"system": ICD10, "code": code}]},
                    "subject": {"reference": "Patient/bench-pat-2"},
                    "onsetDateTime": (EVAL_TIME - timedelta(days=rng.randint(5, 2000))).strftime("%Y-%m-%d")})
    for day in range(150):
        out.append(_obs(f"pain-{day}", LOINC, "72514-3", EVAL_TIME - timedelta(days=day, hours=rng.randint(0, 8)),
                        rng.randint(2, 10), "{score}", status="final" if rng.random() < 0.9 else "preliminary"))
    labs = [("6301-6", "{INR}", (0.9, 2.2)), ("777-3", "10*9/L", (30, 350)), ("6690-2", "10*9/L", (4, 14)),
            ("1988-5", "mg/L", (1, 25))]
    for code, unit, (low, high) in labs:
        for k in range(25):
            out.append(_obs(f"lab-{code}-{k}", LOINC, code, EVAL_TIME - timedelta(days=k * 4 + rng.randint(0, 3)),
                            round(rng.uniform(low, high), 1), unit))
    for level in LEVELS:
        out.append(_obs(f"hl-{level}", LOCAL, "height-loss-pct", EVAL_TIME - timedelta(days=rng.randint(3, 60)),
                        rng.choice([0, 0, 0, 5, 10, 30, 45]), "%", body_site=level))
        out.append(_obs(f"edema-{level}", LOCAL, "marrow-edema", EVAL_TIME - timedelta(days=rng.randint(3, 60)),
                        body_site=level, concept=rng.choice(["absent", "absent", "present"])))
        out.append(_obs(f"angle-{level}", LOCAL, "kyphotic-angle", EVAL_TIME - timedelta(days=rng.randint(3, 60)),
                        rng.randint(0, 25), "deg", body_site=level))
    for i in range(20):
        out.append({"resourceType": "MedicationRequest", "id": f"med-{i}", "intent": "order",
                    "status": rng.choice(["active", "completed", "stopped"]),
                    "subject": {"reference": "Patient/bench-pat-2"},
                    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": str(1000 + i)}]}})
    for i in range(15):
        out.append({"resourceType": "Encounter", "id": f"enc-{i}", "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": "Patient/bench-pat-2"},
                    "period": {"start": (EVAL_TIME - timedelta(days=i * 20)).strftime("%Y-%m-%dT%H:%M:%SZ")}})
    return out


def _when(resource: dict[str, Any]) -> datetime | None:
    text = resource.get("effectiveDateTime")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None


def _value(resource: dict[str, Any]) -> Decimal | None:
    q = resource.get("valueQuantity")
    if not q or q.get("value") is None:
        return None
    return Decimal(str(q["value"]))


def _has_code(resource: dict[str, Any], system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code for c in resource.get("code", {}).get("coding", ()))


def clinical_python(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The clinical library, hand-written over the same JSON (index by type once, as a careful developer would)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    observations = by_type.get("Observation", [])
    conditions = by_type.get("Condition", [])

    def final_obs(code: str, system: str = LOINC) -> list[dict[str, Any]]:
        return [o for o in observations if o.get("status") == "final" and _has_code(o, system, code)]

    def recent(items: list[dict[str, Any]], days: int) -> list[dict[str, Any]]:
        since = EVAL_TIME - timedelta(days=days)
        return [o for o in items if (w := _when(o)) is not None and w > since]

    pain = recent(final_obs("72514-3"), 30)
    pain_values = [v for o in pain if (v := _value(o)) is not None]
    pain_5 = any(v >= 5 for v in pain_values)

    def any_value(items: list[dict[str, Any]], test: Any) -> bool:
        return any((v := _value(o)) is not None and test(v) for o in items)

    inr_high = any_value(recent(final_obs("6301-6"), 30), lambda v: v > Decimal("1.8"))
    plt_low = any_value(recent(final_obs("777-3"), 30), lambda v: v < 50)
    wbc_high = any_value(recent(final_obs("6690-2"), 7), lambda v: v > 11)
    crp_high = any_value(recent(final_obs("1988-5"), 7), lambda v: v > 10)

    def active_condition(code: str) -> bool:
        return any(_has_code(c, ICD10, code) and any(x.get("code") == "active" for x in
                                                     c.get("clinicalStatus", {}).get("coding", ()))
                   for c in conditions)

    active_infection = active_condition("A41.9") or active_condition("M46.26")
    fracture = any(_has_code(c, ICD10, "M80.08XA") for c in conditions)
    height_loss = sum(1 for o in final_obs("height-loss-pct", LOCAL) if (v := _value(o)) is not None and v > 25)
    edema = sum(1 for o in final_obs("marrow-edema", LOCAL) if any(
        c.get("code") == "present" for c in o.get("valueCodeableConcept", {}).get("coding", ())))
    active_meds = sum(1 for m in by_type.get("MedicationRequest", []) if m.get("status") == "active")
    return {
        "Recent Pain Count": len(pain), "Pain At Least 5": pain_5,
        "Severe Pain Days": sum(1 for v in pain_values if v >= 8),
        "INR High": inr_high, "Platelets Low": plt_low, "WBC High": wbc_high, "CRP High": crp_high,
        "Infection Signs": wbc_high or crp_high, "Active Infection": active_infection,
        "Has Osteoporotic Fracture": fracture, "Levels With Height Loss": height_loss, "Edema Findings": edema,
        "Active Medications": active_meds,
        "Indicated": fracture and pain_5 and height_loss > 0,
        "Contraindicated": inr_high or plt_low or active_infection,
    }


WORKLOADS = {
    "count": {"cql": COUNT_CQL, "defines": COUNT_DEFINES, "record": count_record, "python": count_python,
              "title": "(a) retrieve -> where -> Count, 1,000 Observations"},
    "clinical": {"cql": CLINICAL_CQL, "defines": CLINICAL_DEFINES, "record": clinical_record,
                 "python": clinical_python, "title": "(b) clinical library, 15 defines, ~380 resources"},
}


def normalise(value: Any) -> Any:
    """Results of the three implementations in one comparable JSON shape."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, Decimal, float)):
        return format(Decimal(str(value)).normalize(), "f")
    return repr(value)
