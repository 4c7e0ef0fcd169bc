"""Admin layer: the typed service configuration (thresholds, profiles, value sets, rules, cards, security) and its loading/validation."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from cds_service.admin.default_valuesets import default_valuesets

# ---------------------------------------------------------------------------------------------------------------
# Errors


class ConfigError(ValueError):
    """A configuration was refused; `errors` lists every problem as (dotted.key.path, reason)."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        lines = "; ".join(f"{key}: {reason}" for key, reason in self.errors)
        super().__init__(f"invalid configuration ({len(self.errors)} error(s)): {lines}")


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary shared by the model and its validators

LEVELS: tuple[str, ...] = (
    tuple(f"C{i}" for i in range(1, 8)) + tuple(f"T{i}" for i in range(1, 13))
    + tuple(f"L{i}" for i in range(1, 6)) + tuple(f"S{i}" for i in range(1, 6))
)
LEVEL_INDEX: dict[str, int] = {label: i for i, label in enumerate(LEVELS)}

RULE_IDS: tuple[str, ...] = (
    "CI-A1", "CI-A2", "CI-A3", "CI-A4", "CI-A5", "CI-A6", "CI-A7", "CI-A8",
    "CI-R1", "CI-R2", "CI-R3", "CI-R4", "CI-R5", "CI-R6", "CI-R7", "CI-R8", "CI-R9", "CI-R10",
    "IND-OP", "IND-MAL", "IND-TR", "IND-HEM", "IND-PROPH", "IND-RANGE",
    "COV-TRAUMATIC", "COV-HEMANGIOMA",
    "DOC-BMD", "DOC-CODING", "DOC-ADJACENT", "DOC-REFRACTURE", "DOC-UPPER-THORACIC", "CPT-MISMATCH",
)
CARD_IDS: tuple[str, ...] = ("C-CI-ABS", "C-CI-REL", "C-IND-NOTMET", "C-IND-MET", "C-TECH", "C-MISSING",
                             "C-COVERAGE", "C-DOC")

DEFAULT_CODESYSTEMS: dict[str, str] = {
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "icd10pcs": "http://www.cms.gov/Medicare/Coding/ICD10",
    "snomed": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "cpt": "http://www.ama-assn.org/go/cpt",
    "hcpcs": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "ucum": "http://unitsofmeasure.org",
    "actcode": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    # b.7 placeholder: every site replaces it with its own CodeSystem URI.
    "local": "http://example.org/fhir/CodeSystem/vertebral-augmentation",
}
VALUESET_URL_BASE = "http://example.org/fhir/ValueSet/"
_ICD10CM_URI = DEFAULT_CODESYSTEMS["icd10cm"]

_ALIAS = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_URI = re.compile(r"^(https?://[^\s|]+|urn:(oid|uuid):[^\s|]+)$")
# Per-system code shapes: a malformed code is a typo that would silently never match.
_CODE_SHAPES: dict[str, re.Pattern[str]] = {
    "icd10cm": re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"),
    "icd10pcs": re.compile(r"^[0-9A-HJ-NP-Z]{7}$"),
    "snomed": re.compile(r"^[1-9][0-9]{5,17}$"),
    "loinc": re.compile(r"^[0-9]{1,7}-[0-9]$"),
    "rxnorm": re.compile(r"^[1-9][0-9]{0,9}$"),
    "cpt": re.compile(r"^[0-9]{4}[0-9FTU]$"),
    "hcpcs": re.compile(r"^[A-V][0-9]{4}$"),
    "actcode": re.compile(r"^[A-Z_]{2,}$"),
}
_ICD10CM_FILTER = re.compile(r"^[A-TV-Z]([0-9]([0-9A-Z](\.[0-9A-Z]{0,3})?)?)?\*$")
_GENERIC_CODE = re.compile(r"^\S{1,64}$")
_LOCAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VS_ID = re.compile(r"^VS-[A-Z0-9]+(-[A-Z0-9]+)*$")
_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_INGREDIENT = re.compile(r"^[a-z][a-z -]{1,40}$")

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_ok(number: str) -> bool:
    """SNOMED CT identifiers end in a Verhoeff check digit (spec b.0): catches most typos."""
    check = 0
    for i, ch in enumerate(reversed(number)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(ch)]]
    return check == 0


def loinc_check_ok(code: str) -> bool:
    """LOINC codes end in a Mod-10 check digit (spec b.0)."""
    body, _, check = code.partition("-")
    total = 0
    for i, ch in enumerate(reversed(body)):
        digit = int(ch)
        if i % 2 == 0:
            digit *= 2
            digit = digit // 10 + digit % 10
        total += digit
    return (10 - total % 10) % 10 == int(check)


def _normalise_icd(code: str) -> str:
    # EHRs send ICD-10-CM with or without the dot; membership must not depend on it.
    return code.replace(".", "").upper()


class _Strict(BaseModel):
    # strict: a TOML string where a number belongs ("1.8"), or "no" for a boolean, is a typo to refuse.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, strict=True)


def _to_decimal(value: Any) -> Any:
    # TOML and JSON carry decimals as floats; the engine wants exact Decimals (1.8 must stay 1.8).
    if isinstance(value, bool):
        raise ValueError("Input should be a number")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if isinstance(value, Decimal):
        return value
    raise ValueError("Input should be a number")


Num = Annotated[Decimal, BeforeValidator(_to_decimal)]


# ---------------------------------------------------------------------------------------------------------------
# Clinical parameters (spec a.2 / a.3)

