"""Fixtures layer: the scenario definitions (one per rule and branch of the spec) and the JSON writer.

Run `python -m fhir_fixtures.build` from the repository root to regenerate fhir_fixtures/<name>/*.json.
The expected findings here are written by hand from /work/shared/spec/clinical-rules.md (section 0,
a.5-a.10), never computed by the service's logic: these fixtures are the independent oracle.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from fhir_fixtures.model import (
    BKP, ICD10PCS, SJ, UCUM, VP, Order, Record, at, ci_abs, ci_rel, concept, cov, doc, met, missing,
    notmet, sort_levels, tech,
)

ROOT = Path(__file__).resolve().parent
THORACIC = {f"T{i}" for i in range(1, 13)} | {f"C{i}" for i in range(1, 8)}


@dataclass
class Scenario:
    name: str
    description: str
    record: Record
    orders: list[Order]
    findings: list[dict[str, Any]]
    hook: str = "order-select"
    profile: str = "cms-lcd"

    def request(self) -> dict[str, Any]:
        rec = self.record
        drafts = [o.resource(rec, i + 1) for i, o in enumerate(self.orders)]
        context: dict[str, Any] = {
            "userId": "Practitioner/va-prac-1", "patientId": rec.patient_id, "encounterId": rec.encounter_id,
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                            "entry": [{"fullUrl": f"ServiceRequest/{d['id']}", "resource": d} for d in drafts]},
        }
        if self.hook == "order-select":
            context["selections"] = [f"ServiceRequest/{d['id']}" for d in drafts]
        return {
            "hook": self.hook,
            # Placeholder; the golden test sends a fresh uuid4 per call (hookInstance must be unique).
            "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"va-fixture:{self.name}")),
            "context": context,
        }

    def expected(self) -> dict[str, Any]:
        findings = [{**f, "profile": self.profile} for f in self.findings]
        return {"name": self.name, "description": self.description, "hook": self.hook, "profile": self.profile,
                "serviceId": f"vertebral-augmentation-{'select' if self.hook == 'order-select' else 'sign'}",
                "findings": findings}


SCENARIOS: list[Scenario] = []


def add(name: str, description: str, rec: Record, orders: list[Order], findings: list[dict[str, Any]],
        **kw: Any) -> None:
    assert name == rec.name, (name, rec.name)
    assert all(s.name != name for s in SCENARIOS), name
    SCENARIOS.append(Scenario(name, description, rec, orders, findings, **kw))


# ------------------------------------------------------------------------------------- orders
def aug(levels: list[str], spinejack: bool = True) -> list[Order]:
    """Augmentation lines as billed: 22513 (thoracic) / 22514 (lumbar) first level, +22515 each additional."""
    levels = sort_levels(levels)
    first = "22513" if levels[0] in THORACIC else "22514"
    return [Order(first, levels[:1], spinejack)] + [Order("22515", [lv], spinejack) for lv in levels[1:]]


def vp(levels: list[str]) -> list[Order]:
    """Vertebroplasty lines: 22510 (cervicothoracic) / 22511 (lumbosacral) first level, +22512 each additional."""
    levels = sort_levels(levels)
    first = "22510" if levels[0] in THORACIC else "22511"
    return [Order(first, levels[:1])] + [Order("22512", [lv]) for lv in levels[1:]]


# ------------------------------------------------------------------------------------- records
def labs(rec: Record, inr: float | None = 1.0, platelets: float | None = 220, temp: float = 36.8,
         wbc: float = 7.2, crp: float = 4.0) -> None:
    if inr is not None:
        rec.inr(inr)
    if platelets is not None:
        rec.platelets(platelets)
    rec.lab("8310-5", "Body temperature", temp, "Cel", "Cel", days=0, hours=6, category="vital-signs")
    rec.lab("6690-2", "Leukocytes [#/volume] in Blood by Automated count", wbc, "10*3/uL", "10*3/uL")
    rec.lab("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", crp, "mg/L", "mg/L")


def level_imaging(rec: Record, level: str, edema: bool | None = True, height: float | None = 30,
                  wall: str | None = "none", shell: bool | None = True, pedicle: str | None = "bilateral",
                  imaging_days: float = 3) -> None:
    if edema is not None:
        rec.edema(level, edema, days=imaging_days)
    if height is not None:
        rec.height_loss(level, height, days=imaging_days)
    if wall is not None:
        rec.local_value("posterior-wall-involvement", wall, level, days=imaging_days)
    if shell is not None:
        rec.finding("cortical-shell-intact", level, imaging_days, valueBoolean=shell)
    if pedicle is not None:
        rec.local_value("pedicle-access-feasible", pedicle, level, days=imaging_days)


def op_case(name: str, levels: tuple[str, ...] = ("L1",), *, onset: float = 10, nrs: int | None = 9,
            pains: list[tuple[float, int]] | None = None, inpatient: bool = True, nsm: Sequence[tuple[str, int]] = (),
            secondary: dict[str, Any] | None = None, dxa: float | None = -2.9, dxa_days: float = 200,
            sex: str = "female", age: int = 74, fracture_code: str = "M80.08XA", inr: float | None = 1.0,
            platelets: float | None = 220, vitals: dict[str, float] | None = None, **imaging: Any) -> Record:
    """The osteoporotic baseline: acute fracture(s) with MRI edema, 30 % height loss, normal labs, recent DXA.

    Inpatient with NRS 9 unless told otherwise, so IND-OP is met on the hospitalized path and nothing is
    missing; every scenario changes one thing from here.
    """
    rec = Record(name, sex=sex, age=age, inpatient=inpatient)
    rec.core()
    for lv in levels:
        rec.condition(fracture_code, lv, onset_days=onset)
        level_imaging(rec, lv, **imaging)
    for days, value in pains if pains is not None else ([(0.25, nrs)] if nrs is not None else []):
        rec.pain(value, days)
    for kind, start in nsm:
        rec.nsm(kind, start)
    if secondary is not None:
        # Stable-pain path inputs (P9); keys: kyphotic (bool), progression (bool), rdq (int), angle (deg).
        lv = levels[0]
        if "kyphotic" in secondary:
            rec.finding("kyphotic-deformity", lv, 3, valueBoolean=secondary["kyphotic"])
        if "progression" in secondary:
            rec.finding("height-loss-progression", lv, 3, valueBoolean=secondary["progression"])
        if "angle" in secondary:
            rec.finding("local-kyphotic-angle", lv, 3,
                        valueQuantity={"value": secondary["angle"], "unit": "deg", "system": UCUM, "code": "deg"})
        if "rdq" in secondary:
            rec.finding("rdq-total", None, 2, valueInteger=secondary["rdq"])
    if dxa is not None:
        rec.dxa(dxa, dxa_days)
    labs(rec, inr=inr, platelets=platelets, **(vitals or {}))
    return rec


def ok(levels: list[str], requested: str = SJ, ranking: list[str] | None = None,
       pathway: str = "osteoporotic", rule: str = "IND-OP") -> list[dict[str, Any]]:
    """Indicated level(s) with their technique card (default: reduction target, SpineJack first)."""
    return [met(levels, pathway, rule), tech(levels, ranking or [SJ, BKP, VP], requested, rule)]


NO_TARGET = [VP, BKP, SJ]          # a.7: no reduction target, posterior wall intact (SJ deprioritized)
UPPER_T = [VP, BKP]                # a.7: T1-T4 row, SJ excluded by P2
SJ_EXCLUDED = [BKP, VP]            # a.7: reduction target, SJ excluded
MALIGNANT = [BKP, SJ, VP]          # a.7: malignant osteolytic row
HEMANGIOMA = [VP, BKP]             # a.7: hemangioma row, SJ excluded (no fracture)
STABLE_NEG = {"kyphotic": False, "progression": False, "rdq": 12}
OUT_NSM = [("analgesic", 30)]


def outpatient(name: str, pains: list[tuple[float, int]], nsm: Sequence[tuple[str, int]] = OUT_NSM,
               secondary: dict[str, Any] | None = None, **kw: Any) -> Record:
    return op_case(name, inpatient=False, pains=pains, nsm=nsm,
                   secondary=STABLE_NEG if secondary is None else secondary, **kw)


# ===================================================================== a.5 absolute contraindications
def ci_absolute() -> None:
    r = op_case("ci-a1-sepsis"); r.condition("A41.9", onset_days=3)
    add(r.name, "CI-A1: active sepsis (A41.9) blocks every ordered level; indication itself is met",
        r, aug(["L1"]), [ci_abs("CI-A1", ["L1"]), met(["L1"])])
    r = op_case("ci-a1-bacteremia-two-levels", ("T12", "L1")); r.condition("R78.81", onset_days=2)
    add(r.name, "CI-A1: bacteremia (R78.81) is patient-level and lists both ordered levels",
        r, aug(["T12", "L1"]), [ci_abs("CI-A1", ["T12", "L1"]), met(["T12", "L1"])])
    r = op_case("ci-a1-sepsis-with-fever-no-ci-r7", vitals={"temp": 38.6}); r.condition("A41.9", onset_days=3)
    add(r.name, "CI-R7 applies only without an infection diagnosis: sepsis with fever gives CI-A1 alone",
        r, aug(["L1"]), [ci_abs("CI-A1", ["L1"]), met(["L1"])])
    r = op_case("ci-a1-sepsis-resolved"); r.condition("A41.9", onset_days=60, status="resolved")
    add(r.name, "CI-A1 negative: a resolved sepsis is not an active systemic infection",
        r, aug(["L1"]), ok(["L1"]))

    r = op_case("ci-a2-osteomyelitis-lumbar", ("L3",)); r.condition("M46.26", onset_days=5)
    add(r.name, "CI-A2: vertebral osteomyelitis in the lumbar region (M46.26) at a lumbar target (L3)",
        r, aug(["L3"]), [ci_abs("CI-A2", ["L3"]), met(["L3"])])
    r = op_case("ci-a2-osteomyelitis-other-region", ("L3",)); r.condition("M46.24", onset_days=5)
    add(r.name, "CI-A2 negative: thoracic osteomyelitis (M46.24) is not in the region of an L3 target",
        r, aug(["L3"]), ok(["L3"]))
    r = op_case("ci-a2-back-cellulitis"); r.condition("L03.312", onset_days=2)
    add(r.name, "CI-A2: cellulitis of the back (L03.312) at the entry site",
        r, aug(["L1"]), [ci_abs("CI-A2", ["L1"]), met(["L1"])])

    r = op_case("ci-a2-discitis-multiple-sites", ("T8",)); r.condition("M46.39", onset_days=6)
    add(r.name, "CI-A2: pyogenic disc infection at multiple sites (M46.39) counts for any target (T8)",
        r, aug(["T8"]), [ci_abs("CI-A2", ["T8"]), met(["T8"])])

    r = op_case("ci-a3-pregnancy-observation", age=34)
    r.coded_obs("82810-3", "Pregnancy status", ("http://snomed.info/sct", "77386006", "Pregnant"), days=3,
                category="social-history")
    add(r.name, "CI-A3: pregnancy status 82810-3 = Pregnant (77386006) within 30 days",
        r, aug(["L1"]), [ci_abs("CI-A3", ["L1"]), met(["L1"])])
    r = op_case("ci-a3-pregnancy-z33", age=30); r.condition("Z33.1", onset_days=60)
    add(r.name, "CI-A3: active Z33.1 pregnant state", r, aug(["L1"]), [ci_abs("CI-A3", ["L1"]), met(["L1"])])

    r = op_case("ci-a3-positive-hcg", age=29)
    r.coded_obs("2106-3", "Choriogonadotropin (pregnancy test) [Presence] in Urine",
                ("http://snomed.info/sct", "10828004", "Positive"), days=2)
    add(r.name, "CI-A3: positive urine hCG 2 days ago", r, aug(["L1"]), [ci_abs("CI-A3", ["L1"]), met(["L1"])])

    r = op_case("ci-a4-pain-not-concordant"); r.finding("pain-concordant-with-level", "L1", 1, valueBoolean=False)
    add(r.name, "CI-A4: clinician records pain not concordant with the L1 fracture",
        r, aug(["L1"]), [ci_abs("CI-A4", ["L1"]), met(["L1"])])
    r = op_case("ci-a4-alt-generator-no-imaging", edema=None); r.condition("M51.16", onset_days=200)
    add(r.name, "CI-A4: no acuity imaging at L1 and an active alternative pain generator (M51.16)",
        r, aug(["L1"]), [ci_abs("CI-A4", ["L1"]), missing(["acuity-imaging"], ["L1"])])
    r = op_case("ci-a4-alt-generator-with-edema", ("L3",)); r.condition("M51.16", onset_days=200)
    add(r.name, "CI-A4 negative: alternative pain generator but MRI edema at the target level",
        r, aug(["L3"]), ok(["L3"]))

    r = op_case("ci-a5-inr-1.9", inr=1.9)
    add(r.name, "CI-A5: INR 1.9 (> 1.8 hard stop)", r, aug(["L1"]), [ci_abs("CI-A5", ["L1"]), met(["L1"])])
    r = op_case("ci-a5-inr-1.9-two-levels", ("T12", "L1"), inr=1.9)
    add(r.name, "CI-A5: patient-level coagulopathy lists every ordered level",
        r, aug(["T12", "L1"]), [ci_abs("CI-A5", ["T12", "L1"]), met(["T12", "L1"])])
    r = op_case("ci-a5-inr-at-1.8-boundary", inr=1.8)
    add(r.name, "CI-A5 boundary: INR exactly 1.8 is not > 1.8, so it is the CI-R3 gray zone",
        r, aug(["L1"]), [ci_rel("CI-R3", ["L1"]), *ok(["L1"])])
    r = op_case("ci-a5-platelets-49", platelets=49)
    add(r.name, "CI-A5: platelets 49 x10^9/L (< 50)", r, aug(["L1"]), [ci_abs("CI-A5", ["L1"]), met(["L1"])])
    r = op_case("ci-a5-platelets-at-50-boundary", platelets=50)
    add(r.name, "CI-A5 boundary: platelets exactly 50 is not < 50", r, aug(["L1"]), ok(["L1"]))
    r = op_case("ci-a5-aptt-prolonged-not-used")
    r.lab("14979-9", "aPTT in Platelet poor plasma by Coagulation assay", 62, "s", "s")
    add(r.name, "P14: a prolonged aPTT (62 s) with normal INR and platelets decides nothing", r, aug(["L1"]),
        ok(["L1"]))
    r = op_case("ci-a5-bleeding-disorder-uncorrected"); r.condition("D68.9", onset_days=400)
    r.finding("coagulopathy-corrected", None, 1, valueBoolean=False)
    add(r.name, "CI-A5: coagulation defect D68.9 flagged coagulopathy-corrected = false",
        r, aug(["L1"]), [ci_abs("CI-A5", ["L1"]), met(["L1"])])
    r = op_case("ci-a5-bleeding-disorder-corrected"); r.condition("D68.9", onset_days=400)
    r.finding("coagulopathy-corrected", None, 1, valueBoolean=True)
    add(r.name, "CI-A5 negative: the coded bleeding disorder is flagged corrected; labs normal",
        r, aug(["L1"]), ok(["L1"]))

    r = op_case("ci-a5-bleeding-disorder-flag-missing"); r.condition("D68.9", onset_days=400)
    add(r.name, "b.1 VS-DX-COAG: a coded bleeding disorder alone (no flag, normal labs) is a warning: corrected?",
        r, aug(["L1"]), [ci_rel("CI-R3", ["L1"]), *ok(["L1"])])

    r = op_case("ci-a6-cord-compression"); r.condition("G95.20", onset_days=4)
    add(r.name, "CI-A6: active cord compression G95.20", r, aug(["L1"]), [ci_abs("CI-A6", ["L1"]), met(["L1"])])
    r = op_case("ci-a6-cauda-equina"); r.condition("G83.4", onset_days=4)
    add(r.name, "CI-A6: active cauda equina syndrome G83.4", r, aug(["L1"]),
        [ci_abs("CI-A6", ["L1"]), met(["L1"])])
    r = op_case("ci-a6-ao-n3"); r.local_value("ao-neuro-modifier", "N3", days=2, category="exam")
    add(r.name, "CI-A6: AO neurology modifier N3", r, aug(["L1"]), [ci_abs("CI-A6", ["L1"]), met(["L1"])])
    r = op_case("ci-a6-needs-decompression"); r.finding("needs-decompression", "L1", 1, valueBoolean=True)
    add(r.name, "CI-A6: surgeon flags needs-decompression = true at L1", r, aug(["L1"]),
        [ci_abs("CI-A6", ["L1"]), met(["L1"])])

    r = op_case("ci-a7-collapse-91-no-shell", height=91, shell=False)
    add(r.name, "CI-A7: height loss 91 % (> 90) with cortical shell not intact", r, aug(["L1"]),
        [ci_abs("CI-A7", ["L1"]), met(["L1"])])
    r = op_case("ci-a7-collapse-at-90-boundary", height=90, shell=False)
    add(r.name, "CI-A7 boundary: height loss exactly 90 % is not > 90", r, aug(["L1"]), ok(["L1"]))
    r = op_case("ci-a7-collapse-95-shell-intact", height=95, shell=True)
    add(r.name, "CI-A7 negative: 95 % collapse but the cortical shell is intact", r, aug(["L1"]), ok(["L1"]))

    r = op_case("ci-a8-ao-b2"); r.local_value("ao-tl-morphology", "B2", "L1")
    add(r.name, "CI-A8: AO type B2 (tension band) at an osteoporotic L1 fracture", r, aug(["L1"]),
        [ci_abs("CI-A8", ["L1"]), met(["L1"])])
    r = op_case("ci-a8-of5"); r.local_value("dgou-of-class", "OF5", "L1")
    add(r.name, "CI-A8: DGOU OF5 (distraction/rotation)", r, aug(["L1"]), [ci_abs("CI-A8", ["L1"]), met(["L1"])])
    r = tr_case("ci-a8-traumatic-ao-c", ao="C")
    add(r.name, "CI-A8: traumatic AO type C; IND-TR defers to CI-A8 (no indication or coverage card)",
        r, aug(["L1"]), [ci_abs("CI-A8", ["L1"])])


# ===================================================================== a.5 relative contraindications
def ci_relative() -> None:
    lv4 = ["L1", "L2", "L3", "L4"]
    r = op_case("multi-level-4-levels-ci-r1", tuple(lv4))
    add(r.name, "CI-R1: four indicated levels in one session (> 3); one shared indication and technique card",
        r, aug(lv4), [ci_rel("CI-R1", lv4), *ok(lv4)])
    r = op_case("multi-level-3-levels", ("L1", "L2", "L3"))
    add(r.name, "CI-R1 boundary: exactly three levels is allowed", r, aug(["L1", "L2", "L3"]),
        ok(["L1", "L2", "L3"]))
    r = op_case("multi-level-4-ordered-one-not-indicated", ("L1", "L2", "L3"))
    r.condition("M80.08XA", "L4", onset_days=120)
    level_imaging(r, "L4", edema=False)
    add(r.name, "CI-R1 count after removing the not-indicated level: L4 is chronic and healed, so 3 count",
        r, aug(lv4), [*ok(["L1", "L2", "L3"]), notmet(["L4"]), ci_rel("CI-R5", ["L4"])])

    r = op_case("ci-r2-pmma-allergy"); r.allergy("pmma-bone-cement", "Polymethylmethacrylate bone cement")
    add(r.name, "CI-R2: allergy to PMMA bone cement", r, aug(["L1"]), [ci_rel("CI-R2", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r2-contrast-allergy"); r.allergy("iodinated-contrast", "Iodinated contrast media")
    add(r.name, "CI-R2: allergy to iodinated contrast", r, aug(["L1"]), [ci_rel("CI-R2", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r2-contrast-allergy-status-z91"); r.condition("Z91.041", onset_days=900)
    add(r.name, "CI-R2: radiographic dye allergy status coded as Condition Z91.041", r, aug(["L1"]),
        [ci_rel("CI-R2", ["L1"]), *ok(["L1"])])

    r = op_case("ci-r3-inr-1.6", inr=1.6)
    add(r.name, "CI-R3: INR 1.6 in the (1.5, 1.8] gray zone", r, aug(["L1"]), [ci_rel("CI-R3", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r3-inr-at-1.5-boundary", inr=1.5)
    add(r.name, "CI-R3 boundary: INR exactly 1.5 is not > 1.5", r, aug(["L1"]), ok(["L1"]))
    r = op_case("ci-r3-apixaban-active-order"); r.med("1364430", days=90)
    add(r.name, "CI-R3: active apixaban order with no hold documented", r, aug(["L1"]),
        [ci_rel("CI-R3", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r3-clopidogrel-active-order"); r.med("32968", days=200)
    add(r.name, "CI-R3: active clopidogrel (antiplatelet) order with no hold documented", r, aug(["L1"]),
        [ci_rel("CI-R3", ["L1"]), *ok(["L1"])])

    r = op_case("ci-r3-apixaban-last-dose-1d"); r.med_statement("1364430", start_days=200, last_dose_days=1)
    add(r.name, "CI-R3 / P15: apixaban last taken 1 day ago, inside the 3-day hold window", r, aug(["L1"]),
        [ci_rel("CI-R3", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r3-apixaban-stopped-5d-ago"); r.med_statement("1364430", start_days=200, last_dose_days=5)
    add(r.name, "CI-R3 / P15 negative: apixaban stopped 5 days ago, outside the 3-day hold window", r,
        aug(["L1"]), ok(["L1"]))

    r = op_case("ci-r4-posterior-wall-distinct", wall="distinct")
    add(r.name, "CI-R4: distinct posterior-wall involvement without neuro deficit; SJ still rank 1 (target)",
        r, aug(["L1"]), [ci_rel("CI-R4", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r4-retropulsion", wall="retropulsion")
    add(r.name, "CI-R4: fracture retropulsion without neuro deficit", r, aug(["L1"]),
        [ci_rel("CI-R4", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r4-posterior-wall-minor", wall="minor")
    add(r.name, "CI-R4 negative: minor (< 1/5) posterior-wall involvement is not 'distinct'", r, aug(["L1"]),
        ok(["L1"]))
    r = op_case("ci-r4-retropulsion-with-cord-compression", wall="retropulsion"); r.condition("G95.20", onset_days=4)
    add(r.name, "CI-R4 is for posterior-wall involvement without neuro deficit; with cord compression it is CI-A6",
        r, aug(["L1"]), [ci_abs("CI-A6", ["L1"]), met(["L1"])])
    r = op_case("ci-r4-of3"); r.local_value("dgou-of-class", "OF3", "L1")
    add(r.name, "CI-R4: DGOU OF3 (distinct posterior-wall involvement)", r, aug(["L1"]),
        [ci_rel("CI-R4", ["L1"]), *ok(["L1"])])
    r = op_case("tech-no-target-posterior-wall-bkp-first", height=15, wall="distinct",
                secondary={"kyphotic": False, "progression": False})
    add(r.name, "a.7: no reduction target with posterior-wall involvement ranks BKP, SJ, then VP (deprioritized)",
        r, aug(["L1"]), [ci_rel("CI-R4", ["L1"]), *ok(["L1"], ranking=[BKP, SJ, VP])])

    r = op_case("ci-r5-chronic-healed-low-pain", onset=120, edema=False, nrs=3)
    add(r.name, "CI-R5: chronic (120 d) healed fracture without edema and NRS 3: not indicated",
        r, aug(["L1"]), [notmet(["L1"]), ci_rel("CI-R5", ["L1"])])
    r = op_case("ci-r5-chronic-healed-nrs-6", onset=120, edema=False, nrs=6)
    add(r.name, "CI-R5: chronic healed fracture with NRS 6: not covered, evaluate other pain sources",
        r, aug(["L1"]), [notmet(["L1"]), ci_rel("CI-R5", ["L1"])])

    r = op_case("ci-r6-pedicle-access-none", pedicle="none")
    add(r.name, "CI-R6: no safe transpedicular access; SpineJack excluded (bipedicular implant)",
        r, aug(["L1"]), [ci_rel("CI-R6", ["L1"]), *ok(["L1"], ranking=SJ_EXCLUDED)])
    r = op_case("ci-r6-congenital-lordosis-lumbar", ("L3",)); r.condition("Q76.426", onset_days=20000)
    add(r.name, "CI-R6: congenital lordosis of the lumbar region (Q76.426) at an L3 target",
        r, aug(["L3"]), [ci_rel("CI-R6", ["L3"]), *ok(["L3"])])
    for angle, hit in [(40, True), (39, False)]:
        r = op_case(f"ci-r6-cobb-{angle}" + ("" if hit else "-boundary"), ("L3",))
        r.condition("M41.26", onset_days=3000)
        r.finding("cobb-angle-scoliosis", None, 20, valueQuantity={"value": angle, "unit": "deg", "system": UCUM,
                                                                   "code": "deg"})
        add(r.name, f"CI-R6 boundary: lumbar scoliosis with a Cobb angle of {angle} deg "
            f"({'>=' if hit else '<'} 40)", r, aug(["L3"]), ([ci_rel("CI-R6", ["L3"])] if hit else []) + ok(["L3"]))
    r = op_case("tech-sj-excluded-unilateral-access", pedicle="unilateral")
    add(r.name, "a.7: only unilateral pedicle access: SJ excluded, no CI-R6 (access is feasible)",
        r, aug(["L1"]), ok(["L1"], ranking=SJ_EXCLUDED))

    for name, desc, kw, hit in [
        ("ci-r7-fever-38.0", "CI-R7: temperature 38.0 C (>= 38.0) without an infection diagnosis", {"temp": 38.0}, True),
        ("ci-r7-fever-37.9-boundary", "CI-R7 boundary: temperature 37.9 C is below 38.0", {"temp": 37.9}, False),
        ("ci-r7-wbc-11.1", "CI-R7: WBC 11.1 x10^9/L (> 11)", {"wbc": 11.1}, True),
        ("ci-r7-wbc-at-11-boundary", "CI-R7 boundary: WBC exactly 11 is not > 11", {"wbc": 11.0}, False),
        ("ci-r7-crp-10.5", "CI-R7: CRP 10.5 mg/L (> 10)", {"crp": 10.5}, True),
        ("ci-r7-crp-at-10-boundary", "CI-R7 boundary: CRP exactly 10 mg/L is not > 10", {"crp": 10.0}, False),
    ]:
        r = op_case(name, vitals=kw)
        add(name, desc, r, aug(["L1"]), ([ci_rel("CI-R7", ["L1"])] if hit else []) + ok(["L1"]))
    r = op_case("ci-r7-crp-1.2-mg-dl", vitals={"crp": 0.4})
    r.lab("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", 1.2, "mg/dL", "mg/dL", days=0, hours=2)
    add(r.name, "CI-R7 / b.4: CRP 1.2 mg/dL is 12 mg/L after normalisation (> 10)", r, aug(["L1"]),
        [ci_rel("CI-R7", ["L1"]), *ok(["L1"])])
    r = op_case("ci-r7-fever-80h-old", vitals={"temp": 36.9})
    r.lab("8310-5", "Body temperature", 38.6, "Cel", "Cel", days=3, hours=8, category="vital-signs")
    add(r.name, "CI-R7 freshness: a 38.6 C temperature 80 h old is outside the 72 h window (latest 36.9)",
        r, aug(["L1"]), ok(["L1"]))

    r = op_case("ci-r8-radiculopathy-lumbar", ("L3",)); r.condition("M54.16", onset_days=30)
    add(r.name, "CI-R8: lumbar radiculopathy (M54.16) at a lumbar target; edema present so not CI-A4",
        r, aug(["L3"]), [ci_rel("CI-R8", ["L3"]), *ok(["L3"])])
    r = op_case("ci-r8-radiculopathy-other-region", ("L3",)); r.condition("M54.14", onset_days=30)
    add(r.name, "CI-R8 negative: thoracic radiculopathy (M54.14) with an L3 target", r, aug(["L3"]), ok(["L3"]))
    r = op_case("ci-r8-ao-n2"); r.local_value("ao-neuro-modifier", "N2", days=2, category="exam")
    add(r.name, "CI-R8: AO neurology modifier N2 (radicular)", r, aug(["L1"]), [ci_rel("CI-R8", ["L1"]), *ok(["L1"])])


# ===================================================================== a.6 malignant / SINS
def mal_case(name: str, *, sins: int | None = 5, lesion: str | None = "lytic", nrs: int = 7, level: str = "L2",
             pair: bool = True, neoplasm: str = "C79.51", epidural: bool = False) -> Record:
    """Osteolytic metastasis at L2 with M84.58XA, NRS 7 despite opioids, SINS 5, acute with edema."""
    rec = Record(name, sex="male", age=67, inpatient=True)
    rec.core()
    rec.condition(neoplasm, None if pair else level, onset_days=400)
    if pair:
        rec.condition("M84.58XA", level, onset_days=20)
    level_imaging(rec, level)
    if lesion:
        rec.local_value("lesion-type", lesion, level)
    if sins is not None:
        rec.finding("sins-total", level, 3, valueInteger=sins)
    if epidural:
        rec.finding("epidural-extension", level, 3, valueCodeableConcept=concept("http://snomed.info/sct",
                                                                                   "52101004", "Present"))
    rec.med("7804", days=21)
    rec.nsm("analgesic", 21)
    rec.pain(nrs)
    rec.dxa(-1.9)
    labs(rec)
    return rec


def malignant() -> None:
    mal = ["L2"]
    r = mal_case("ind-mal-lytic")
    add(r.name, "IND-MAL: osteolytic metastasis with M84.58XA, NRS 7, SINS 5: BKP first", r, aug(mal, False),
        ok(mal, BKP, MALIGNANT, "malignant", "IND-MAL"))
    r = mal_case("ind-mal-myeloma", neoplasm="C90.00")
    add(r.name, "IND-MAL: multiple myeloma (C90.00) with M84.58XA", r, aug(mal, False),
        ok(mal, BKP, MALIGNANT, "malignant", "IND-MAL"))
    r = mal_case("ind-mal-blastic", lesion="blastic")
    add(r.name, "IND-MAL: blastic lesion is not covered as osteolytic", r, aug(mal, False),
        [notmet(mal, "malignant", "IND-MAL")])
    r = mal_case("ind-mal-nrs-4", nrs=4)
    add(r.name, "IND-MAL: NRS 4 is below the malignant threshold (P22 = 5)", r, aug(mal, False),
        [notmet(mal, "malignant", "IND-MAL")])
    r = mal_case("ind-mal-nrs-5-boundary", nrs=5)
    add(r.name, "IND-MAL boundary: NRS exactly 5 meets P22", r, aug(mal, False),
        ok(mal, BKP, MALIGNANT, "malignant", "IND-MAL"))
    r = mal_case("tech-malignant-bkp-first")
    add(r.name, "a.7: malignant osteolytic level ranks BKP, SJ, VP; vertebroplasty requested (22511)",
        r, vp(mal), ok(mal, VP, MALIGNANT, "malignant", "IND-MAL"))
    r = mal_case("doc-coding-malignant-no-m84", pair=False)
    add(r.name, "DOC-CODING: malignant by SINS at L2 with C79.51 but no M84.58XA/XS billing pair",
        r, aug(mal, False), [*ok(mal, BKP, MALIGNANT, "malignant", "IND-MAL"), doc("DOC-CODING", mal)])
    r = mal_case("ci-r4-epidural-extension", epidural=True)
    add(r.name, "CI-R4: epidural tumor extension at the malignant level", r, aug(mal, False),
        [ci_rel("CI-R4", mal), *ok(mal, BKP, MALIGNANT, "malignant", "IND-MAL")])
    for sins, rule in [(6, None), (7, "CI-R9"), (12, "CI-R9"), (13, "CI-R10")]:
        name = f"sins-{sins}" + ("-stable" if rule is None else f"-{rule.lower()}")
        r = mal_case(name, sins=sins)
        add(name, f"P17 SINS band boundary: SINS {sins} -> {rule or 'no SINS card'}", r, aug(mal, False),
            ([ci_rel(rule, mal)] if rule else []) + ok(mal, BKP, MALIGNANT, "malignant", "IND-MAL"))
    r = mal_case("missing-sins-malignant", sins=None)
    add(r.name, "a.9: malignant level without SINS: info, not blocking", r, aug(mal, False),
        [missing(["sins"], mal), *ok(mal, BKP, MALIGNANT, "malignant", "IND-MAL")])


# ===================================================================== a.6 traumatic / hemangioma / other
def tr_case(name: str, *, ao: str = "A1", neuro: str = "N0", onset: float = 5, height: float = 20,
            code: str = "S32.010A", wall: str | None = "none") -> Record:
    """Traumatic L1 fracture in a 45-year-old man with normal bone density (T-score -0.8), NRS 8 inpatient."""
    rec = Record(name, sex="male", age=45, inpatient=True)
    rec.core()
    rec.condition(code, "L1", onset_days=onset)
    level_imaging(rec, "L1", height=height, wall=wall)
    rec.local_value("ao-tl-morphology", ao, "L1")
    rec.local_value("ao-neuro-modifier", neuro, days=2, category="exam")
    rec.pain(8)
    rec.dxa(-0.8, 100)
    labs(rec)
    return rec


def traumatic_and_other() -> None:
    r = tr_case("ind-tr-a1-n0")
    add(r.name, "IND-TR: AO A1 N0 acute traumatic fracture: met + COV-TRAUMATIC; A1 is a reduction target",
        r, aug(["L1"]), [*ok(["L1"], pathway="traumatic", rule="IND-TR"), cov("COV-TRAUMATIC", ["L1"])])
    r = tr_case("ind-tr-a3-n1", ao="A3", neuro="N1", code="S32.011A", wall=None)
    add(r.name, "IND-TR: AO A3 N1 (incomplete burst, posterior wall) also raises CI-R4",
        r, aug(["L1"]), [*ok(["L1"], pathway="traumatic", rule="IND-TR"), cov("COV-TRAUMATIC", ["L1"]),
                         ci_rel("CI-R4", ["L1"])])
    r = tr_case("ind-tr-a2-no-target", ao="A2", height=15, code="S32.018A")
    add(r.name, "IND-TR: AO A2 with 15 % height loss: no reduction target, VP first",
        r, aug(["L1"]), [*ok(["L1"], ranking=NO_TARGET, pathway="traumatic", rule="IND-TR"),
                         cov("COV-TRAUMATIC", ["L1"])])
    r = tr_case("ind-tr-a1-n2", neuro="N2")
    add(r.name, "IND-TR needs N0/N1: AO A1 with N2 (radicular) is not indicated, and N2 is CI-R8", r, aug(["L1"]),
        [notmet(["L1"], "traumatic", "IND-TR"), ci_rel("CI-R8", ["L1"])])
    r = tr_case("ind-tr-a1-n3", neuro="N3")
    add(r.name, "IND-TR with AO N3: not indicated (N0/N1 only) and CI-A6 (incomplete cord injury)", r,
        aug(["L1"]), [notmet(["L1"], "traumatic", "IND-TR"), ci_abs("CI-A6", ["L1"])])
    r = tr_case("ind-tr-a0", ao="A0", code="S32.018A")
    add(r.name, "IND-TR: AO A0 minor fracture is not indicated (no coverage card)", r, aug(["L1"]),
        [notmet(["L1"], "traumatic", "IND-TR")])
    r = tr_case("ind-tr-a1-45d-outside-acute", onset=45)
    add(r.name, "IND-TR: AO A1 but 45 days old, outside the acute window (< 42 d)", r, aug(["L1"]),
        [notmet(["L1"], "traumatic", "IND-TR")])
    r = op_case("ind-op-traumatic-code-with-osteoporosis", fracture_code="S32.010A")
    r.condition("M81.0", onset_days=900)
    add(r.name, "a.6 pathway: S32.0* with osteoporosis (M81.0) is osteoporotic, not traumatic (no COV card)",
        r, aug(["L1"]), ok(["L1"]))

    def hem(name: str, nrs: int) -> Record:
        rec = Record(name, sex="male", age=52, inpatient=False)
        rec.core()
        rec.condition("D18.09", "T8", onset_days=60)
        level_imaging(rec, "T8", edema=None, height=None)
        rec.local_value("lesion-type", "aggressive-hemangioma", "T8")
        rec.pain(nrs)
        rec.dxa(-0.5, 300)
        labs(rec)
        return rec

    r = hem("ind-hem", 6)
    add(r.name, "IND-HEM: painful aggressive T8 hemangioma (NRS 6), VP ordered: met + COV-HEMANGIOMA, VP first",
        r, vp(["T8"]), [*ok(["T8"], VP, HEMANGIOMA, "hemangioma", "IND-HEM"), cov("COV-HEMANGIOMA", ["T8"])])
    r = hem("tech-hemangioma-vp-first", 7)
    add(r.name, "a.7: hemangioma without fracture: VP, BKP (SJ excluded); BKP requested", r, aug(["T8"], False),
        [*ok(["T8"], BKP, HEMANGIOMA, "hemangioma", "IND-HEM"), cov("COV-HEMANGIOMA", ["T8"])])
    r = hem("ind-hem-nrs-5-boundary", 5)
    add(r.name, "IND-HEM boundary: NRS exactly 5 meets the outpatient threshold", r, vp(["T8"]),
        [*ok(["T8"], VP, HEMANGIOMA, "hemangioma", "IND-HEM"), cov("COV-HEMANGIOMA", ["T8"])])
    r = hem("ind-hem-nrs-4", 4)
    add(r.name, "IND-HEM: NRS 4 below the outpatient threshold: not indicated", r, vp(["T8"]),
        [notmet(["T8"], "hemangioma", "IND-HEM")])

    r = op_case("ind-proph-no-fracture", ("L1",)); r.condition("M81.0", onset_days=900)
    add(r.name, "IND-PROPH: L1 fractured and indicated; L2 ordered prophylactically without a fracture",
        r, aug(["L1", "L2"]), [*ok(["L1"]), notmet(["L2"], "prophylactic", "IND-PROPH")])
    r = op_case("ind-proph-only-level", ("L1",)); r.condition("M81.0", onset_days=900)
    add(r.name, "IND-PROPH: only an unfractured level (L3) is ordered", r, aug(["L3"]),
        [notmet(["L3"], "prophylactic", "IND-PROPH")])

    r = op_case("ind-range-t1-boundary", ("T1",))
    add(r.name, "P1 boundary: T1 is the first eligible level (cms-lcd); upper thoracic, VP first", r, vp(["T1"]),
        [*ok(["T1"], VP, UPPER_T), doc("DOC-UPPER-THORACIC", ["T1"])])
    r = op_case("tech-sj-l5-boundary", ("L5",))
    add(r.name, "P1/P2 boundary: L5 is the last eligible and the last SpineJack level", r, aug(["L5"]), ok(["L5"]))
    r = op_case("ind-range-c5", ("C5",))
    add(r.name, "IND-RANGE: osteoporotic C5 fracture is outside the LCD range T1-L5", r, vp(["C5"]),
        [notmet(["C5"], "osteoporotic", "IND-RANGE")])


# ===================================================================== a.6 IND-OP pain paths and acuity
def osteoporotic() -> None:
    r = op_case("ind-op-inpatient-nrs-8", nrs=8)
    add(r.name, "IND-OP hospitalized path: inpatient NRS exactly 8; SpineJack requested and rank 1",
        r, aug(["L1"]), ok(["L1"]))
    r = op_case("hook-order-sign-indicated", nrs=8)
    add(r.name, "order-sign: the signing service gives the same findings as order-select for an indicated level",
        r, aug(["L1"]), ok(["L1"]), hook="order-sign")
    r = op_case("ind-op-pain-vas-80mm", nrs=None)
    r.lab("38214-3", "Pain severity [Score] Visual analog score", 80, "mm", "mm", days=0, hours=5, category="survey")
    add(r.name, "b.4: only a VAS of 80 mm, normalised to 8/10, meets the inpatient threshold", r, aug(["L1"]),
        ok(["L1"]))
    r = op_case("ind-op-inpatient-nrs-7-second-path", pains=[(10, 5), (0.25, 7)], nsm=OUT_NSM)
    add(r.name, "IND-OP: inpatient NRS 7 misses the >= 8 path but meets the second path (NSM + worsening)",
        r, aug(["L1"]), ok(["L1"]))
    r = op_case("ind-op-inpatient-nrs-7-not-met", pains=[(10, 7), (0.25, 7)], nsm=OUT_NSM, secondary=STABLE_NEG)
    add(r.name, "IND-OP: inpatient NRS 7, stable pain, only one P9 criterion (height loss 30 %)",
        r, aug(["L1"]), [notmet(["L1"])])
    r = outpatient("ind-op-outpatient-nrs-5-worsening", [(14, 4), (0.25, 5)])
    add(r.name, "IND-OP outpatient: NRS exactly 5, NSM documented, worsening by 1 over 14 days",
        r, aug(["L1"]), ok(["L1"]))
    r = outpatient("ind-op-outpatient-nrs-4", [(14, 3), (0.25, 4)])
    add(r.name, "IND-OP outpatient: NRS 4 is below 5 even though it worsened", r, aug(["L1"]), [notmet(["L1"])])
    r = outpatient("ind-op-outpatient-worsening-6d-apart", [(6, 4), (0.25, 5)])
    add(r.name, "P8 boundary: values 6 days apart do not show worsening; one P9 criterion only",
        r, aug(["L1"]), [notmet(["L1"])])
    r = outpatient("ind-op-outpatient-worsening-7d-apart", [(7, 4), (0, 5)])
    add(r.name, "P8 boundary: values exactly 7 days apart show worsening", r, aug(["L1"]), ok(["L1"]))
    r = outpatient("ind-op-outpatient-trajectory-worsening", [(0.25, 6)])
    r.local_value("pain-trajectory", "worsening", days=0.25, category="exam")
    add(r.name, "P8: clinician-asserted pain trajectory = worsening with a single NRS 6", r, aug(["L1"]), ok(["L1"]))
    r = outpatient("ind-op-stable-two-secondary", [(14, 6), (0.25, 6)], height=26,
                   secondary={"kyphotic": False, "progression": False, "rdq": 18})
    add(r.name, "IND-OP stable path: NRS 6 stable with height loss 26 % and RDQ 18 (two P9 criteria)",
        r, aug(["L1"]), ok(["L1"]))
    r = outpatient("ind-op-stable-height-25-one-secondary", [(14, 6), (0.25, 6)], height=25,
                   secondary={"kyphotic": False, "progression": False, "rdq": 18})
    add(r.name, "P9 boundary: height loss exactly 25 % is not > 25, so only RDQ counts", r, aug(["L1"]),
        [notmet(["L1"])])
    r = outpatient("ind-op-stable-rdq-17-one-secondary", [(14, 6), (0.25, 6)], height=26,
                   secondary={"kyphotic": False, "progression": False, "rdq": 17})
    add(r.name, "P9 boundary: RDQ exactly 17 is not > 17, so only height loss counts", r, aug(["L1"]),
        [notmet(["L1"])])
    r = outpatient("ind-op-stable-kyphotic-angle-15", [(14, 6), (0.25, 6)], height=26,
                   secondary={"progression": False, "rdq": 12, "angle": 15})
    add(r.name, "P9: local kyphotic angle 15 deg (fallback) plus height loss 26 %", r, aug(["L1"]), ok(["L1"]))
    r = outpatient("ind-op-stable-kyphotic-angle-14", [(14, 6), (0.25, 6)], height=26,
                   secondary={"progression": False, "rdq": 12, "angle": 14})
    add(r.name, "P9 boundary: kyphotic angle 14 deg is below the 15 deg fallback", r, aug(["L1"]), [notmet(["L1"])])

    for days, ok_ in [(41, True), (42, True), (84, True)]:
        name = {41: "ind-op-acute-41d", 42: "ind-op-subacute-42d", 84: "ind-op-subacute-84d"}[days]
        r = op_case(name, onset=days)
        add(name, f"P3 boundary: onset {days} days ago is {'acute' if days < 42 else 'subacute'}; SJ allowed",
            r, aug(["L1"]), ok(["L1"]))
    r = op_case("ind-op-chronic-85d", onset=85)
    add(r.name, "P3 boundary: onset 85 days ago is chronic: not met, CI-R5 (NRS 9: evaluate other sources)",
        r, aug(["L1"]), [notmet(["L1"]), ci_rel("CI-R5", ["L1"])])
    r = op_case("ind-op-acute-no-edema", edema=False)
    add(r.name, "P4: acute by time but MRI shows no edema (healed): not met, CI-R5", r, aug(["L1"]),
        [notmet(["L1"]), ci_rel("CI-R5", ["L1"])])
    r = op_case("ind-op-bone-scan-uptake", edema=None)
    r.finding("bone-scan-uptake", "L1", 3, valueCodeableConcept=concept("http://snomed.info/sct", "52101004",
                                                                         "Present"))
    add(r.name, "P4: bone-scan uptake at L1 proves acuity without MRI", r, aug(["L1"]), ok(["L1"]))


# ===================================================================== a.7 technique, a.8 sessions, CPT, DOC
def technique_and_docs() -> None:
    r = op_case("tech-sj-rank1-reduction-target")
    add(r.name, "a.7: reduction target (30 %), T7-L5, acute: SJ first; balloon kyphoplasty requested",
        r, aug(["L1"], spinejack=False), ok(["L1"], BKP))
    r = op_case("tech-t3-vp-first", ("T3",))
    add(r.name, "a.7: T1-T4 row overrides the reduction target: VP, BKP; DOC-UPPER-THORACIC", r, vp(["T3"]),
        [*ok(["T3"], VP, UPPER_T), doc("DOC-UPPER-THORACIC", ["T3"])])
    r = op_case("tech-sj-outside-p2-t6", ("T6",))
    add(r.name, "a.7 boundary: T6 is outside the SpineJack range T7-L5 (SJ requested, excluded)",
        r, aug(["T6"]), ok(["T6"], SJ, SJ_EXCLUDED))
    r = op_case("tech-sj-p2-boundary-t7", ("T7",))
    add(r.name, "a.7 boundary: T7 is inside the SpineJack range", r, aug(["T7"]), ok(["T7"]))
    r = op_case("tech-no-target-vp-first", height=15, secondary={"kyphotic": False, "progression": False})
    add(r.name, "a.7: no reduction target, posterior wall intact: VP, BKP, SJ (SJ deprioritized)",
        r, aug(["L1"]), ok(["L1"], SJ, NO_TARGET))
    r = op_case("tech-height-loss-25-reduction-target", height=25)
    add(r.name, "P19 boundary: height loss exactly 25 % is a reduction target", r, aug(["L1"]), ok(["L1"]))
    r = op_case("tech-height-loss-24-no-target", height=24, secondary={"kyphotic": False, "progression": False})
    add(r.name, "P19 boundary: height loss 24 % is no reduction target", r, aug(["L1"]),
        ok(["L1"], SJ, NO_TARGET))
    r = op_case("tech-kyphotic-deformity-target", height=15, secondary={"kyphotic": True, "progression": False})
    add(r.name, "P19: kyphotic deformity is a reduction target", r, aug(["L1"]), ok(["L1"]))
    r = op_case("tech-progression-target", height=15, secondary={"kyphotic": False, "progression": True})
    add(r.name, "P19: progression of height loss is a reduction target", r, aug(["L1"]), ok(["L1"]))

    r = op_case("multi-level-mixed-t3-l1", ("T3", "L1"))
    add(r.name, "a.8: each level ranked on its own: T3 VP first, L1 SJ first; DOC-UPPER-THORACIC for T3",
        r, aug(["T3", "L1"]), [met(["T3", "L1"]), tech(["T3"], UPPER_T, SJ), tech(["L1"], [SJ, BKP, VP], SJ),
                               doc("DOC-UPPER-THORACIC", ["T3"])])

    r = op_case("multi-level-ci-a2-one-region", ("T8", "L3")); r.condition("M46.26", onset_days=5)
    add(r.name, "a.8 per-level CI: lumbar osteomyelitis blocks L3 only; T8 keeps its technique card",
        r, aug(["T8", "L3"]), [met(["T8", "L3"]), tech(["T8"], [SJ, BKP, VP], SJ), ci_abs("CI-A2", ["L3"])])
    r = mal_case("multi-condition-level-malignant-wins")
    r.condition("M80.08XA", "L2", onset_days=20)
    add(r.name, "a.8: osteoporotic and neoplastic fracture codes at one level: malignant has priority (a.6)",
        r, aug(["L2"], False), ok(["L2"], BKP, MALIGNANT, "malignant", "IND-MAL"))
    r = op_case("cpt-mismatch-vp-and-augmentation-same-level")
    add(r.name, "CPT-MISMATCH: vertebroplasty 22511 and augmentation 22514 for the same vertebral body (L1)",
        r, [Order("22514", ["L1"], spinejack=True), Order("22511", ["L1"])],
        [met(["L1"]), tech(["L1"], [SJ, BKP, VP], SJ), tech(["L1"], [SJ, BKP, VP], VP), doc("CPT-MISMATCH", ["L1"])])
    r = op_case("trigger-pcs-xnu0356-spinejack")
    add(r.name, "a.1 trigger: inpatient ICD-10-PCS XNU0356 (SpineJack, lumbar) is a VA order requesting SpineJack",
        r, [Order("XNU0356", ["L1"], system=ICD10PCS)], ok(["L1"]))
    r = op_case("tech-sj-hint-device-text-only")
    add(r.name, "a.1 device hint: 22514 with 'SpineJack' named only in the order detail text", r,
        [Order("22514", ["L1"], device_text="SpineJack implant, size 5.0")], ok(["L1"]))
    r = op_case("cpt-mismatch-22514-thoracic", ("T10",))
    add(r.name, "CPT-MISMATCH: lumbar augmentation code 22514 with a thoracic (T10) bodySite",
        r, [Order("22514", ["T10"])], [*ok(["T10"], BKP), doc("CPT-MISMATCH", ["T10"])])
    r = op_case("cpt-mismatch-22511-thoracic", ("T10",))
    add(r.name, "CPT-MISMATCH: lumbosacral vertebroplasty code 22511 with a thoracic bodySite",
        r, [Order("22511", ["T10"])], [*ok(["T10"], VP), doc("CPT-MISMATCH", ["T10"])])
    r = op_case("cpt-consistent-22510-thoracic", ("T10",))
    add(r.name, "CPT negative: 22510 at T10 is consistent; VP requested but SJ ranks first", r, vp(["T10"]),
        ok(["T10"], VP))

    r = op_case("doc-refracture"); r.prior_augmentation("L1")
    add(r.name, "DOC-REFRACTURE: prior augmentation at the same level (L1)", r, aug(["L1"]),
        [*ok(["L1"]), doc("DOC-REFRACTURE", ["L1"])])
    r = op_case("doc-adjacent"); r.prior_augmentation("L2")
    add(r.name, "DOC-ADJACENT: prior augmentation at the adjacent level L2", r, aug(["L1"]),
        [*ok(["L1"]), doc("DOC-ADJACENT", ["L1"])])
    r = op_case("doc-prior-not-adjacent"); r.prior_augmentation("L4")
    add(r.name, "DOC negative: prior augmentation at L4 is neither the same nor adjacent to L1", r, aug(["L1"]),
        ok(["L1"]))
    r = op_case("doc-bmd-no-dxa", dxa=None)
    add(r.name, "DOC-BMD: no DXA and no osteoporosis therapy: BMD referral with DXA suggestion", r, aug(["L1"]),
        [*ok(["L1"]), doc("DOC-BMD", ["L1"])])
    r = op_case("doc-bmd-dxa-25-months", dxa_days=761)
    add(r.name, "P20 boundary: DXA 25 months old is outside 24 months", r, aug(["L1"]),
        [*ok(["L1"]), doc("DOC-BMD", ["L1"])])
    r = op_case("doc-bmd-dxa-23-months", dxa_days=700)
    add(r.name, "P20 boundary: DXA 23 months old is recent enough", r, aug(["L1"]), ok(["L1"]))
    r = op_case("doc-upper-thoracic", ("T2",))
    add(r.name, "DOC-UPPER-THORACIC: T2 level (infrequent, may trigger review); VP ordered", r, vp(["T2"]),
        [*ok(["T2"], VP, UPPER_T), doc("DOC-UPPER-THORACIC", ["T2"])])
    r = op_case("doc-upper-thoracic-t4-boundary", ("T4",))
    add(r.name, "DOC-UPPER-THORACIC boundary: T4 is still upper thoracic", r, vp(["T4"]),
        [*ok(["T4"], VP, UPPER_T), doc("DOC-UPPER-THORACIC", ["T4"])])
    r = op_case("doc-upper-thoracic-t5-none", ("T5",))
    add(r.name, "DOC-UPPER-THORACIC boundary: T5 is not upper thoracic (SJ excluded by P2)", r, aug(["T5"], False),
        ok(["T5"], BKP, SJ_EXCLUDED))

    r = Record("no-va-order-mri")
    r.core()
    add(r.name, "Trigger: a draft MRI (72148) is not vertebral augmentation: no cards", r,
        [Order("72148", ["L1"])], [])


# ===================================================================== a.9 missing data
def missing_data() -> None:
    r = op_case("missing-level")
    add(r.name, "a.9: no bodySite and no level text on the order: indeterminate for the whole order",
        r, [Order("22514", [], spinejack=True)], [missing(["level"], [])])
    r = op_case("missing-level-note-fallback")
    add(r.name, "a.1: no bodySite, level read from the order note ('L1')", r,
        [Order("22514", [], spinejack=True, note="Vertebral level: L1")], ok(["L1"]))
    r = op_case("missing-pain", pains=[(8, 9)])
    add(r.name, "a.9: latest NRS is 8 days old (> 7): indication indeterminate, technique provisional",
        r, aug(["L1"]), [missing(["pain-score"], ["L1"]), tech(["L1"], [SJ, BKP, VP], SJ, provisional=True)])
    r = op_case("missing-pain-at-7d-boundary", pains=[(7, 9)])
    add(r.name, "P21 boundary: an NRS exactly 7 days old is fresh", r, aug(["L1"]), ok(["L1"]))
    r = op_case("missing-imaging-provisional-tech", edema=None)
    add(r.name, "a.9: no acuity imaging at L1 (height loss known): indeterminate, technique provisional",
        r, aug(["L1"]), [missing(["acuity-imaging"], ["L1"]), tech(["L1"], [SJ, BKP, VP], SJ, provisional=True)])
    r = op_case("missing-imaging-before-onset", onset=10, imaging_days=12)
    add(r.name, "a.2 I4: edema read 2 days before symptom onset does not show this fracture's acuity",
        r, aug(["L1"]), [missing(["acuity-imaging"], ["L1"]), tech(["L1"], [SJ, BKP, VP], SJ, provisional=True)])
    r = op_case("missing-onset")
    for res in r.resources:
        if res["resourceType"] == "Condition":
            res.pop("onsetDateTime"); res.pop("recordedDate")
    add(r.name, "a.9: fracture without onset or recorded date, edema present: acuity by imaging only",
        r, aug(["L1"]), [missing(["onset-date"], ["L1"]), tech(["L1"], [SJ, BKP, VP], SJ, provisional=True)])
    r = op_case("missing-onset-recorded-date-fallback")
    for res in r.resources:
        if res["resourceType"] == "Condition":
            res.pop("onsetDateTime"); res["recordedDate"] = at(days=20)
    add(r.name, "a.2 I3: onset missing, recordedDate (20 days) used instead", r, aug(["L1"]), ok(["L1"]))
    r = op_case("missing-inr-select", inr=None)
    add(r.name, "a.9: no INR within 30 days at order-select: info, not blocking", r, aug(["L1"]),
        [{**missing(["inr"], ["L1"]), "indicator": "info"}, *ok(["L1"])])
    r = op_case("missing-inr-sign-blocking", inr=None)
    add(r.name, "a.9: no INR within 30 days at order-sign: blocking message (warning)", r, aug(["L1"]),
        [{**missing(["inr"], ["L1"]), "indicator": "warning"}, *ok(["L1"])], hook="order-sign")
    r = op_case("missing-inr-stale-31d", inr=None); r.inr(1.0, days=31)
    add(r.name, "a.2 I11 boundary: an INR 31 days old is stale", r, aug(["L1"]),
        [missing(["inr"], ["L1"]), *ok(["L1"])])
    r = op_case("missing-inr-fresh-30d", inr=None); r.inr(1.0, days=30)
    add(r.name, "a.2 I11 boundary: a normal INR exactly 30 days old is fresh", r, aug(["L1"]), ok(["L1"]))
    r = op_case("missing-platelets", platelets=None)
    add(r.name, "a.9: no platelet count within 30 days", r, aug(["L1"]), [missing(["platelets"], ["L1"]), *ok(["L1"])])
    r = op_case("missing-pregnancy-female-40", age=40)
    add(r.name, "a.9: female aged 40 without pregnancy status: info, not blocking", r, aug(["L1"]),
        [missing(["pregnancy-status"], ["L1"]), *ok(["L1"])])
    r = op_case("missing-pregnancy-female-55-boundary", age=55)
    add(r.name, "a.2 I12 boundary: female aged exactly 55 still needs pregnancy status", r, aug(["L1"]),
        [missing(["pregnancy-status"], ["L1"]), *ok(["L1"])])
    r = op_case("pregnancy-not-required-female-56", age=56)
    add(r.name, "a.2 I12 boundary: female aged 56 needs no pregnancy status", r, aug(["L1"]), ok(["L1"]))
    r = op_case("pregnancy-not-pregnant-female-40", age=40)
    r.coded_obs("82810-3", "Pregnancy status", ("http://snomed.info/sct", "60001007", "Not pregnant"), days=5,
                category="social-history")
    add(r.name, "CI-A3 negative: documented not pregnant 5 days ago", r, aug(["L1"]), ok(["L1"]))
    r = op_case("missing-pregnancy-stale-31d", age=40)
    r.coded_obs("82810-3", "Pregnancy status", ("http://snomed.info/sct", "60001007", "Not pregnant"), days=31,
                category="social-history")
    add(r.name, "a.2 I12 boundary: a pregnancy status 31 days old is stale", r, aug(["L1"]),
        [missing(["pregnancy-status"], ["L1"]), *ok(["L1"])])
    r = outpatient("missing-nsm-outpatient", [(14, 5), (0.25, 6)], nsm=[])
    add(r.name, "a.9: outpatient NRS 6 and worsening but no NSM documented: indeterminate, provisional",
        r, aug(["L1"]), [missing(["nsm"], ["L1"]), tech(["L1"], [SJ, BKP, VP], SJ, provisional=True)])
    r = outpatient("missing-morphology-stable-pain", [(14, 6), (0.25, 6)], height=None, secondary={})
    add(r.name, "a.9: stable outpatient pain and no height loss/kyphosis/progression/RDQ: indeterminate",
        r, aug(["L1"]), [missing(["morphology"], ["L1"]), tech(["L1"], NO_TARGET, SJ, provisional=True)])
    r = outpatient("missing-morphology-rdq-31d-stale", [(14, 6), (0.25, 6)], height=26,
                   secondary={"kyphotic": False, "progression": False})
    r.finding("rdq-total", None, 31, valueInteger=18)
    add(r.name, "a.2 I7 boundary: an RDQ 31 days old is stale, so the second P9 criterion is unknown",
        r, aug(["L1"]), [missing(["morphology"], ["L1"]), tech(["L1"], [SJ, BKP, VP], SJ, provisional=True)])
    r = outpatient("ind-op-stable-rdq-30d-fresh", [(14, 6), (0.25, 6)], height=26,
                   secondary={"kyphotic": False, "progression": False})
    r.finding("rdq-total", None, 30, valueInteger=18)
    add(r.name, "a.2 I7 boundary: an RDQ exactly 30 days old still counts (RDQ 18 + height loss 26 %)",
        r, aug(["L1"]), ok(["L1"]))
    r = op_case("missing-inr-warfarin-8d", inr=None); r.inr(1.1, days=8); r.med("11289", days=300)
    add(r.name, "a.2 I11: on warfarin the INR must be <= 7 days old; 8 days is stale (and warfarin is CI-R3)",
        r, aug(["L1"]), [missing(["inr"], ["L1"]), ci_rel("CI-R3", ["L1"]), *ok(["L1"])])
    r = op_case("missing-inr-abnormal-8d-stale", inr=None); r.inr(1.6, days=8)
    add(r.name, "a.2 I11: an abnormal INR (1.6) must be <= 7 days old; 8 days is stale", r, aug(["L1"]),
        [missing(["inr"], ["L1"]), *ok(["L1"])])
    r = op_case("missing-etiology-m48", fracture_code="M48.56XA", dxa=-1.8)
    add(r.name, "a.9: collapsed vertebra NEC (M48.56XA) without osteoporosis: specify etiology",
        r, aug(["L1"]), [missing(["etiology"], ["L1"]), tech(["L1"], [SJ, BKP, VP], SJ, provisional=True)])
    r = op_case("etiology-m48-with-osteoporosis", fracture_code="M48.56XA", dxa=-1.8)
    r.condition("M81.0", onset_days=900)
    add(r.name, "a.6: M48.56XA with documented osteoporosis (M81.0) takes the osteoporotic pathway",
        r, aug(["L1"]), ok(["L1"]))
    r = op_case("etiology-m48-low-tscore", fracture_code="M48.56XA", dxa=-2.7)
    add(r.name, "a.6: M48.56XA with DXA T-score -2.7 (<= -2.5) takes the osteoporotic pathway",
        r, aug(["L1"]), ok(["L1"]))


# ===================================================================== profiles (a.3)
def profiles() -> None:
    r = outpatient("profile-cms-nsm-30d", [(14, 4), (0.25, 6)])
    add(r.name, "P7 cms-lcd: 30 days of analgesics is documented NSM (no minimum)", r, aug(["L1"]), ok(["L1"]))
    r = outpatient("profile-commercial-6wk-nsm-30d", [(14, 4), (0.25, 6)])
    add(r.name, "P7 commercial-6wk: 30 days of NSM is short of 42: not met", r, aug(["L1"]), [notmet(["L1"])],
        profile="commercial-6wk")
    r = outpatient("profile-commercial-6wk-nsm-42d", [(14, 4), (0.25, 6)], nsm=[("analgesic", 42)])
    add(r.name, "P7 commercial-6wk boundary: 42 days of NSM meets the minimum", r, aug(["L1"]), ok(["L1"]),
        profile="commercial-6wk")
    r = outpatient("profile-evicore-nsm-drugs-only-30d", [(14, 4), (0.25, 6)])
    add(r.name, "P7 evicore: analgesics 30 days but no directed exercise: not met", r, aug(["L1"]),
        [notmet(["L1"])], profile="evicore")
    r = outpatient("profile-evicore-nsm-drugs-and-pt-28d", [(14, 4), (0.25, 6)],
                   nsm=[("analgesic", 28), ("physical-therapy", 28)])
    add(r.name, "P7 evicore boundary: 28 days of drugs and 28 days of exercise", r, aug(["L1"]), ok(["L1"]),
        profile="evicore")
    r = op_case("profile-evicore-t4-out-of-range", ("T4",))
    add(r.name, "P1 evicore: T4 is outside T5-L5", r, vp(["T4"]),
        [notmet(["T4"], "osteoporotic", "IND-RANGE"), doc("DOC-UPPER-THORACIC", ["T4"])], profile="evicore")
    r = op_case("profile-evicore-t5-in-range", ("T5",))
    add(r.name, "P1 evicore boundary: T5 is inside T5-L5 (SJ requested but outside P2)", r, aug(["T5"]),
        ok(["T5"], SJ, SJ_EXCLUDED), profile="evicore")
    r = op_case("multi-level-evicore-3-levels-ci-r1", ("L1", "L2", "L3"))
    add(r.name, "P10 evicore: three levels exceed the eviCore maximum of 2", r, aug(["L1", "L2", "L3"]),
        [ci_rel("CI-R1", ["L1", "L2", "L3"]), *ok(["L1", "L2", "L3"])], profile="evicore")
    r = op_case("multi-level-evicore-2-levels", ("L1", "L2"))
    add(r.name, "P10 evicore boundary: two levels are allowed", r, aug(["L1", "L2"]), ok(["L1", "L2"]),
        profile="evicore")


def build_all() -> list[Scenario]:
    if not SCENARIOS:
        for part in (ci_absolute, ci_relative, malignant, traumatic_and_other, osteoporotic,
                     technique_and_docs, missing_data, profiles):
            part()
    return SCENARIOS


RULE_MENTION = re.compile(r"\b(CI-[AR]\d+|IND-[A-Z]+|COV-[A-Z]+|DOC-[A-Z-]+[A-Z]|CPT-MISMATCH|P\d+)\b")


def rule_index() -> dict[str, list[str]]:
    """Rule id (or parameter P#, or `missing: <input>`) -> fixtures that exercise it, positive or negative."""
    index: dict[str, list[str]] = {}
    for sc in build_all():
        keys = set(RULE_MENTION.findall(sc.description))
        # The indicated-level cards (C-IND-MET, C-TECH) are every scenario's baseline: listing them would
        # bury the fixtures that exercise a rule, so only other cards and the description count.
        keys |= {r for f in sc.findings if f["id"] not in ("C-IND-MET", "C-TECH") for r in f["rules"]}
        keys |= {f"{f['rules'][0]} ({f['pathway']})" for f in sc.findings if f["id"] == "C-IND-MET"
                 and f["pathway"] != "osteoporotic"}
        keys |= {f"missing: {m}" for f in sc.findings for m in f.get("missing", [])}
        for key in keys:
            index.setdefault(key, []).append(sc.name)
    return index


def _rule_order(key: str) -> tuple[int, str, int]:
    m = re.match(r"(CI-A|CI-R|P)(\d+)$", key)
    group = {"CI-A": 0, "CI-R": 1, "P": 3}
    if m:
        return group[m.group(1)], m.group(1), int(m.group(2))
    return (4 if key.startswith("missing") else 2), key, 0


def index_markdown() -> str:
    lines = ["# Fixture index (generated by `python -m fhir_fixtures.build`; do not edit)", "",
             "## Rule -> fixtures", "", "| Rule / parameter | Fixtures |", "|---|---|"]
    index = rule_index()
    lines += [f"| {k} | {', '.join(f'`{n}`' for n in sorted(index[k]))} |" for k in sorted(index, key=_rule_order)]
    lines += ["", "## Fixtures", "", "| Fixture | Hook | Profile | What it exercises |", "|---|---|---|---|"]
    lines += [f"| `{s.name}` | {s.hook} | {s.profile} | {s.description} |" for s in sorted(build_all(), key=lambda s: s.name)]
    return "\n".join(lines) + "\n"


def write(out: Path = ROOT) -> list[str]:
    names = []
    for sc in build_all():
        folder = out / sc.name
        folder.mkdir(parents=True, exist_ok=True)
        for fname, data in (("bundle.json", sc.record.bundle()), ("request.json", sc.request()),
                            ("expected.json", sc.expected())):
            (folder / fname).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        names.append(sc.name)
    (out / "INDEX.md").write_text(index_markdown())
    # Drop folders of scenarios that no longer exist, so the committed JSON matches the definitions.
    for folder in out.iterdir():
        if folder.is_dir() and (folder / "expected.json").exists() and folder.name not in names:
            shutil.rmtree(folder)
    return names


if __name__ == "__main__":
    written = write()
    print(f"wrote {len(written)} fixtures under {ROOT}", file=sys.stderr)
