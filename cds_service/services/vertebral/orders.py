"""Domain layer: reads a vertebral augmentation draft order: its levels (a.1), requested technique and CPT lines (a.8)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cds_service.admin.config import LEVEL_INDEX, LEVELS, ServiceConfig

TECHNIQUES: tuple[str, ...] = ("spinejack", "kyphoplasty", "vertebroplasty")

# Billing structure of b.5 / a.8 (which CPT code covers which region, first level or add-on). It is data,
# not a code list: every code named there must also be a member of VS-PROC-VP / VS-PROC-AUGMENTATION in the
# active configuration, which `check_billing_table` verifies when the logic is compiled.
# Located through the package, not __file__: this module may be the compiled build (cds_service/accel.py).
_BILLING_FILE = Path(str(resources.files("cds_service.services.vertebral").joinpath("billing.json")))
BILLING: Mapping[str, Any] = json.loads(_BILLING_FILE.read_text(encoding="utf-8"))

# Level text in a note or order detail: "L1", "T12", "t 7", "L-2"; a range such as "T11-L1" names both ends.
_LEVEL_TEXT = re.compile(r"\b([CTLS])\s?-?\s?(\d{1,2})\b", re.IGNORECASE)
# Device hint words for SpineJack in free text / local codes (a.1); the coded hints are VS-PROC-SPINEJACK.
_SPINEJACK_TEXT = re.compile(r"spine\s?-?jack", re.IGNORECASE)


@dataclass(frozen=True)
class OrderLine:
    """One draft ServiceRequest as the logic needs it."""

    id: str
    resource: dict[str, Any]
    levels: tuple[str, ...]
    level_source: str  # "bodySite", "text" or "none"
    codes: tuple[tuple[str, str], ...]  # (system, code) of ServiceRequest.code
    technique: str | None  # spinejack / kyphoplasty / vertebroplasty, None when the code says neither
    problems: tuple[str, ...] = field(default_factory=tuple)


def sort_levels(levels: Iterable[str]) -> list[str]:
    """Vertebral level labels head to tail (C1 ... S5), duplicates removed."""
    return sorted(set(levels), key=lambda lv: LEVEL_INDEX[lv])


def level_region(level: str) -> str:
    """cervical / thoracic / lumbar / sacral from the label's letter."""
    return {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}[level[0]]


def _codings(value: Any) -> list[dict[str, Any]]:
    """Codings of a CodeableConcept, or of a list of them, read tolerantly."""
    concepts = value if isinstance(value, list) else [value]
    out: list[dict[str, Any]] = []
    for concept in concepts:
        if isinstance(concept, dict):
            out.extend(c for c in concept.get("coding") or () if isinstance(c, dict))
    return out


def _texts(resource: Mapping[str, Any]) -> list[str]:
    """Free text where an EHR may put the level or device name: note, orderDetail, code text, extensions."""
    texts: list[str] = []
    for note in resource.get("note") or ():
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            texts.append(note["text"])
    for detail in resource.get("orderDetail") or ():
        if isinstance(detail, dict):
            if isinstance(detail.get("text"), str):
                texts.append(detail["text"])
            texts.extend(c["display"] for c in _codings(detail) if isinstance(c.get("display"), str))
    for ext in resource.get("extension") or ():
        if isinstance(ext, dict):
            for key, value in ext.items():
                if key.startswith("value") and isinstance(value, str):
                    texts.append(value)
                elif key == "valueCodeableConcept" and isinstance(value, dict):
                    texts.extend(c.get("display", "") for c in _codings(value))
                    if isinstance(value.get("text"), str):
                        texts.append(value["text"])
    return texts


def levels_from_text(texts: Iterable[str]) -> list[str]:
    """Level labels named in free text, only those that are real vertebrae (e.g. no 'L9')."""
    found: list[str] = []
    for text in texts:
        for letter, number in _LEVEL_TEXT.findall(text):
            label = f"{letter.upper()}{int(number)}"
            if label in LEVEL_INDEX:
                found.append(label)
    return sort_levels(found)


def levels_of(resource: Mapping[str, Any], vertebrae: Mapping[tuple[str, str], str]) -> tuple[list[str], str]:
    """a.1: levels from bodySite (SNOMED vertebra codes of VS-BODYSITE-VERTEBRA); else level text; else none."""
    coded = [vertebrae[(c.get("system", ""), c.get("code", ""))] for c in _codings(resource.get("bodySite"))
             if (c.get("system", ""), c.get("code", "")) in vertebrae]
    if coded:
        return sort_levels(coded), "bodySite"
    texts = [c.get("display", "") for c in _codings(resource.get("bodySite")) if isinstance(c.get("display"), str)]
    for site in resource.get("bodySite") or ():
        if isinstance(site, dict) and isinstance(site.get("text"), str):
            texts.append(site["text"])
    from_text = levels_from_text(texts + _texts(resource))
    if from_text:
        return from_text, "text"
    return [], "none"


