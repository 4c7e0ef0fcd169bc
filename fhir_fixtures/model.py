"""Fixtures layer: builders for synthetic FHIR R4 resources and expected findings, anchored to ANCHOR."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

# Every date in the fixtures is written relative to this instant; loader.py shifts them to "now".
ANCHOR = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
UCUM = "http://unitsofmeasure.org"
LOCAL = "http://example.org/fhir/CodeSystem/vertebral-augmentation"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIF = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIF = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"

# b.2 (T1-L5, spec) plus C5 from DICOM CID 7603 (only used to exercise "level outside P1").
VERTEBRA: dict[str, str] = {
    "C5": "36978003",
    "T1": "64864005", "T2": "53733008", "T3": "1626008", "T4": "73071006", "T5": "56401006",
    "T6": "45296009", "T7": "62487009", "T8": "11068009", "T9": "82687006", "T10": "7610001",
    "T11": "12989004", "T12": "23215003", "L1": "66794005", "L2": "14293000", "L3": "36470004",
    "L4": "11994002", "L5": "49668003",
}
LEVEL_ORDER = list(VERTEBRA)

ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
PRESENT = (SNOMED, "52101004", "Present")
ABSENT = (SNOMED, "2667000", "Absent")

ICD_DISPLAY: dict[str, str] = {
    "M80.08XA": "Age-related osteoporosis with current pathological fracture, vertebra(e), initial encounter for fracture",
    "M48.56XA": "Collapsed vertebra, not elsewhere classified, lumbar region, initial encounter for fracture",
    "M84.58XA": "Pathological fracture in neoplastic disease, other specified site, initial encounter for fracture",
    "C79.51": "Secondary malignant neoplasm of bone",
    "C90.00": "Multiple myeloma not having achieved remission",
    "D18.09": "Hemangioma of other sites",
    "S32.010A": "Wedge compression fracture of first lumbar vertebra, initial encounter for closed fracture",
    "S32.011A": "Stable burst fracture of first lumbar vertebra, initial encounter for closed fracture",
    "S32.018A": "Other fracture of first lumbar vertebra, initial encounter for closed fracture",
    "A41.9": "Sepsis, unspecified organism",
    "R78.81": "Bacteremia",
    "M46.26": "Osteomyelitis of vertebra, lumbar region",
    "M46.24": "Osteomyelitis of vertebra, thoracic region",
    "L03.312": "Cellulitis of back [any part except buttock]",
    "Z33.1": "Pregnant state, incidental",
    "M51.16": "Intervertebral disc disorders with radiculopathy, lumbar region",
    "D68.9": "Coagulation defect, unspecified",
    "G95.20": "Unspecified cord compression",
    "G83.4": "Cauda equina syndrome",
    "M54.16": "Radiculopathy, lumbar region",
    "M54.14": "Radiculopathy, thoracic region",
    "Q76.426": "Congenital lordosis, lumbar region",
    "M41.26": "Other idiopathic scoliosis, lumbar region",
    "M46.39": "Infection of intervertebral disc (pyogenic), multiple sites in spine",
    "Z91.041": "Radiographic dye allergy status",
    "M81.0": "Age-related osteoporosis without current pathological fracture",
}

RX_DISPLAY: dict[str, str] = {
    "1364430": "apixaban", "11289": "warfarin", "32968": "clopidogrel", "161": "acetaminophen",
    "7804": "oxycodone",
}


def at(days: float = 0, hours: float = 0) -> str:
    """A dateTime `days` (and `hours`) before the anchor, to the second, in UTC."""
    moment = ANCHOR - timedelta(days=days, hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def on(days: int) -> str:
    """A date `days` before the anchor's calendar date."""
    return (ANCHOR.date() - timedelta(days=days)).isoformat()


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def site(level: str) -> dict[str, Any]:
    return concept(SNOMED, VERTEBRA[level], f"Bone structure of {level}")


