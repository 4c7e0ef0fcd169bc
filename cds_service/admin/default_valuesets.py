"""Admin layer: the default value sets of spec part b (code lists only; the typed model lives in config.py)."""

from __future__ import annotations

from typing import Any

ICD10CM_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "VS-DX-OVCF": (
        ('M80.08XA', 'Age-related osteoporosis with current pathological fracture, vertebra(e), initial encounter for fracture'),
        ('M80.08XD', 'Age-related osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with routine healing'),
        ('M80.08XG', 'Age-related osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with delayed healing'),
        ('M80.08XK', 'Age-related osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with nonunion'),
        ('M80.08XP', 'Age-related osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with malunion'),
        ('M80.08XS', 'Age-related osteoporosis with current pathological fracture, vertebra(e), sequela'),
        ('M80.88XA', 'Other osteoporosis with current pathological fracture, vertebra(e), initial encounter for fracture'),
        ('M80.88XD', 'Other osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with routine healing'),
        ('M80.88XG', 'Other osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with delayed healing'),
        ('M80.88XK', 'Other osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with nonunion'),
        ('M80.88XP', 'Other osteoporosis with current pathological fracture, vertebra(e), subsequent encounter for fracture with malunion'),
        ('M80.88XS', 'Other osteoporosis with current pathological fracture, vertebra(e), sequela'),
    ),
    "VS-DX-COLLAPSE-NEC": (
        ('M48.50XA', 'Collapsed vertebra, not elsewhere classified, site unspecified, initial encounter for fracture'),
        ('M48.51XA', 'Collapsed vertebra, not elsewhere classified, occipito-atlanto-axial region, initial encounter for fracture'),
        ('M48.52XA', 'Collapsed vertebra, not elsewhere classified, cervical region, initial encounter for fracture'),
        ('M48.53XA', 'Collapsed vertebra, not elsewhere classified, cervicothoracic region, initial encounter for fracture'),
        ('M48.54XA', 'Collapsed vertebra, not elsewhere classified, thoracic region, initial encounter for fracture'),
        ('M48.55XA', 'Collapsed vertebra, not elsewhere classified, thoracolumbar region, initial encounter for fracture'),
        ('M48.56XA', 'Collapsed vertebra, not elsewhere classified, lumbar region, initial encounter for fracture'),
        ('M48.57XA', 'Collapsed vertebra, not elsewhere classified, lumbosacral region, initial encounter for fracture'),
        ('M48.58XA', 'Collapsed vertebra, not elsewhere classified, sacral and sacrococcygeal region, initial encounter for fracture'),
    ),
    "VS-DX-MALIG-FX": (
        ('M84.58XA', 'Pathological fracture in neoplastic disease, other specified site, initial encounter for fracture'),
        ('M84.58XD', 'Pathological fracture in neoplastic disease, other specified site, subsequent encounter for fracture with routine healing'),
        ('M84.58XG', 'Pathological fracture in neoplastic disease, other specified site, subsequent encounter for fracture with delayed healing'),
        ('M84.58XK', 'Pathological fracture in neoplastic disease, other specified site, subsequent encounter for fracture with nonunion'),
        ('M84.58XP', 'Pathological fracture in neoplastic disease, other specified site, subsequent encounter for fracture with malunion'),
        ('M84.58XS', 'Pathological fracture in neoplastic disease, other specified site, sequela'),
        ('M84.48XA', 'Pathological fracture, other site, initial encounter for fracture'),
        ('M84.68XA', 'Pathological fracture in other disease, other site, initial encounter for fracture'),
    ),
    "VS-DX-NEOPLASM": (
        ('C79.51', 'Secondary malignant neoplasm of bone'),
        ('C79.52', 'Secondary malignant neoplasm of bone marrow'),
        ('C41.2', 'Malignant neoplasm of vertebral column'),
        ('C90.00', 'Multiple myeloma not having achieved remission'),
        ('C90.01', 'Multiple myeloma in remission'),
        ('C90.02', 'Multiple myeloma in relapse'),
        ('C90.30', 'Solitary plasmacytoma not having achieved remission'),
        ('C90.31', 'Solitary plasmacytoma in remission'),
        ('C90.32', 'Solitary plasmacytoma in relapse'),
        ('D18.00', 'Hemangioma unspecified site'),
        ('D18.09', 'Hemangioma of other sites'),
        ('D16.6', 'Benign neoplasm of vertebral column'),
        ('D48.0', 'Neoplasm of uncertain behavior of bone and articular cartilage'),
    ),
    "VS-DX-INFECTION-LOCAL": (
        ('M46.20', 'Osteomyelitis of vertebra, site unspecified'),
        ('M46.24', 'Osteomyelitis of vertebra, thoracic region'),
        ('M46.25', 'Osteomyelitis of vertebra, thoracolumbar region'),
        ('M46.26', 'Osteomyelitis of vertebra, lumbar region'),
        ('M46.27', 'Osteomyelitis of vertebra, lumbosacral region'),
        ('M46.30', 'Infection of intervertebral disc (pyogenic), site unspecified'),
        ('M46.34', 'Infection of intervertebral disc (pyogenic), thoracic region'),
        ('M46.35', 'Infection of intervertebral disc (pyogenic), thoracolumbar region'),
        ('M46.36', 'Infection of intervertebral disc (pyogenic), lumbar region'),
        ('M46.37', 'Infection of intervertebral disc (pyogenic), lumbosacral region'),
        ('M46.39', 'Infection of intervertebral disc (pyogenic), multiple sites in spine'),
        ('M46.40', 'Discitis, unspecified, site unspecified'),
        ('M46.44', 'Discitis, unspecified, thoracic region'),
        ('M46.45', 'Discitis, unspecified, thoracolumbar region'),
        ('M46.46', 'Discitis, unspecified, lumbar region'),
        ('M46.47', 'Discitis, unspecified, lumbosacral region'),
        ('M46.49', 'Discitis, unspecified, multiple sites in spine'),
        ('M46.50', 'Other infective spondylopathies, site unspecified'),
        ('M46.54', 'Other infective spondylopathies, thoracic region'),
        ('M46.55', 'Other infective spondylopathies, thoracolumbar region'),
        ('M46.56', 'Other infective spondylopathies, lumbar region'),
        ('M46.57', 'Other infective spondylopathies, lumbosacral region'),
        ('M46.59', 'Other infective spondylopathies, multiple sites in spine'),
        ('A18.01', 'Tuberculosis of spine'),
        ('G06.1', 'Intraspinal abscess and granuloma'),
        ('L03.312', 'Cellulitis of back [any part except buttock]'),
        ('L02.212', 'Cutaneous abscess of back [any part, except buttock and flank]'),
    ),
    "VS-DX-INFECTION-SYSTEMIC": (
        ('A40.0', 'Sepsis due to streptococcus, group A'),
        ('A40.1', 'Sepsis due to streptococcus, group B'),
        ('A40.3', 'Sepsis due to Streptococcus pneumoniae'),
        ('A40.8', 'Other streptococcal sepsis'),
        ('A40.9', 'Streptococcal sepsis, unspecified'),
        ('A41.01', 'Sepsis due to Methicillin susceptible Staphylococcus aureus'),
        ('A41.02', 'Sepsis due to Methicillin resistant Staphylococcus aureus'),
        ('A41.1', 'Sepsis due to other specified staphylococcus'),
        ('A41.2', 'Sepsis due to unspecified staphylococcus'),
        ('A41.3', 'Sepsis due to Hemophilus influenzae'),
        ('A41.4', 'Sepsis due to anaerobes'),
        ('A41.50', 'Gram-negative sepsis, unspecified'),
        ('A41.51', 'Sepsis due to Escherichia coli [E. coli]'),
        ('A41.52', 'Sepsis due to Pseudomonas'),
        ('A41.53', 'Sepsis due to Serratia'),
        ('A41.54', 'Sepsis due to Acinetobacter baumannii'),
        ('A41.59', 'Other Gram-negative sepsis'),
        ('A41.81', 'Sepsis due to Enterococcus'),
        ('A41.89', 'Other specified sepsis'),
        ('A41.9', 'Sepsis, unspecified organism'),
        ('R65.20', 'Severe sepsis without septic shock'),
        ('R65.21', 'Severe sepsis with septic shock'),
        ('R78.81', 'Bacteremia'),
    ),
    "VS-DX-COAG": (
        ('D65', 'Disseminated intravascular coagulation [defibrination syndrome]'),
        ('D66', 'Hereditary factor VIII deficiency'),
        ('D67', 'Hereditary factor IX deficiency'),
        ('D68.00', 'Von Willebrand disease, unspecified'),
        ('D68.01', 'Von Willebrand disease, type 1'),
        ('D68.020', 'Von Willebrand disease, type 2A'),
        ('D68.021', 'Von Willebrand disease, type 2B'),
        ('D68.022', 'Von Willebrand disease, type 2M'),
        ('D68.023', 'Von Willebrand disease, type 2N'),
        ('D68.029', 'Von Willebrand disease, type 2, unspecified'),
        ('D68.03', 'Von Willebrand disease, type 3'),
        ('D68.04', 'Acquired von Willebrand disease'),
        ('D68.09', 'Other von Willebrand disease'),
        ('D68.1', 'Hereditary factor XI deficiency'),
        ('D68.2', 'Hereditary deficiency of other clotting factors'),
        ('D68.311', 'Acquired hemophilia'),
        ('D68.312', 'Antiphospholipid antibody with hemorrhagic disorder'),
        ('D68.318', 'Other hemorrhagic disorder due to intrinsic circulating anticoagulants, antibodies, or inhibitors'),
        ('D68.32', 'Hemorrhagic disorder due to extrinsic circulating anticoagulants'),
        ('D68.4', 'Acquired coagulation factor deficiency'),
        ('D68.8', 'Other specified coagulation defects'),
        ('D68.9', 'Coagulation defect, unspecified'),
        ('D69.1', 'Qualitative platelet defects'),
        ('D69.3', 'Immune thrombocytopenic purpura'),
        ('D69.41', 'Evans syndrome'),
        ('D69.42', 'Congenital and hereditary thrombocytopenia purpura'),
        ('D69.49', 'Other primary thrombocytopenia'),
        ('D69.51', 'Posttransfusion purpura'),
        ('D69.59', 'Other secondary thrombocytopenia'),
        ('D69.6', 'Thrombocytopenia, unspecified'),
        ('D69.8', 'Other specified hemorrhagic conditions'),
        ('D69.9', 'Hemorrhagic condition, unspecified'),
    ),
    "VS-DX-NEURO": (
        ('G95.20', 'Unspecified cord compression'),
        ('G95.29', 'Other cord compression'),
        ('G83.4', 'Cauda equina syndrome'),
        ('M54.14', 'Radiculopathy, thoracic region'),
        ('M54.15', 'Radiculopathy, thoracolumbar region'),
        ('M54.16', 'Radiculopathy, lumbar region'),
        ('M54.17', 'Radiculopathy, lumbosacral region'),
    ),
    "VS-DX-SCOLIOSIS-KYPHOSIS": (
        ('M41.24', 'Other idiopathic scoliosis, thoracic region'),
        ('M41.26', 'Other idiopathic scoliosis, lumbar region'),
        ('M41.35', 'Thoracogenic scoliosis, thoracolumbar region'),
        ('M41.44', 'Neuromuscular scoliosis, thoracic region'),
        ('M41.84', 'Other forms of scoliosis, thoracic region'),
        ('M41.85', 'Other forms of scoliosis, thoracolumbar region'),
        ('M41.86', 'Other forms of scoliosis, lumbar region'),
        ('M41.9', 'Scoliosis, unspecified'),
        ('M40.204', 'Unspecified kyphosis, thoracic region'),
        ('M40.294', 'Other kyphosis, thoracic region'),
    ),
    "VS-DX-CONGENITAL-SPINE": (
        ('Q76.0', 'Spina bifida occulta'),
        ('Q76.1', 'Klippel-Feil syndrome'),
        ('Q76.2', 'Congenital spondylolisthesis'),
        ('Q76.3', 'Congenital scoliosis due to congenital bony malformation'),
        ('Q76.411', 'Congenital kyphosis, occipito-atlanto-axial region'),
        ('Q76.412', 'Congenital kyphosis, cervical region'),
        ('Q76.413', 'Congenital kyphosis, cervicothoracic region'),
        ('Q76.414', 'Congenital kyphosis, thoracic region'),
        ('Q76.415', 'Congenital kyphosis, thoracolumbar region'),
        ('Q76.419', 'Congenital kyphosis, unspecified region'),
        ('Q76.425', 'Congenital lordosis, thoracolumbar region'),
        ('Q76.426', 'Congenital lordosis, lumbar region'),
        ('Q76.427', 'Congenital lordosis, lumbosacral region'),
        ('Q76.428', 'Congenital lordosis, sacral and sacrococcygeal region'),
        ('Q76.429', 'Congenital lordosis, unspecified region'),
        ('Q76.49', 'Other congenital malformations of spine, not associated with scoliosis'),
        ('Q67.5', 'Congenital deformity of spine'),
    ),
    "VS-DX-OSTEOPOROSIS": (
        ('M81.0', 'Age-related osteoporosis without current pathological fracture'),
        ('M81.6', 'Localized osteoporosis [Lequesne]'),
        ('M81.8', 'Other osteoporosis without current pathological fracture'),
        ('M85.88', 'Other specified disorders of bone density and structure, other site'),
        ('M85.89', 'Other specified disorders of bone density and structure, multiple sites'),
        ('T38.0X5A', 'Adverse effect of glucocorticoids and synthetic analogues, initial encounter'),
        ('T38.0X5D', 'Adverse effect of glucocorticoids and synthetic analogues, subsequent encounter'),
        ('T38.0X5S', 'Adverse effect of glucocorticoids and synthetic analogues, sequela'),
        ('Z79.52', 'Long term (current) use of systemic steroids'),
        ('E24.2', "Drug-induced Cushing's syndrome"),
        ('Z87.310', 'Personal history of (healed) osteoporosis fracture'),
        ('Z87.311', 'Personal history of (healed) other pathological fracture'),
    ),
    "VS-DX-PREGNANCY": (
        ('Z33.1', 'Pregnant state, incidental'),
    ),
    "VS-DX-ALT-PAIN-GENERATOR": (
        ('M51.16', 'Intervertebral disc disorders with radiculopathy, lumbar region'),
        ('M51.17', 'Intervertebral disc disorders with radiculopathy, lumbosacral region'),
        ('M54.16', 'Radiculopathy, lumbar region'),
        ('M54.17', 'Radiculopathy, lumbosacral region'),
        ('M54.50', 'Low back pain, unspecified'),
        ('M54.59', 'Other low back pain'),
    ),
    "VS-DX-ANTITHROMBOTIC-STATUS": (
        ('Z79.01', 'Long term (current) use of anticoagulants'),
        ('Z79.02', 'Long term (current) use of antithrombotics/antiplatelets'),
        ('Z79.82', 'Long term (current) use of aspirin'),
    ),
    "VS-DX-ALLERGY-STATUS": (
        ('Z91.041', 'Radiographic dye allergy status'),
        ('Z91.048', 'Other nonmedicinal substance allergy status'),
        ('Z88.8', 'Allergy status to other drugs, medicaments and biological substances'),
    ),
}