Level = Annotated[str, Field(pattern=r"^(C[1-7]|T([1-9]|1[0-2])|L[1-5]|S[1-5])$")]

_DEFAULT_HOLD_DAYS: dict[str, float] = {
    "warfarin": 5, "apixaban": 3, "rivaroxaban": 3, "edoxaban": 3, "dabigatran": 5, "clopidogrel": 7,
    "prasugrel": 10, "ticagrelor": 5, "cilostazol": 2, "aspirin": 6, "enoxaparin": 1, "dalteparin": 1,
    "tinzaparin": 1, "fondaparinux": 4,
}


def _num(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def profile_cross_checks(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Relations between thresholds (field, reason); tolerant of raw input so every error is reported at once."""
    problems: list[tuple[str, str]] = []
    for name in ("eligible_levels", "spinejack_levels"):
        pair = params.get(name)
        if isinstance(pair, list) and len(pair) == 2 and all(p in LEVEL_INDEX for p in pair):
            if LEVEL_INDEX[pair[0]] > LEVEL_INDEX[pair[1]]:
                problems.append((name, f"first level {pair[0]} is below last level {pair[1]}"))
    relations = (
        ("inr_hard_stop", "inr_warning", "gt", "must be greater than inr_warning"),
        ("subacute_max_days", "acute_max_days", "gt", "must be greater than acute_max_days"),
        ("sins_surgical_min", "sins_review_min", "gt", "must be greater than sins_review_min"),
        ("pregnancy_age_max", "pregnancy_age_min", "ge", "must not be below pregnancy_age_min"),
        ("lab_freshness_days", "lab_freshness_high_risk_days", "ge", "must not be below lab_freshness_high_risk_days"),
    )
    for field, other, op, reason in relations:
        a, b = _num(params.get(field)), _num(params.get(other))
        if a is None or b is None:
            continue
        if (op == "gt" and not a > b) or (op == "ge" and not a >= b):
            problems.append((field, f"{reason} ({params.get(other)})"))
    return problems


class ProfileParams(_Strict):
    """Every threshold of spec a.3 (and the freshness windows of a.2) for one payer profile."""

    description: str = Field(default="", description="Free text shown on the admin page: what this profile is for.")
    eligible_levels: list[Level] = Field(
        default_factory=lambda: ["T1", "L5"], min_length=2, max_length=2,
        description="P1: first and last vertebral level covered (inclusive). LCD T1-L5 [V3]; eviCore T5-L5 [V3].")
    spinejack_levels: list[Level] = Field(
        default_factory=lambda: ["T7", "L5"], min_length=2, max_length=2,
        description="P2: first and last level where SpineJack is ranked. [SEED]; SAKOS enrolled T7-L4 [V].")
    acute_max_days: int = Field(
        default=41, ge=0, le=365,
        description="P3: a fracture is acute while days since onset <= this (acute < 42 d). LCD < 6 weeks [V3]; "
                    "day boundary [DESIGN].")
    subacute_max_days: int = Field(
        default=84, ge=0, le=730,
        description="P3: subacute while days since onset <= this (84 inclusive); older is chronic. LCD 6-12 weeks "
                    "[V3]; boundary [DESIGN].")
    inpatient_pain_min: int = Field(default=8, ge=0, le=10, description="P5: hospitalized NRS/VAS at least this. LCD [V3].")
    outpatient_pain_min: int = Field(
        default=5, ge=0, le=10, description="P6: NRS/VAS at least this despite optimal NSM. LCD [V3]; CCP entry VAS >= 5 [V3].")
    nsm_min_days: int = Field(
        default=0, ge=0, le=365,
        description="P7: minimum days of documented non-surgical management before augmentation (0 = documented, "
                    "started before today). LCD none [V3]; commercial-6wk 42 (BCBS) [V3]; eviCore 28 [V3].")
    nsm_exercise_min_days: int = Field(
        default=0, ge=0, le=365,
        description="P7: minimum days of directed exercise / PT inside NSM (0 = not required). eviCore 28 [V3].")
    worsening_delta: int = Field(
        default=1, ge=0, le=10,
        description="P8: latest NRS >= earliest NRS in the NSM window + this counts as worsening. [DESIGN].")
    worsening_min_interval_days: int = Field(
        default=7, ge=0, le=365, description="P8: the two pain values must be at least this many days apart. [DESIGN].")
    height_loss_secondary_pct: float = Field(
        default=25, ge=0, le=100, description="P9: height loss strictly greater than this % is a secondary criterion. LCD [V3].")
    kyphotic_angle_fallback_deg: float = Field(
        default=15, ge=0, le=90,
        description="P9: local kyphotic angle >= this counts as kyphotic deformity when not asserted. [DESIGN] "
                    "(FRACTURE SCOUT >= 15 % kyphosis, loosely).")
    rdq_secondary_min: int = Field(
        default=17, ge=0, le=24, description="P9: RDQ strictly greater than this is a secondary criterion. LCD [V3].")
    secondary_criteria_needed: int = Field(
        default=2, ge=1, le=4, description="P9: number of secondary criteria needed on the stable-pain path. LCD [V3].")
    max_levels_per_session: int = Field(
        default=3, ge=1, le=17, description="P10: more levels than this in one session is CI-R1. LCD 3 [V3]; eviCore 2 [V3].")
    inr_hard_stop: Num = Field(
        default=Decimal("1.8"), gt=0, le=10,
        description="P11: INR strictly greater than this is CI-A5 (critical, until corrected). SIR 2019 [V3].")
    inr_warning: Num = Field(
        default=Decimal("1.5"), gt=0, le=10,
        description="P12: INR strictly greater than this (and <= hard stop) is CI-R3 warning. SIR 2019 range [V3]; "
                    "lower bound [DESIGN].")
    platelets_hard_stop: Num = Field(
        default=Decimal("50"), gt=0, le=1000,
        description="P13: platelets strictly less than this (10^9/L) is CI-A5. SIR 2019 [V3].")
    antithrombotic_hold_days: dict[str, float] = Field(
        default_factory=lambda: dict(_DEFAULT_HOLD_DAYS),
        description="P15: days to hold each antithrombotic ingredient before the procedure (LMWH therapeutic 1 d, "
                    "fractions allowed). ASRA 2018 table of spec 1.7 [M], verify; prasugrel 10 and dabigatran 5 take "
                    "the conservative end of the range [DESIGN].")
    fever_min_c: Num = Field(
        default=Decimal("38.0"), ge=35, le=43, description="P16: temperature >= this (Cel) is an infection soft signal. [DESIGN].")
    wbc_max: Num = Field(
        default=Decimal("11"), gt=0, le=100, description="P16: WBC strictly greater than this (10^9/L) is a soft signal. [DESIGN].")
    crp_max_mg_l: Num = Field(
        default=Decimal("10"), gt=0, le=1000, description="P16: CRP strictly greater than this (mg/L) is a soft signal. [DESIGN].")
    sins_review_min: int = Field(
        default=7, ge=0, le=18, description="P17: SINS at least this -> spine surgery review (CI-R9). SINS [V].")
    sins_surgical_min: int = Field(
        default=13, ge=0, le=18, description="P17: SINS at least this -> surgical consultation first (CI-R10). SINS [V].")
    extreme_collapse_pct: float = Field(
        default=90, ge=0, le=100,
        description="P18: height loss strictly greater than this with no cortical shell is CI-A7. [SEED]; weak.")
    reduction_target_pct: float = Field(
        default=25, ge=0, le=100,
        description="P19: height loss >= this is a reduction target (technique ranking). SAKOS pilot 15-40 % [V3]; "
                    "[DESIGN].")
    bmd_recency_months: int = Field(
        default=24, ge=0, le=120, description="P20: a DXA T-score within this many months satisfies BMD follow-up. [DESIGN].")
    pain_freshness_days: int = Field(default=7, ge=0, le=365, description="P21 / a.2 I6: latest pain score age limit. [DESIGN].")
    malignant_pain_min: int = Field(
        default=5, ge=0, le=10, description="P22: NRS at least this on the malignant pathway. LCD 'intractable' [V3]; [DESIGN].")
    imaging_freshness_days: int = Field(
        default=90, ge=0, le=3650, description="a.2 I4/I5: acuity imaging and morphology age limit. [DESIGN].")
    lab_freshness_days: int = Field(default=30, ge=0, le=365, description="a.2 I11: INR/platelets age limit. [DESIGN].")
    lab_freshness_high_risk_days: int = Field(
        default=7, ge=0, le=365,
        description="a.2 I11: INR/platelets age limit on warfarin, liver disease or after an abnormal value. [DESIGN].")
    function_freshness_days: int = Field(default=30, ge=0, le=365, description="a.2 I7: RDQ/ODI age limit. [DESIGN].")
    vitals_freshness_hours: int = Field(default=72, ge=0, le=720, description="a.2 I10: temperature age limit. [DESIGN].")
    infection_lab_freshness_days: int = Field(default=7, ge=0, le=365, description="a.2 I10: WBC/CRP/ESR age limit. [DESIGN].")
    pregnancy_freshness_days: int = Field(default=30, ge=0, le=365, description="a.2 I12: pregnancy status age limit. [DESIGN].")
    pregnancy_age_min: int = Field(default=12, ge=0, le=120, description="a.2 I12: pregnancy status needed from this age. [DESIGN].")
    pregnancy_age_max: int = Field(default=55, ge=0, le=120, description="a.2 I12: pregnancy status needed up to this age. [DESIGN].")
    cobb_angle_min_deg: float = Field(
        default=40, ge=0, le=180, description="CI-R6: Cobb angle >= this at the target region makes access doubtful. [DESIGN].")
    oncology_freshness_days: int = Field(default=90, ge=0, le=3650, description="a.2 I15: SINS/epidural extension age limit. [DESIGN].")

    @field_validator("antithrombotic_hold_days")
    @classmethod
    def _hold_days(cls, value: dict[str, float]) -> dict[str, float]:
        for ingredient, days in value.items():
            if not _INGREDIENT.match(ingredient):
                raise ValueError(f"{ingredient}: must be a lower-case ingredient name")
            if not 0 <= days <= 60:
                raise ValueError(f"{ingredient}: hold must be between 0 and 60 days, got {days}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ProfileParams:
        problems = [f"{field}: {reason}" for field, reason in profile_cross_checks(self.model_dump())]
        if problems:
            # One message per field keeps the key path pointing at the field to fix.
            raise ValueError(" | ".join(problems))
        return self

    def level_in_range(self, level: str, which: Literal["eligible", "spinejack"] = "eligible") -> bool:
        """True when `level` lies inside P1 (`eligible`) or P2 (`spinejack`), bounds included."""
        first, last = self.eligible_levels if which == "eligible" else self.spinejack_levels
        index = LEVEL_INDEX.get(level)
        return index is not None and LEVEL_INDEX[first] <= index <= LEVEL_INDEX[last]

    def cql_parameters(self) -> dict[str, Any]:
        """The CQL parameter overrides: each field under its CamelCase name (architecture.md contract)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name == "description":
                continue
            camel = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
            out[camel] = getattr(self, name)
        return out


def _default_profiles() -> dict[str, ProfileParams]:
    return {
        "cms-lcd": ProfileParams(description="Medicare LCD family (L33569, L34106, L34228, ...): the default [V3]."),
        "commercial-6wk": ProfileParams(
            description="BCBS-family commercial policies: >= 6 weeks of conservative care [V3].", nsm_min_days=42),
        "evicore": ProfileParams(
            description="eviCore CMM-607: T5-L5, <= 2 levels, 4 weeks drugs + 4 weeks exercise [V3].",
            eligible_levels=["T5", "L5"], nsm_min_days=28, nsm_exercise_min_days=28, max_levels_per_session=2),
    }


class ClinicalConfig(_Strict):
    """Which profile is active, the site's time zone, and every profile's parameters."""

    profile: str = Field(default="cms-lcd", description="Active threshold profile (a.1 [DESIGN]); must name a profile below.")
    timezone: str = Field(default="UTC", description="IANA zone for calendar-day counts (spec 0: UTC unless configured).")
    spinejack_device_terms: list[str] = Field(
        default_factory=lambda: ["spinejack", "spine jack"], min_length=1,
        description="a.1: words in ServiceRequest orderDetail/extension/note that mark the device as SpineJack "
                    "(case-insensitive). [DESIGN].")
    profiles: dict[str, ProfileParams] = Field(
        default_factory=_default_profiles,
        description="Profiles by name: cms-lcd (default), commercial-6wk, evicore (a.1 [DESIGN]); sites may add more.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from exc
        return value

    @field_validator("profiles")
    @classmethod
    def _profile_names(cls, value: dict[str, ProfileParams]) -> dict[str, ProfileParams]:
        if not value:
            raise ValueError("at least one profile is needed")
        for name in value:
            if not _PROFILE_NAME.match(name):
                raise ValueError(f"{name}: profile name must be lower-case letters, digits and '-'")
        return value

    @model_validator(mode="after")
    def _known_profile(self) -> ClinicalConfig:
        if self.profile not in self.profiles:
            raise ValueError(f"profile: unknown profile {self.profile!r} (known: {', '.join(sorted(self.profiles))})")
        return self

    def active_params(self) -> ProfileParams:
        """The ProfileParams of the active profile."""
        return self.profiles[self.profile]


# ---------------------------------------------------------------------------------------------------------------
# Value sets (spec part b)


@dataclass(frozen=True)
class CodeRef:
    """One resolved code: the FHIR system URI, the code, and a display when known."""

    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True)
class ExpandedValueSet:
    """A value set with its aliases resolved: explicit codes plus prefix filters (`A41.*`)."""

    id: str
    url: str
    title: str
    codes: tuple[CodeRef, ...]
    filters: tuple[tuple[str, str], ...]  # (system URI, prefix without '*')
    levels: Mapping[str, str]  # code -> vertebral level label (VS-BODYSITE-VERTEBRA)

    def __post_init__(self) -> None:
        index = {(c.system, _normalise_icd(c.code) if c.system == DEFAULT_CODESYSTEMS["icd10cm"] else c.code)
                 for c in self.codes}
        object.__setattr__(self, "_index", frozenset(index))
        prefixes = tuple((fs, _normalise_icd(p) if fs == DEFAULT_CODESYSTEMS["icd10cm"] else p)
                         for fs, p in self.filters)
        object.__setattr__(self, "_prefixes", prefixes)

    def contains(self, system: str | None, code: str | None) -> bool:
        """Membership of (system, code); ICD-10-CM compared without the dot, filters by prefix."""
        if not system or not code:
            return False
        key = _normalise_icd(code) if system == _ICD10CM_URI else code
        if (system, key) in self._index:  # type: ignore[attr-defined]
            return True
        for filter_system, prefix in self._prefixes:  # type: ignore[attr-defined]
            if filter_system == system and key.startswith(prefix):
                return True
        return False


def _split_system(entry: str) -> tuple[str | None, str]:
    if "|" in entry:
        system, _, code = entry.rpartition("|")
        return system, code
    return None, entry


class ValueSetDef(_Strict):
    """One value set: `codes` and `filters` are `alias|code` (alias from [codesystems]) or `URI|code`."""

    title: str = Field(default="", description="What the value set means.")
    evidence: str = Field(default="", description="Evidence label and source of the codes ([V], [V3], [M], [DESIGN]).")
    url: str | None = Field(default=None, description="Canonical URL; default http://example.org/fhir/ValueSet/<id>.")
    codes: list[str] = Field(default_factory=list, description="Explicit members as `alias|code`.")
    filters: list[str] = Field(
        default_factory=list, description="Prefix filters as `alias|PREFIX*` (e.g. icd10cm|A41.* for future codes).")
    displays: dict[str, str] = Field(default_factory=dict, description="Optional display text by code.")
    levels: dict[str, str] = Field(
        default_factory=dict, description="Code -> vertebral level label (only for VS-BODYSITE-VERTEBRA).")

    @model_validator(mode="after")
    def _non_empty(self) -> ValueSetDef:
        if not self.codes and not self.filters:
            raise ValueError("a value set needs at least one code or filter")
        for code, level in self.levels.items():
            if level not in LEVEL_INDEX:
                raise ValueError(f"levels: {level!r} (for code {code!r}) is not a vertebral level label")
        return self


class RuleConfig(_Strict):
    """Switch for one rule of spec a.5-a.8."""

    enabled: bool = Field(default=True, description="False suppresses the rule's finding and card (audited).")


class CardSource(_Strict):
    label: str = Field(default="Vertebral augmentation CDS", min_length=1, max_length=200,
                       description="Card source.label shown to clinicians (CDS Hooks Source).")
    url: str | None = Field(default=None, description="Card source.url: where clinicians learn about the service.")
    icon: str | None = Field(default=None, description="Card source.icon: absolute URL of a 100x100 PNG.")
    topic_code: str | None = Field(default=None, description="Card source.topic code (optional Coding).")
    topic_system: str | None = Field(default=None, description="Card source.topic system URI.")
    topic_display: str | None = Field(default=None, description="Card source.topic display.")

    @field_validator("url", "icon", "topic_system")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://\S+$", value):
            raise ValueError("must be an absolute http(s) URL")
        return value


class SiteLink(_Strict):
    label: str = Field(min_length=1, max_length=200, description="Link label on every card (CDS Hooks Link).")
    url: str = Field(description="Absolute URL.")
    type: Literal["absolute", "smart"] = Field(default="absolute", description="CDS Hooks link type.")
    cards: list[str] = Field(default_factory=list, description="Card ids the link is added to (empty = all).")

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not re.match(r"^https?://\S+$", value):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("cards")
    @classmethod
    def _card_ids(cls, value: list[str]) -> list[str]:
        for card_id in value:
            if card_id not in CARD_IDS:
                raise ValueError(f"unknown card id {card_id!r} (known: {', '.join(CARD_IDS)})")
        return value


class TextOverride(_Strict):
    summary: str | None = Field(default=None, max_length=140, description="Replacement summary template (<= 140 chars).")
    detail: str | None = Field(default=None, max_length=10_000, description="Text appended to the card detail (markdown).")


class CardsConfig(_Strict):
    source: CardSource = Field(default_factory=CardSource, description="Card source (label/url/icon/topic).")
    site_links: list[SiteLink] = Field(default_factory=list, description="Site links added to cards (local protocols).")
    text_overrides: dict[str, TextOverride] = Field(
        default_factory=dict, description="Text overrides by card id (C-CI-ABS ... C-DOC).")

    @field_validator("text_overrides")
    @classmethod
    def _override_ids(cls, value: dict[str, TextOverride]) -> dict[str, TextOverride]:
        for card_id in value:
            if card_id not in CARD_IDS:
                raise ValueError(f"{card_id}: unknown card id (known: {', '.join(CARD_IDS)})")
        return value


class TrustedIssuer(_Strict):
    jwks_url: str | None = Field(default=None, description="JWKS URL of the CDS client (EHR) that signs its JWTs.")
    jwks: dict[str, Any] | None = Field(default=None, description="Inline JWKS ({\"keys\": [...]}) instead of a URL.")

    @model_validator(mode="after")
    def _one_source(self) -> TrustedIssuer:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("give exactly one of jwks_url or jwks")
        if self.jwks_url is not None and not re.match(r"^https?://\S+$", self.jwks_url):
            raise ValueError("jwks_url must be an absolute http(s) URL")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError("jwks must be a JWK Set with a 'keys' list")
        return self


def _loopback_allowlist() -> list[str]:
    return ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


class SecurityConfig(_Strict):
    fhir_server_allowlist: list[str] = Field(
        default_factory=_loopback_allowlist,
        description="fhirServer URL prefixes the service may call with the bearer token: scheme://host[:port][/path], "
                    "port '*' = any. Loopback allowed by default (tests, local sandbox); a request naming another "
                    "server is refused. Spec cds-hooks.md security [DESIGN].")
    trusted_issuers: dict[str, TrustedIssuer] = Field(
        default_factory=dict,
        description="JWT issuer (iss) -> {jwks_url | jwks}. Empty = client JWTs are not required (development). "
                    "Overridable by CDS_TRUSTED_ISSUERS (JSON).")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed by CORS (e.g. https://sandbox.cds-hooks.org); '*' allows any. "
                    "Empty = no CORS headers. cds-hooks.md 6.3 [DESIGN].")
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024,
        description="Largest accepted request body (a prefetch bundle); larger -> 413. [DESIGN].")
    public_base_url: str | None = Field(
        default=None, description="External base URL (behind a proxy) for discovery links and JWT audience.")
    fhir_timeout_seconds: float = Field(default=5.0, gt=0, le=120, description="Per-request timeout to the EHR FHIR server.")
    fhir_deadline_seconds: float = Field(
        default=8.0, gt=0, le=300, description="Total budget for all FHIR calls of one hook request. [DESIGN].")
    fhir_page_cap: int = Field(default=10, ge=1, le=1000, description="Most `next` pages followed per search. [DESIGN].")

    @field_validator("fhir_server_allowlist")
    @classmethod
    def _allowlist(cls, value: list[str]) -> list[str]:
        for entry in value:
            parts = urlsplit(entry.replace(":*", ":0"))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{entry!r} must look like scheme://host[:port][/path]")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} must be '*' or scheme://host[:port] without a path")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://\S+$", value):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _deadline(self) -> SecurityConfig:
        if self.fhir_deadline_seconds < self.fhir_timeout_seconds:
            raise ValueError("fhir_deadline_seconds: must be at least fhir_timeout_seconds")
        return self

    def fhir_server_allowed(self, url: str) -> bool:
        """True when `url` (a request's fhirServer) matches an allowlist entry (scheme, host, port, path prefix)."""
        try:
            target = urlsplit(url)
            target_port = target.port or (443 if target.scheme == "https" else 80)
        except ValueError:
            return False
        if target.scheme not in ("http", "https") or not target.hostname:
            return False
        for entry in self.fhir_server_allowlist:
            any_port = ":*" in entry
            allowed = urlsplit(entry.replace(":*", ""))
            if allowed.scheme != target.scheme or (allowed.hostname or "").lower() != target.hostname.lower():
                continue
            if not any_port:
                allowed_port = allowed.port or (443 if allowed.scheme == "https" else 80)
                if allowed_port != target_port:
                    continue
            prefix = allowed.path.rstrip("/")
            if prefix and not (target.path == prefix or target.path.startswith(prefix + "/")):
                continue
            return True
        return False


class AdminConfig(_Strict):
    cohort_dir: str = Field(
        default="fhir_fixtures", description="Directory of FHIR bundles used by the admin page's impact preview "
                                     "(relative: to the working directory, else to the source checkout).")
    cohort_now: str | None = Field(
        default="2026-06-01T12:00:00Z",
        description="Evaluation instant for the impact preview (ISO 8601). The bundled fhir_fixtures/ are written "
                    "relative to 2026-06-01T12:00:00Z; clear it (empty string) to evaluate at the current time.")
    preview_budget_seconds: float = Field(
        default=20.0, gt=0, le=600,
        description="Time budget of one impact preview; beyond it the preview reports the patients evaluated so "
                    "far (the page says so). [DESIGN].")
    session_minutes: int = Field(default=30, ge=1, le=24 * 60, description="Admin page session lifetime.")

    @field_validator("cohort_now")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an ISO 8601 date-time") from exc
            if parsed.tzinfo is None:
                raise ValueError("give a time zone (e.g. Z)")
        return value or None


def _default_rules() -> dict[str, RuleConfig]:
    return {rule_id: RuleConfig() for rule_id in RULE_IDS}


class ServiceConfig(_Strict):
    """The whole hospital-IT configuration; `default_config()` gives the spec defaults."""

    clinical: ClinicalConfig = Field(default_factory=ClinicalConfig, description="Profiles and thresholds (a.3).")
    codesystems: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CODESYSTEMS),
        description="Code-system alias -> URI used by value sets; `local` is the b.7 findings system to remap.")
    valuesets: dict[str, ValueSetDef] = Field(
        default_factory=lambda: {k: ValueSetDef(**v) for k, v in default_valuesets().items()},
        description="Value sets of spec part b by id (VS-...).")
    rules: dict[str, RuleConfig] = Field(default_factory=_default_rules, description="rules.<ID>.enabled")
    cards: CardsConfig = Field(default_factory=CardsConfig, description="Card source, site links, text overrides.")
    security: SecurityConfig = Field(default_factory=SecurityConfig, description="Security settings.")
    admin: AdminConfig = Field(default_factory=AdminConfig, description="Admin page settings.")

    # The expansion of the value sets, computed once per configuration object (configs are never mutated
    # once active), so value-set lookups cost a dict access on the request path.
    _expanded_cache: dict[str, ExpandedValueSet] | None = PrivateAttr(default=None)

    @field_validator("codesystems")
    @classmethod
    def _codesystems(cls, value: dict[str, str]) -> dict[str, str]:
        missing = sorted(set(DEFAULT_CODESYSTEMS) - set(value))
        if missing:
            raise ValueError(f"built-in alias(es) cannot be removed: {', '.join(missing)}")
        for alias, uri in value.items():
            if not _ALIAS.match(alias):
                raise ValueError(f"{alias}: alias must be lower-case letters, digits and '-'")
            if not _URI.match(uri):
                raise ValueError(f"{alias}: {uri!r} is not an absolute URI (http(s):// or urn:oid:/urn:uuid:)")
        return value

    @field_validator("rules")
    @classmethod
    def _rule_ids(cls, value: dict[str, RuleConfig]) -> dict[str, RuleConfig]:
        for rule_id in value:
            if rule_id not in RULE_IDS:
                raise ValueError(f"{rule_id}: unknown rule (known: {', '.join(RULE_IDS)})")
        return {**_default_rules(), **value}

    def rule_enabled(self, rule_id: str) -> bool:
        """False when hospital IT switched the rule off; unknown ids are a programming error."""
        return self.rules[rule_id].enabled

    def expand_valueset(self, id_or_url: str) -> ExpandedValueSet:
        """The value set by id (`VS-DX-OVCF`) or canonical URL, aliases resolved; KeyError if unknown."""
        return self._expanded()[id_or_url]

    def valueset_ids(self) -> list[str]:
        return sorted(self.valuesets)

    def _expanded(self) -> dict[str, ExpandedValueSet]:
        # Direct dict access: pydantic's private-attribute lookup costs microseconds on a per-code hot path.
        private = self.__pydantic_private__
        cached = private.get("_expanded_cache") if private else None
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        out: dict[str, ExpandedValueSet] = {}
        for vs_id, definition in self.valuesets.items():
            url = definition.url or VALUESET_URL_BASE + vs_id
            codes = []
            for entry in definition.codes:
                system, code = _split_system(entry)
                uri = self.codesystems.get(system or "", system or "")
                codes.append(CodeRef(uri, code, definition.displays.get(code)))
            filters = []
            for entry in definition.filters:
                system, prefix = _split_system(entry)
                filters.append((self.codesystems.get(system or "", system or ""), prefix.rstrip("*")))
            expanded = ExpandedValueSet(vs_id, url, definition.title, tuple(codes), tuple(filters),
                                        dict(definition.levels))
            out[vs_id] = expanded
            out[url] = expanded
        self._expanded_cache = out
        return out

    def vertebra_levels(self) -> dict[tuple[str, str], str]:
        """(system URI, code) -> level label, from VS-BODYSITE-VERTEBRA."""
        vs = self.expand_valueset("VS-BODYSITE-VERTEBRA")
        return {(c.system, c.code): vs.levels[c.code] for c in vs.codes if c.code in vs.levels}

    def fingerprint(self) -> str:
        """Short stable hash of the configuration content (used for `default-<hash>` / `file-<hash>` versions)."""
        return hashlib.sha256(canonical_json(self).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------------
# Active configuration handle


@dataclass(frozen=True)
class ActiveConfig:
    """The configuration in force for a request and its version id (every card carries it as configVersion)."""

    config: ServiceConfig
    version: str


# ---------------------------------------------------------------------------------------------------------------
# Building, loading, validating


def default_config() -> ServiceConfig:
    """The spec defaults: cms-lcd active, every value set of part b, every rule enabled."""
    return ServiceConfig()


def config_to_data(config: ServiceConfig) -> dict[str, Any]:
    """Plain JSON/TOML-able dict of the whole configuration (numbers as int or float, never Decimal)."""
    return _plain(config.model_dump(mode="python", exclude_none=True))


def _plain(value: Any) -> Any:
    # One spelling per number (50, not 50.0 or Decimal('50')) so the fingerprint survives a TOML round trip.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def canonical_json(config: ServiceConfig) -> str:
    return json.dumps(config_to_data(config), sort_keys=True, separators=(",", ":"))


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`: tables merge key by key, everything else (lists included) replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _errors_from_validation(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for err in exc.errors():
        path = _loc_to_path(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        # Model-level validators report several fields at once as "field: reason | field: reason".
        parts = message.split(" | ")
        for part in parts:
            field, sep, reason = part.partition(": ")
            if sep and re.match(r"^[A-Za-z0-9_-]+$", field) and err["type"] == "value_error":
                errors.append((".".join(p for p in (prefix, path, field) if p), reason))
            else:
                errors.append((".".join(p for p in (prefix, path) if p) or "(root)", part))
    return errors


def _check_valuesets(data: Mapping[str, Any], codesystems: Mapping[str, str]) -> list[tuple[str, str]]:
    """Code-level checks pydantic field types cannot express (alias known, shape per system, check digits)."""
    errors: list[tuple[str, str]] = []
    known_ids = set(default_valuesets())
    uri_to_alias = {uri: alias for alias, uri in codesystems.items()}
    for vs_id, definition in (data.get("valuesets") or {}).items():
        base = f"valuesets.{vs_id}"
        if not _VS_ID.match(str(vs_id)):
            errors.append((base, "value set id must look like VS-XX-NAME"))
            continue
        if vs_id not in known_ids:
            errors.append((base, "unknown value set (the CQL libraries reference only the documented ids)"))
            continue
        if not isinstance(definition, Mapping):
            continue
        for field in ("codes", "filters"):
            entries = definition.get(field)
            if not isinstance(entries, list):
                continue
            for i, entry in enumerate(entries):
                key = f"{base}.{field}[{i}]"
                if not isinstance(entry, str):
                    continue
                system, code = _split_system(entry)
                if system is None:
                    errors.append((key, f"{entry!r} must be 'alias|code' (aliases: {', '.join(sorted(codesystems))})"))
                    continue
                alias = system if system in codesystems else uri_to_alias.get(system)
                if alias is None:
                    if _URI.match(system):
                        alias = ""
                    else:
                        errors.append((key, f"unknown code system alias {system!r} "
                                            f"(known: {', '.join(sorted(codesystems))})"))
                        continue
                if not code.strip():
                    errors.append((key, "empty code"))
                    continue
                if field == "filters":
                    if not code.endswith("*") or "*" in code[:-1]:
                        errors.append((key, f"filter {code!r} must end with a single '*' (e.g. A41.*)"))
                    elif alias == "icd10cm" and not _ICD10CM_FILTER.match(code):
                        errors.append((key, f"malformed ICD-10-CM prefix filter {code!r}"))
                    continue
                shape = _CODE_SHAPES.get(alias)
                if alias == "local":
                    shape = _LOCAL_CODE
                if shape is None:
                    shape = _GENERIC_CODE
                if not shape.match(code):
                    label = {"icd10cm": "ICD-10-CM", "icd10pcs": "ICD-10-PCS", "snomed": "SNOMED CT",
                             "loinc": "LOINC", "rxnorm": "RxNorm", "cpt": "CPT", "hcpcs": "HCPCS"}.get(alias, alias)
                    errors.append((key, f"malformed {label} code {code!r}"))
                elif alias == "snomed" and not verhoeff_ok(code):
                    errors.append((key, f"SNOMED CT id {code!r} fails the Verhoeff check digit"))
                elif alias == "loinc" and not loinc_check_ok(code):
                    errors.append((key, f"LOINC code {code!r} fails the Mod-10 check digit"))
    return errors


def _raw_cross_checks(merged: Mapping[str, Any]) -> list[tuple[str, str]]:
    # pydantic skips model validators once a field failed; these run on the raw document so a file with a
    # typo in one key still gets its threshold relations and profile name checked in the same report.
    errors: list[tuple[str, str]] = []
    clinical = merged.get("clinical")
    if not isinstance(clinical, Mapping):
        return errors
    profiles = clinical.get("profiles")
    if isinstance(profiles, Mapping):
        for name, params in profiles.items():
            if isinstance(params, Mapping):
                errors += [(f"clinical.profiles.{name}.{field}", reason)
                           for field, reason in profile_cross_checks(params)]
        active = clinical.get("profile")
        if isinstance(active, str) and active not in profiles:
            errors.append(("clinical.profile", f"unknown profile {active!r} (known: {', '.join(sorted(profiles))})"))
    return errors


def _resolve_profile_extends(defaults: dict[str, Any], override: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A new profile in a file starts from `extends` (default cms-lcd) so a site writes only what differs."""
    errors: list[tuple[str, str]] = []
    document: dict[str, Any] = copy.deepcopy(dict(override))
    clinical = document.get("clinical")
    if not isinstance(clinical, dict):
        return document, errors
    profiles = clinical.get("profiles")
    if not isinstance(profiles, dict):
        return document, errors
    base_profiles = defaults["clinical"]["profiles"]
    for name, params in list(profiles.items()):
        if not isinstance(params, dict):
            continue
        parent = params.pop("extends", None)
        if name in base_profiles and parent is None:
            continue
        parent = parent or "cms-lcd"
        if parent not in base_profiles and parent not in profiles:
            errors.append((f"clinical.profiles.{name}.extends", f"unknown profile {parent!r}"))
            continue
        parent_params = base_profiles.get(parent) or profiles.get(parent) or {}
        profiles[name] = deep_merge(parent_params, params)
    return document, errors


def build_config(override: Mapping[str, Any] | None = None, *, base: ServiceConfig | None = None) -> ServiceConfig:
    """Validate `override` (a TOML/JSON document) merged onto `base` (default: the spec defaults).

    Raises ConfigError listing every problem with its dotted key path.
    """
    base_data = config_to_data(base or default_config())
    if override is None:
        override = {}
    if not isinstance(override, Mapping):
        raise ConfigError([("(root)", "the configuration must be a table")])
    document, errors = _resolve_profile_extends(base_data, override)
    merged = deep_merge(base_data, document)
    merged_systems = merged.get("codesystems")
    codesystems: Mapping[str, str] = merged_systems if isinstance(merged_systems, dict) else DEFAULT_CODESYSTEMS
    errors += _check_valuesets(document, codesystems)
    errors += _raw_cross_checks(merged)
    config: ServiceConfig | None = None
    try:
        config = ServiceConfig.model_validate(merged)
    except ValidationError as exc:
        errors += _errors_from_validation(exc)
    if errors:
        # Deduplicate while keeping order: merged defaults can echo the same path twice.
        raise ConfigError(list(dict.fromkeys(errors)))
    assert config is not None
    return config


def parse_toml_text(text: str) -> dict[str, Any]:
    """TOML text -> dict; a syntax error becomes a ConfigError naming the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("(toml)", str(exc))]) from exc


def load_config_file(path: str | os.PathLike[str], *, base: ServiceConfig | None = None) -> ServiceConfig:
    """TOML file -> ServiceConfig (the file overrides the defaults); raises ConfigError([(key, reason)])."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {file_path}: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([("(file)", f"{file_path} is not UTF-8 text")]) from exc
    return build_config(parse_toml_text(text), base=base)


# ---------------------------------------------------------------------------------------------------------------
# Environment overrides (secrets never need to live in a file or in the versions table)

ENV_TRUSTED_ISSUERS = "CDS_TRUSTED_ISSUERS"
ENV_CORS_ORIGINS = "CDS_CORS_ORIGINS"
ENV_FHIR_ALLOWLIST = "CDS_FHIR_SERVER_ALLOWLIST"
ENV_PUBLIC_BASE_URL = "CDS_PUBLIC_BASE_URL"


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The configuration document implied by CDS_* environment variables (empty when none is set).

    CDS_TRUSTED_ISSUERS: JSON object iss -> {"jwks_url": ...} or {"jwks": {...}};
    CDS_CORS_ORIGINS / CDS_FHIR_SERVER_ALLOWLIST: comma-separated; CDS_PUBLIC_BASE_URL: URL.
    """
    env = os.environ if environ is None else environ
    security: dict[str, Any] = {}
    raw = env.get(ENV_TRUSTED_ISSUERS, "").strip()
    if raw:
        try:
            issuers = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError([(f"env:{ENV_TRUSTED_ISSUERS}", f"not valid JSON ({exc.msg})")]) from exc
        security["trusted_issuers"] = issuers
    for name, key in ((ENV_CORS_ORIGINS, "cors_origins"), (ENV_FHIR_ALLOWLIST, "fhir_server_allowlist")):
        raw = env.get(name, "").strip()
        if raw:
            security[key] = [item.strip() for item in raw.split(",") if item.strip()]
    raw = env.get(ENV_PUBLIC_BASE_URL, "").strip()
    if raw:
        security["public_base_url"] = raw
    return {"security": security} if security else {}


def apply_env_overrides(config: ServiceConfig, environ: Mapping[str, str] | None = None) -> ServiceConfig:
    """`config` with the environment's security overrides applied (validated like a file)."""
    override = env_overrides(environ)
    if not override:
        return config
    return build_config(override, base=config)


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs whose host is a loopback address or localhost."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