def sort_levels(levels: list[str]) -> list[str]:
    return sorted(levels, key=LEVEL_ORDER.index)


@dataclass
class Record:
    """One synthetic patient: the resources of the EHR's record, built with readable helper calls."""

    name: str
    sex: str = "female"
    age: int = 74
    inpatient: bool = True
    resources: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A short, stable, non-numeric prefix keeps every id unique across fixtures on one server.
        self.key = "va-" + hashlib.sha1(self.name.encode()).hexdigest()[:8]
        self.patient_id = f"va-pat-{self.name}"[:64]
        self.encounter_id = f"{self.key}-enc"
        self._n = 0

    @property
    def ref(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{self.key}-{kind}-{self._n}"

    def _add(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources.append(resource)
        return resource

    # -- demographics and setting -------------------------------------------------------------
    def core(self) -> None:
        birth = date(ANCHOR.year - self.age, ANCHOR.month, 1) - timedelta(days=30)
        self._add({
            "resourceType": "Patient", "id": self.patient_id, "active": True,
            "identifier": [{"system": "urn:example:synthetic-mrn", "value": f"SYN-{self.key}"}],
            "name": [{"family": "Synthetic", "given": ["Fixture", self.key]}],
            "gender": self.sex, "birthDate": birth.isoformat(),
        })
        cls = ("IMP", "inpatient encounter") if self.inpatient else ("AMB", "ambulatory")
        self._add({
            "resourceType": "Encounter", "id": self.encounter_id, "status": "in-progress",
            "class": coding(ACTCODE, *cls), "subject": self.ref,
            "period": {"start": at(days=2 if self.inpatient else 0, hours=0 if self.inpatient else 1)},
        })

    # -- conditions ----------------------------------------------------------------------------
    def condition(self, code: str, level: str | None = None, onset_days: float | None = None,
                  recorded_days: float | None = 0, status: str = "active",
                  system: str = ICD10CM) -> dict[str, Any]:
        res: dict[str, Any] = {
            "resourceType": "Condition", "id": self._id("cond"),
            "clinicalStatus": concept(COND_CLINICAL, status),
            "verificationStatus": concept(COND_VERIF, "confirmed"),
            "category": [concept(COND_CATEGORY, "encounter-diagnosis")],
            "code": concept(system, code, ICD_DISPLAY.get(code)),
            "subject": self.ref,
        }
        if level:
            res["bodySite"] = [site(level)]
        if onset_days is not None:
            res["onsetDateTime"] = at(days=onset_days)
        if recorded_days is not None:
            res["recordedDate"] = at(days=recorded_days if onset_days is None else min(recorded_days, onset_days))
        return self._add(res)

    # -- observations --------------------------------------------------------------------------
    def _obs(self, code: dict[str, Any], category: str, days: float, hours: float = 0,
             level: str | None = None, **value: Any) -> dict[str, Any]:
        res: dict[str, Any] = {
            "resourceType": "Observation", "id": self._id("obs"), "status": "final",
            "category": [concept(OBS_CATEGORY, category)], "code": code, "subject": self.ref,
            "effectiveDateTime": at(days=days, hours=hours),
        }
        if level:
            res["bodySite"] = site(level)
        res.update(value)
        return self._add(res)

    def lab(self, loinc: str, display: str, value: float, unit: str, ucum: str, days: float = 1,
            hours: float = 0, category: str = "laboratory") -> dict[str, Any]:
        return self._obs(concept(LOINC, loinc, display), category, days, hours,
                         valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": ucum})

    def pain(self, value: int, days: float = 0.25) -> dict[str, Any]:
        return self._obs(concept(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
                         "survey", days, valueInteger=value)

    def inr(self, value: float, days: float = 1) -> dict[str, Any]:
        return self.lab("6301-6", "INR in Platelet poor plasma by Coagulation assay", value, "INR", "{INR}", days)

    def platelets(self, value: float, days: float = 1) -> dict[str, Any]:
        return self.lab("777-3", "Platelets [#/volume] in Blood by Automated count", value, "10*3/uL",
                        "10*3/uL", days)

    def dxa(self, tscore: float, days: float = 200) -> dict[str, Any]:
        return self._obs(concept(LOINC, "38267-1", "DXA Lumbar spine [T-score] Bone density"), "imaging", days,
                         valueQuantity={"value": tscore, "unit": "T-score", "system": UCUM, "code": "{T-score}"})

    def coded_obs(self, loinc: str, display: str, value: tuple[str, str, str], days: float = 1,
                  category: str = "laboratory") -> dict[str, Any]:
        return self._obs(concept(LOINC, loinc, display), category, days,
                         valueCodeableConcept=concept(*value))

    def finding(self, code: str, level: str | None = None, days: float = 3, **value: Any) -> dict[str, Any]:
        """A b.7 local finding; pass exactly one value[x] keyword (valueBoolean=..., valueQuantity=...)."""
        return self._obs(concept(LOCAL, code), "imaging" if level else "exam", days, level=level, **value)

    def local_value(self, code: str, value_code: str, level: str | None = None, days: float = 3,
                    category: str | None = None) -> dict[str, Any]:
        obs = self.finding(code, level, days, valueCodeableConcept=concept(LOCAL, value_code))
        if category:
            obs["category"] = [concept(OBS_CATEGORY, category)]
        return obs

    def edema(self, level: str, present: bool = True, days: float = 3) -> dict[str, Any]:
        obs = self.finding("marrow-edema", level, days, valueCodeableConcept=concept(*(PRESENT if present else ABSENT)))
        obs["method"] = {"text": "STIR"}
        return obs

    def height_loss(self, level: str, pct: float, days: float = 3) -> dict[str, Any]:
        return self.finding("vb-height-loss-max-pct", level, days,
                            valueQuantity={"value": pct, "unit": "%", "system": UCUM, "code": "%"})

    def nsm(self, kind: str, start_days: int) -> dict[str, Any]:
        # b.7: the NSM element is the value and, as the spec's "components in component", a component.
        obs = self.local_value("nsm-trial", kind, category="therapy")
        obs["component"] = [{"code": concept(LOCAL, kind), "valueBoolean": True}]
        del obs["effectiveDateTime"]
        obs["effectivePeriod"] = {"start": at(days=start_days)}
        return obs

    # -- orders, medications, allergies, procedures ---------------------------------------------
    def med(self, rxcui: str, days: float = 30, status: str = "active") -> dict[str, Any]:
        return self._add({
            "resourceType": "MedicationRequest", "id": self._id("med"), "status": status, "intent": "order",
            "medicationCodeableConcept": concept(RXNORM, rxcui, RX_DISPLAY.get(rxcui)),
            "subject": self.ref, "authoredOn": at(days=days),
        })

    def med_statement(self, rxcui: str, start_days: float, last_dose_days: float) -> dict[str, Any]:
        """A finished course: the period's end is the last dose (P15 hold windows count from it)."""
        return self._add({
            "resourceType": "MedicationStatement", "id": self._id("mst"), "status": "completed",
            "medicationCodeableConcept": concept(RXNORM, rxcui, RX_DISPLAY.get(rxcui)), "subject": self.ref,
            "effectivePeriod": {"start": at(days=start_days), "end": at(days=last_dose_days)},
            "dateAsserted": at(days=0, hours=3),
        })

    def allergy(self, code: str, text: str) -> dict[str, Any]:
        return self._add({
            "resourceType": "AllergyIntolerance", "id": self._id("alg"),
            "clinicalStatus": concept(ALLERGY_CLINICAL, "active"),
            "verificationStatus": concept(ALLERGY_VERIF, "confirmed"),
            "type": "allergy", "category": ["medication"],
            "code": concept(LOCAL, code, text, text=text), "patient": self.ref, "recordedDate": at(days=400),
        })

    def prior_augmentation(self, level: str, cpt: str = "22514", days: int = 730) -> dict[str, Any]:
        return self._add({
            "resourceType": "Procedure", "id": self._id("proc"), "status": "completed",
            "code": concept(CPT, cpt), "subject": self.ref, "performedDateTime": at(days=days),
            "bodySite": [site(level)],
        })

    def bundle(self) -> dict[str, Any]:
        return {
            "resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
                       "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                      for r in self.resources],
        }


@dataclass
class Order:
    """One draft ServiceRequest line: a CPT (or other) code at zero or more levels."""

    code: str
    levels: list[str]
    spinejack: bool = False
    system: str = CPT
    note: str | None = None

    device_text: str | None = None   # a device name in orderDetail text only (no C1062 coding)

    def resource(self, rec: Record, n: int) -> dict[str, Any]:
        res: dict[str, Any] = {
            "resourceType": "ServiceRequest", "id": f"{rec.key}-sr-{n}", "status": "draft", "intent": "order",
            "category": [concept(SNOMED, "387713003", "Surgical procedure")],
            "code": concept(self.system, self.code),
            "subject": rec.ref, "encounter": {"reference": f"Encounter/{rec.encounter_id}"},
            "authoredOn": at(), "requester": {"reference": "Practitioner/va-prac-1"},
        }
        if self.levels:
            res["bodySite"] = [site(lv) for lv in self.levels]
        if self.spinejack:
            # a.1: the device hint; C1062 plus the device name, as an EHR order detail would carry it.
            res["orderDetail"] = [concept(HCPCS, "C1062", "Intravertebral body fracture augmentation with implant",
                                          text="SpineJack expandable titanium implant")]
        if self.device_text:
            res["orderDetail"] = [{"text": self.device_text}]
        if self.note:
            res["note"] = [{"text": self.note}]
        return res


def finding(card: str, rules: list[str], levels: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": card, "rules": rules, "levels": sort_levels(levels), **extra}


def met(levels: list[str], pathway: str = "osteoporotic", rule: str = "IND-OP") -> dict[str, Any]:
    return finding("C-IND-MET", [rule], levels, pathway=pathway)


def notmet(levels: list[str], pathway: str = "osteoporotic", rule: str = "IND-OP") -> dict[str, Any]:
    return finding("C-IND-NOTMET", [rule], levels, pathway=pathway)


def tech(levels: list[str], ranking: list[str], requested: str, rule: str = "IND-OP",
         provisional: bool = False) -> dict[str, Any]:
    out = finding("C-TECH", [rule], levels, ranking=ranking, requested=requested)
    if provisional:
        out["provisional"] = True
    return out


def ci_abs(rule: str, levels: list[str]) -> dict[str, Any]:
    return finding("C-CI-ABS", [rule], levels)


def ci_rel(rule: str, levels: list[str]) -> dict[str, Any]:
    return finding("C-CI-REL", [rule], levels)


# Which rule a missing input leaves undecided (spec section 0 is silent on C-MISSING rules).
MISSING_RULE = {
    "inr": ["CI-A5"], "platelets": ["CI-A5"], "pregnancy-status": ["CI-A3"], "sins": ["CI-R10", "CI-R9"],
    "level": [], "etiology": ["IND-OP"],
}


def missing(items: list[str], levels: list[str], rule: str = "IND-OP", **extra: Any) -> dict[str, Any]:
    rules = sorted({r for item in items for r in MISSING_RULE.get(item, [rule])})
    return finding("C-MISSING", rules, levels, missing=sorted(items), **extra)


def doc(rule: str, levels: list[str]) -> dict[str, Any]:
    return finding("C-DOC", [rule], levels)


def cov(rule: str, levels: list[str]) -> dict[str, Any]:
    return finding("C-COVERAGE", [rule], levels)


SJ, BKP, VP = "spinejack", "kyphoplasty", "vertebroplasty"