# b.1 VS-DX-TRAUMA-FX: the tabular structure is regular, so the family is generated rather than listed
# (a list of 450 literals would hide a typo; the pattern is the spec's own definition).
_THORACIC_LEVEL_DIGITS = "012345678"  # 0 unspecified, 1-4 T1-T4, 5 T5-T6, 6 T7-T8, 7 T9-T10, 8 T11-T12
_LUMBAR_LEVEL_DIGITS = "012345"  # 0 unspecified, 1-5 L1-L5
_FRACTURE_TYPE_DIGITS = "01289"  # wedge, stable burst, unstable burst, other, unspecified
_SEVENTH_CHARACTERS = "ABDGKS"  # initial closed/open, routine/delayed healing, nonunion, sequela


def trauma_fracture_codes() -> tuple[str, ...]:
    """All S22.0- and S32.0- vertebral fracture codes of b.1 (9*5*6 thoracic + 6*5*6 lumbar = 450)."""
    codes = [
        f"{stem}{level}{kind}{seventh}"
        for stem, levels in (("S22.0", _THORACIC_LEVEL_DIGITS), ("S32.0", _LUMBAR_LEVEL_DIGITS))
        for level in levels
        for kind in _FRACTURE_TYPE_DIGITS
        for seventh in _SEVENTH_CHARACTERS
    ]
    return tuple(codes)