def requested_technique(resource: Mapping[str, Any], config: ServiceConfig) -> str | None:
    """a.1: VP codes -> vertebroplasty; augmentation codes -> kyphoplasty unless a SpineJack hint is present."""
    codes = _codings(resource.get("code"))
    vp = config.expand_valueset("VS-PROC-VP")
    aug = config.expand_valueset("VS-PROC-AUGMENTATION")
    sj = config.expand_valueset("VS-PROC-SPINEJACK")
    local = config.codesystems["local"]
    hint_codings = codes + [c for d in resource.get("orderDetail") or () for c in _codings(d)]
    for ext in resource.get("extension") or ():
        if isinstance(ext, dict):
            hint_codings += _codings(ext.get("valueCodeableConcept"))
            if isinstance(ext.get("valueCoding"), dict):
                hint_codings.append(ext["valueCoding"])
    spinejack = any(sj.contains(c.get("system"), c.get("code")) for c in hint_codings) or any(
        c.get("system") == local and str(c.get("code", "")).lower() == "spinejack" for c in hint_codings
    ) or any(_SPINEJACK_TEXT.search(t) for t in _texts(resource))
    if spinejack:
        return "spinejack"
    if any(aug.contains(c.get("system"), c.get("code")) for c in codes):
        return "kyphoplasty"
    if any(vp.contains(c.get("system"), c.get("code")) for c in codes):
        return "vertebroplasty"
    return None


def read_order(resource: dict[str, Any], config: ServiceConfig) -> OrderLine:
    levels, source = levels_of(resource, config.vertebra_levels())
    codes = tuple((str(c.get("system", "")), str(c.get("code", ""))) for c in _codings(resource.get("code")))
    return OrderLine(id=str(resource.get("id") or ""), resource=resource, levels=tuple(levels), level_source=source,
                     codes=codes, technique=requested_technique(resource, config))


def check_billing_table(config: ServiceConfig) -> list[str]:
    """Codes of the billing table that the active configuration's procedure value sets do not contain."""
    problems = []
    system = BILLING["system"]
    for technique, entry in BILLING["techniques"].items():
        vs = config.expand_valueset(entry["valueset"])
        for code in [*entry["first"].values(), entry["addon"]]:
            if not vs.contains(config.codesystems.get(system, system), code):
                problems.append(f"{technique}: {code} is not in {entry['valueset']}")
    return problems


def billing_family(code: str) -> tuple[str, str] | None:
    """(technique family, role) of a CPT code: ('vertebroplasty' | 'augmentation', region name or 'addon')."""
    for technique, entry in BILLING["techniques"].items():
        for region, first in entry["first"].items():
            if first == code:
                return technique, region
        if entry["addon"] == code:
            return technique, "addon"
    return None


def _billing_regions(family: str, role: str) -> set[str]:
    return set(BILLING["regions"][f"{family}:{role}"])


def cpt_mismatch_levels(lines: Sequence[OrderLine], config: ServiceConfig) -> list[str]:
    """a.8: levels whose bodySite does not fit the CPT code's region, or that carry both VP and augmentation."""
    cpt = config.codesystems.get(BILLING["system"], BILLING["system"])
    bad: set[str] = set()
    families_by_level: dict[str, set[str]] = {}
    for line in lines:
        for system, code in line.codes:
            if system != cpt:
                continue
            fam = billing_family(code)
            if fam is None:
                continue
            family, role = fam
            allowed = _billing_regions(family, role)
            for level in line.levels:
                families_by_level.setdefault(level, set()).add(family)
                if level_region(level) not in allowed and f"{level}" not in allowed:
                    bad.add(level)
    bad.update(lv for lv, fams in families_by_level.items() if len(fams) > 1)
    return sort_levels(bad)


def replacement_codes(technique: str, levels: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """CPT lines for `technique` at `levels` (first level by region, add-on per further level) + device code."""
    entry = BILLING["techniques"]["vertebroplasty" if technique == "vertebroplasty" else "augmentation"]
    ordered = sort_levels(levels)
    lines: list[tuple[str, str, str | None]] = []
    for i, level in enumerate(ordered):
        if i == 0:
            region = next((r for r, lvls in entry["first_by_region"].items() if level_region(level) in lvls), None)
            code = entry["first"][region] if region else entry["addon"]
        else:
            code = entry["addon"]
        lines.append((level, code, entry["displays"].get(code)))
    return lines


__all__ = ["LEVELS", "TECHNIQUES", "OrderLine", "read_order", "sort_levels", "levels_from_text", "levels_of",
           "requested_technique", "cpt_mismatch_levels", "replacement_codes", "check_billing_table", "level_region"]