# b.2: SNOMED CT vertebra body sites, level label -> SCTID [V3].
VERTEBRA_SCTIDS: dict[str, str] = {
    "T1": "64864005", "T2": "53733008", "T3": "1626008", "T4": "73071006", "T5": "56401006",
    "T6": "45296009", "T7": "62487009", "T8": "11068009", "T9": "82687006", "T10": "7610001",
    "T11": "12989004", "T12": "23215003", "L1": "66794005", "L2": "14293000", "L3": "36470004",
    "L4": "11994002", "L5": "49668003",
}

# b.7: local findings codes (no standard code found); the system is the `local` alias.
LOCAL_FINDING_CODES: dict[str, str] = {
    "vb-height-loss-anterior-pct": "Anterior vertebral-body height loss vs reference height",
    "vb-height-loss-middle-pct": "Middle vertebral-body height loss",
    "vb-height-loss-posterior-pct": "Posterior vertebral-body height loss",
    "vb-height-loss-max-pct": "Vertebral body height loss, maximum",
    "genant-grade": "Genant SQ grade",
    "kyphotic-deformity": "Kyphotic deformity present",
    "local-kyphotic-angle": "Local (segmental) kyphotic angle of the fractured segment",
    "cobb-angle-scoliosis": "Coronal Cobb angle of the scoliotic curve",
    "height-loss-progression": "Progression of height loss vs prior imaging",
    "posterior-wall-involvement": "Posterior-wall involvement",
    "canal-compromise-pct": "Canal encroachment",
    "cortical-shell-intact": "Residual cortical shell present",
    "marrow-edema": "MRI bone-marrow edema at level",
    "bone-scan-uptake": "Increased uptake on bone scan / SPECT(-CT)",
    "intravertebral-cleft": "Intravertebral cleft (Kummell) present",
    "fracture-onset": "Symptom onset for this level",
    "ao-tl-morphology": "AO Spine TL morphology type",
    "ao-neuro-modifier": "AO Spine neurology modifier",
    "dgou-of-class": "DGOU OF classification",
    "of-score": "DGOU OF score",
    "sins-total": "Spinal Instability Neoplastic Score",
    "lesion-type": "Lesion type (lytic / mixed / blastic / aggressive hemangioma)",
    "epidural-extension": "Epidural tumor extension",
    "pedicle-access-feasible": "Safe transpedicular access",
    "pain-concordant-with-level": "Pain concordant with level",
    "pain-trajectory": "Pain trajectory (clinician)",
    "rdq-total": "Roland-Morris Disability Questionnaire total",
    "odi-total": "Oswestry Disability Index",
    "nsm-trial": "Non-surgical management trial",
    "needs-decompression": "Neural compression requires decompression (surgeon judgment)",
    "coagulopathy-corrected": "Bleeding disorder corrected for procedure",
}


def _icd(vs_id: str) -> dict[str, Any]:
    rows = ICD10CM_TABLES[vs_id]
    return {"codes": [f"icd10cm|{code}" for code, _ in rows], "displays": {code: display for code, display in rows}}


def _vs(title: str, evidence: str, codes: list[str], filters: list[str] | None = None,
        displays: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"title": title, "evidence": evidence, "codes": codes, "filters": filters or [],
            "displays": displays or {}, **extra}


def _with_icd(vs_id: str, title: str, evidence: str, extra_codes: list[str] | None = None,
              filters: list[str] | None = None, extra_displays: dict[str, str] | None = None) -> dict[str, Any]:
    base = _icd(vs_id)
    return _vs(title, evidence, base["codes"] + (extra_codes or []), filters,
               {**base["displays"], **(extra_displays or {})})


def default_valuesets() -> dict[str, dict[str, Any]]:
    """Every code list of spec part b, as raw dicts the typed model validates (fresh copy per call)."""
    vs: dict[str, dict[str, Any]] = {}
    # b.1 ICD-10-CM (SNOMED equivalents of b.3 added where the concept is the same [V3]).
    vs["VS-DX-OVCF"] = _with_icd("VS-DX-OVCF", "Osteoporotic pathological vertebral fracture",
                                 "[V] ICD-10-CM Apr-2026 tabular; LCD Group 1 [V3]",
                                 ["snomed|443165006"], extra_displays={"443165006": "Osteoporotic fracture of bone"})
    vs["VS-DX-COLLAPSE-NEC"] = _with_icd("VS-DX-COLLAPSE-NEC", "Collapsed vertebra NEC (etiology unspecified)",
                                         "[V] ICD-10-CM Apr-2026 tabular", ["snomed|42942008"],
                                         filters=["icd10cm|M48.5*"],
                                         extra_displays={"42942008": "Compression fracture of vertebral column"})
    vs["VS-DX-MALIG-FX"] = _with_icd("VS-DX-MALIG-FX", "Pathological fracture in neoplastic disease (+ related)",
                                     "[V] ICD-10-CM Apr-2026 tabular; LCD Group 2 [V3]")
    vs["VS-DX-MALIG-FX-PAIR"] = _vs("Billing pair for neoplastic fracture (Group 2: M84.58XA / M84.58XS)",
                                    "[V3] Noridian JF billing article R3",
                                    ["icd10cm|M84.58XA", "icd10cm|M84.58XS"])
    vs["VS-DX-NEOPLASM"] = _with_icd("VS-DX-NEOPLASM", "Vertebral/bone neoplasm, myeloma, hemangioma",
                                     "[V] ICD-10-CM Apr-2026 tabular; LCD Group 2 [V3]",
                                     ["snomed|94222008", "snomed|109989006"],
                                     extra_displays={"94222008": "Secondary malignant neoplasm of bone",
                                                     "109989006": "Multiple myeloma"})
    vs["VS-DX-NEOPLASM-MALIGNANT"] = _vs(
        "Malignant pathway neoplasms (C79.51/C79.52/C41.2/C90.*)", "[V3] LCD Group 2; spec a.6",
        ["icd10cm|C79.51", "icd10cm|C79.52", "icd10cm|C41.2", "snomed|94222008", "snomed|109989006"],
        ["icd10cm|C90.*"])
    vs["VS-DX-HEMANGIOMA"] = _vs("Hemangioma (D18.0*)", "[M] vertebral hemangioma coded D18.09; spec a.6",
                                 [], ["icd10cm|D18.0*"])
    vs["VS-DX-TRAUMA-FX"] = _vs("Traumatic thoracic (S22.0-) and lumbar (S32.0-) vertebral fractures",
                                "[V] ICD-10-CM Apr-2026 tabular (generated from the b.1 pattern)",
                                [f"icd10cm|{code}" for code in trauma_fracture_codes()],
                                ["icd10cm|S22.0*", "icd10cm|S32.0*"])
    vs["VS-DX-INFECTION-LOCAL"] = _with_icd("VS-DX-INFECTION-LOCAL", "Spinal / entry-site infection (CI-A2)",
                                            "[V] ICD-10-CM Apr-2026 tabular; LCD [V3]",
                                            filters=["icd10cm|M46.2*", "icd10cm|M46.3*", "icd10cm|M46.4*",
                                                     "icd10cm|M46.5*"])
    vs["VS-DX-INFECTION-SYSTEMIC"] = _with_icd("VS-DX-INFECTION-SYSTEMIC", "Systemic infection (CI-A1)",
                                               "[V] ICD-10-CM Apr-2026 tabular; LCD [V3]", ["snomed|91302008"],
                                               filters=["icd10cm|A40.*", "icd10cm|A41.*", "icd10cm|R65.2*"],
                                               extra_displays={"91302008": "Sepsis"})
    vs["VS-DX-COAG"] = _with_icd("VS-DX-COAG", "Coagulation defects and thrombocytopenia (CI-A5 input)",
                                 "[V] ICD-10-CM Apr-2026 tabular; thrombophilias D68.5x/D68.6x excluded",
                                 ["snomed|302215000", "snomed|64779008"],
                                 extra_displays={"302215000": "Thrombocytopenic disorder",
                                                 "64779008": "Blood coagulation disorder"})
    vs["VS-DX-NEURO"] = _with_icd("VS-DX-NEURO", "Neural compromise (CI-A6 / CI-R8)",
                                  "[V] ICD-10-CM Apr-2026 tabular", ["snomed|71286001"],
                                  filters=["icd10cm|G95.2*", "icd10cm|M54.1*"],
                                  extra_displays={"71286001": "Spinal cord compression"})
    vs["VS-DX-CORD-COMPRESSION"] = _vs("Cord compression / cauda equina (CI-A6)", "[V] ICD-10-CM; [SEED] absolute",
                                       ["icd10cm|G95.20", "icd10cm|G95.29", "icd10cm|G83.4", "snomed|71286001"],
                                       ["icd10cm|G95.2*"])
    vs["VS-DX-RADICULOPATHY"] = _vs("Radiculopathy, region-matched (CI-R8)", "[V3] LCD neural impingement",
                                    ["icd10cm|M54.14", "icd10cm|M54.15", "icd10cm|M54.16", "icd10cm|M54.17"],
                                    ["icd10cm|M54.1*"])
    vs["VS-DX-SCOLIOSIS-KYPHOSIS"] = _with_icd("VS-DX-SCOLIOSIS-KYPHOSIS", "Scoliosis / kyphosis (CI-R6)",
                                               "[V] ICD-10-CM Apr-2026 tabular",
                                               ["snomed|298382003", "snomed|414564002"],
                                               filters=["icd10cm|M41.*", "icd10cm|M40.*"],
                                               extra_displays={"298382003": "Scoliosis deformity of spine",
                                                               "414564002": "Kyphosis deformity of spine"})
    vs["VS-DX-CONGENITAL-SPINE"] = _with_icd("VS-DX-CONGENITAL-SPINE", "Congenital spine malformation (CI-R6)",
                                             "[V] ICD-10-CM Apr-2026 tabular; Q76.5-Q76.9 excluded",
                                             filters=["icd10cm|Q76.4*"])
    vs["VS-DX-OSTEOPOROSIS"] = _with_icd("VS-DX-OSTEOPOROSIS", "Osteoporosis and drug-induced bone loss (GIOP)",
                                         "[V] ICD-10-CM Apr-2026 tabular; osteopenia M85.8- [M]", ["snomed|64859006"],
                                         filters=["icd10cm|M81.*"], extra_displays={"64859006": "Osteoporosis"})
    vs["VS-DX-PREGNANCY"] = _with_icd("VS-DX-PREGNANCY", "Pregnancy (CI-A3)", "[V] ICD-10-CM; LCD absolute [V3]",
                                      filters=["icd10cm|O*"])
    vs["VS-DX-ANTITHROMBOTIC-STATUS"] = _with_icd("VS-DX-ANTITHROMBOTIC-STATUS", "Long-term antithrombotic use",
                                                  "[V] ICD-10-CM Apr-2026 tabular")
    vs["VS-DX-ALLERGY-STATUS"] = _with_icd("VS-DX-ALLERGY-STATUS", "Contrast / cement allergy status (CI-R2)",
                                           "[V] ICD-10-CM; Z91.048 for PMMA is [DESIGN]")
    vs["VS-DX-ALT-PAIN-GENERATOR"] = _with_icd("VS-DX-ALT-PAIN-GENERATOR", "Alternative pain generator (CI-A4)",
                                               "[M]/[DESIGN] heuristic",
                                               filters=["icd10cm|M51.1*", "icd10cm|M54.1*", "icd10cm|M48.0*"])
    # b.2 SNOMED vertebrae.
    vs["VS-BODYSITE-VERTEBRA"] = _vs(
        "Vertebral body sites T1-L5 (bodySite)", "[V3] DICOM/TotalSegmentator maps, Verhoeff check digit",
        [f"snomed|{sctid}" for sctid in VERTEBRA_SCTIDS.values()], [],
        {sctid: f"Bone structure of {level}" for level, sctid in VERTEBRA_SCTIDS.items()},
        levels={sctid: level for level, sctid in VERTEBRA_SCTIDS.items()})
    # b.3 SNOMED qualifier values.
    vs["VS-VAL-PREGNANT"] = _vs("Pregnant (value of LOINC 82810-3)", "[V3] public-health FHIR value set",
                                ["snomed|77386006"], displays={"77386006": "Pregnant"})
    vs["VS-VAL-NOT-PREGNANT"] = _vs("Not pregnant (value of LOINC 82810-3)", "[V3] public-health FHIR value set",
                                    ["snomed|60001007"], displays={"60001007": "Not pregnant"})
    vs["VS-VAL-PRESENT"] = _vs("Present (qualifier for local findings)", "[M] + check digit",
                               ["snomed|52101004"], displays={"52101004": "Present"})
    vs["VS-VAL-ABSENT"] = _vs("Absent (qualifier for local findings)", "[M] + check digit",
                              ["snomed|2667000"], displays={"2667000": "Absent"})
    # b.4 LOINC groups [V3] (Mod-10 check digits pass; validated again by the model).
    loinc_groups: list[tuple[str, str, dict[str, str], str]] = [
        ("VS-OBS-PAIN", "Pain score (NRS/VAS)", {"72514-3": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                                                 "38208-5": "Pain severity - Reported",
                                                 "38214-3": "Pain severity [Score] Visual analog score"}, "[V3]"),
        ("VS-LAB-INR", "INR", {"6301-6": "INR in Platelet poor plasma by Coagulation assay",
                               "34714-6": "INR in Blood by Coagulation assay",
                               "46418-0": "INR in Capillary blood by Coagulation assay"}, "[V3]"),
        ("VS-LAB-PT", "Prothrombin time", {"5902-2": "Prothrombin time (PT)"}, "[V3]"),
        ("VS-LAB-PLATELETS", "Platelets", {"777-3": "Platelets [#/volume] in Blood by Automated count",
                                           "26515-7": "Platelets [#/volume] in Blood"}, "[V3]"),
        ("VS-LAB-APTT", "aPTT (informational only, P14)", {"14979-9": "aPTT in Platelet poor plasma by Coagulation assay",
                                                           "3173-2": "aPTT in Blood by Coagulation assay"}, "[V3]"),
        ("VS-LAB-FIBRINOGEN", "Fibrinogen", {"3255-7": "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay"}, "[V3]"),
        ("VS-LAB-WBC", "Leukocytes", {"6690-2": "Leukocytes [#/volume] in Blood by Automated count",
                                      "26464-8": "Leukocytes [#/volume] in Blood"}, "[V3]"),
        ("VS-LAB-CRP", "C reactive protein", {"1988-5": "C reactive protein [Mass/volume] in Serum or Plasma",
                                              "30522-7": "C reactive protein [Mass/volume] in Serum or Plasma by High sensitivity method"}, "[V3]"),
        ("VS-LAB-ESR", "Erythrocyte sedimentation rate", {"4537-7": "Erythrocyte sedimentation rate by Westergren method",
                                                          "30341-2": "Erythrocyte sedimentation rate"}, "[V3]"),
        ("VS-OBS-TEMPERATURE", "Body temperature", {"8310-5": "Body temperature"}, "[V3]"),
        ("VS-OBS-DXA-TSCORE", "DXA T-score", {"38267-1": "DXA Lumbar spine [T-score] Bone density",
                                              "38263-0": "DXA Femur [T-score] Bone density",
                                              "38264-8": "DXA Hip [T-score] Bone density",
                                              "80948-3": "DXA Femur - left [T-score] Bone density",
                                              "80947-5": "DXA Femur - right [T-score] Bone density",
                                              "80946-7": "DXA Hip - left [T-score] Bone density",
                                              "80945-9": "DXA Hip - right [T-score] Bone density",
                                              "38265-5": "DXA Radius and Ulna [T-score] Bone density"}, "[V3]"),
        ("VS-OBS-PREGNANCY-STATUS", "Pregnancy status", {"82810-3": "Pregnancy status"}, "[V3]"),
        ("VS-LAB-HCG", "hCG pregnancy test", {"2106-3": "Choriogonadotropin (pregnancy test) [Presence] in Urine",
                                              "2118-8": "Choriogonadotropin (pregnancy test) [Presence] in Serum or Plasma"}, "[V3]"),
        ("VS-OBS-ECOG", "ECOG performance status", {"89247-1": "ECOG Performance Status score"}, "[M] + check digit"),
    ]
    for vs_id, title, codes, label in loinc_groups:
        vs[vs_id] = _vs(title, f"{label} LOINC (b.4)", [f"loinc|{c}" for c in codes], [], dict(codes))
    # b.5 procedures.
    proc_displays = {
        "22510": "Percutaneous vertebroplasty, 1 vertebral body; cervicothoracic",
        "22511": "Percutaneous vertebroplasty, 1 vertebral body; lumbosacral",
        "22512": "Percutaneous vertebroplasty, each additional vertebral body (add-on)",
        "22513": "Percutaneous vertebral augmentation (mechanical device), 1 vertebral body; thoracic",
        "22514": "Percutaneous vertebral augmentation (mechanical device), 1 vertebral body; lumbar",
        "22515": "Percutaneous vertebral augmentation, each additional vertebral body (add-on)",
        "C1062": "Intravertebral body fracture augmentation with implant",
        "XNU4356": "Supplement thoracic vertebra with mechanically expandable (paired) synthetic substitute, percutaneous",
        "XNU0356": "Supplement lumbar vertebra with mechanically expandable (paired) synthetic substitute, percutaneous",
        "0PU43JZ": "Supplement Thoracic Vertebra with Synthetic Substitute, Percutaneous Approach",
        "0QU03JZ": "Supplement Lumbar Vertebra with Synthetic Substitute, Percutaneous Approach",
    }
    vs["VS-PROC-VA"] = _vs(
        "Vertebral augmentation procedures (trigger, prior augmentation)",
        "[V3] CPT/HCPCS; [V] ICD-10-PCS index; SNOMED procedure codes unverified and left out (b.3)",
        ["cpt|22510", "cpt|22511", "cpt|22512", "cpt|22513", "cpt|22514", "cpt|22515", "hcpcs|C1062",
         "icd10pcs|XNU4356", "icd10pcs|XNU0356", "icd10pcs|0PU43JZ", "icd10pcs|0QU03JZ"], [], proc_displays)
    vs["VS-PROC-VP"] = _vs("Vertebroplasty codes (requested technique VP)", "[V3] CPT",
                           ["cpt|22510", "cpt|22511", "cpt|22512"], [],
                           {c: proc_displays[c] for c in ("22510", "22511", "22512")})
    vs["VS-PROC-AUGMENTATION"] = _vs("Mechanical augmentation codes (BKP or SpineJack)", "[V3] CPT",
                                     ["cpt|22513", "cpt|22514", "cpt|22515"], [],
                                     {c: proc_displays[c] for c in ("22513", "22514", "22515")})
    vs["VS-PROC-SPINEJACK"] = _vs("Codes that identify SpineJack (device hint)", "[V3] HCPCS C1062; [V] PCS index XNU*356",
                                  ["hcpcs|C1062", "icd10pcs|XNU4356", "icd10pcs|XNU0356"], [],
                                  {c: proc_displays[c] for c in ("C1062", "XNU4356", "XNU0356")})
    vs["VS-PROC-VA-REDUCTION"] = _vs("Reposition (fracture reduction) codes sometimes added with BKP",
                                     "[V] titles; usage [M]", ["icd10pcs|0PS43ZZ", "icd10pcs|0QS03ZZ"], [],
                                     {"0PS43ZZ": "Reposition Thoracic Vertebra, Percutaneous Approach",
                                      "0QS03ZZ": "Reposition Lumbar Vertebra, Percutaneous Approach"})
    vs["VS-ORDER-MRI"] = _vs("MRI thoracic / lumbar spine without contrast (suggestion)", "[M] CPT",
                             ["cpt|72146", "cpt|72148"], [],
                             {"72146": "MRI thoracic spine without contrast", "72148": "MRI lumbar spine without contrast"})
    vs["VS-ORDER-DXA"] = _vs("DXA axial (suggestion)", "[M] CPT", ["cpt|77080"], [], {"77080": "DXA axial"})
    vs["VS-ORDER-COAG-LABS"] = _vs("PT/INR and CBC orders (suggestion)", "[DESIGN] LOINC order codes",
                                   ["loinc|5902-2", "loinc|6301-6", "loinc|58410-2"], [],
                                   {"5902-2": "Prothrombin time (PT)",
                                    "6301-6": "INR in Platelet poor plasma by Coagulation assay",
                                    "58410-2": "CBC panel - Blood by Automated count"})
    # b.6 RxNorm ingredients.
    anticoag = {"11289": "warfarin", "5224": "heparin", "67108": "enoxaparin", "67109": "dalteparin",
                "69646": "tinzaparin", "321208": "fondaparinux", "1364430": "apixaban", "1114195": "rivaroxaban",
                "1599538": "edoxaban", "1546356": "dabigatran", "1037042": "dabigatran etexilate",
                "1927851": "betrixaban", "15202": "argatroban", "60819": "bivalirudin", "114934": "desirudin"}
    antiplt = {"1191": "aspirin", "32968": "clopidogrel", "613391": "prasugrel", "1116632": "ticagrelor",
               "21107": "cilostazol", "3521": "dipyridamole", "10594": "ticlopidine", "1537034": "vorapaxar",
               "1656052": "cangrelor"}
    steroids = {"8640": "prednisone", "8638": "prednisolone", "6902": "methylprednisolone", "3264": "dexamethasone",
                "5492": "hydrocortisone", "2878": "cortisone", "1514": "betamethasone", "10759": "triamcinolone",
                "19831": "budesonide"}
    vs["VS-RX-ANTICOAG"] = _vs("Anticoagulant ingredients", "[V3] mostly; dabigatran IN [M]; run RxNav check",
                               [f"rxnorm|{c}" for c in anticoag], [], anticoag)
    vs["VS-RX-ANTIPLT"] = _vs("Antiplatelet ingredients", "[V3] aspirin..ticagrelor; others [M]",
                              [f"rxnorm|{c}" for c in antiplt], [], antiplt)
    vs["VS-RX-SYSTEMIC-GLUCOCORTICOID"] = _vs("Systemic glucocorticoid ingredients (GIOP context)",
                                              "[M] mostly; deflazacort not verified (left out)",
                                              [f"rxnorm|{c}" for c in steroids], [], steroids)
    # b.7 local findings and substances; a.2 I2 care setting.
    vs["VS-LOCAL-FINDINGS"] = _vs("Local findings without a standard code (b.7)", "[DESIGN] local CodeSystem",
                                  [f"local|{c}" for c in LOCAL_FINDING_CODES], [], dict(LOCAL_FINDING_CODES))
    vs["VS-SUBSTANCE-PMMA"] = _vs("PMMA bone cement (allergy substance)", "[DESIGN] no verified SNOMED/RxNorm code",
                                  ["local|pmma-bone-cement"], [], {"pmma-bone-cement": "Polymethylmethacrylate bone cement"})
    vs["VS-SUBSTANCE-CONTRAST"] = _vs("Iodinated contrast (allergy substance)", "[DESIGN] local code",
                                      ["local|iodinated-contrast"], [], {"iodinated-contrast": "Iodinated contrast media"})
    vs["VS-ENC-INPATIENT"] = _vs("Hospitalized encounter classes (I2)", "[DESIGN] v3 ActCode; EMER counts only with admit",
                                 ["actcode|IMP", "actcode|ACUTE"], [], {"IMP": "inpatient encounter", "ACUTE": "inpatient acute"})
    return vs
