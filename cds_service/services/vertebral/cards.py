"""Domain layer: builds the CDS Hooks cards (structure, suggestions, override reasons) for the vertebral findings;
the words come from the templates in cards/ and the site's overrides in configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cards as text
from cds_service import wire
from cds_service.admin.config import ServiceConfig
from cds_service.services.vertebral.findings import LevelResult, Session, technique_warning
from cds_service.services.vertebral.orders import BILLING, OrderLine, level_region, replacement_codes, sort_levels

FINDING_EXTENSION = "org.vertebral-augmentation-cds.finding"
SUMMARY_LIMIT = wire.SUMMARY_MAX_CHARS

# a.10: indicator per card id; C-TECH and C-MISSING are decided per finding.
INDICATOR: dict[str, str] = {
    "C-CI-ABS": "critical", "C-CI-REL": "warning", "C-IND-NOTMET": "warning", "C-IND-MET": "info",
    "C-TECH": "info", "C-MISSING": "info", "C-COVERAGE": "warning", "C-DOC": "info",
}

# a.10 / a.1: override reasons on warning and critical cards.
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("benefit-outweighs-risk", "Benefit outweighs risk"),
    ("corrected", "Problem corrected / will be corrected before the procedure"),
    ("mdt-decision", "Multidisciplinary team decision"),
    ("data-outdated", "Record data is outdated or wrong"),
)


@dataclass(frozen=True)
class CardContext:
    """What card building needs besides the finding itself."""

    config: ServiceConfig
    profile: str
    version: str
    hook: str
    patient_id: str
    encounter_id: str | None
    lines: Sequence[OrderLine]
    session: Session | None


def _phrase(section: str, key: str, default: str = "") -> Any:
    return text.phrases().get(section, {}).get(key, default)


def levels_text(levels: Sequence[str]) -> str:
    """'L1', 'T12, L1', or 'L1-L4' for a contiguous run of 3 or more."""
    from cds_service.admin.config import LEVEL_INDEX

    if not levels:
        return "the order"
    ordered = sort_levels(levels)
    idx = [LEVEL_INDEX[lv] for lv in ordered]
    if len(ordered) >= 3 and idx == list(range(idx[0], idx[0] + len(idx))):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(ordered)


def _fit(summary: str) -> str:
    # Inferno fails a summary of 140 characters or more; keep whole words.
    if len(summary) <= SUMMARY_LIMIT:
        return summary
    return summary[: SUMMARY_LIMIT - 1].rsplit(" ", 1)[0] + "…"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return str(value).replace("|", "/")


def criteria_table(facts: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table: each criterion with its value, date, threshold, result and source."""
    rows = [f for f in facts if f.get("value") is not None or f.get("result") in ("met", "not met")]
    if not rows:
        return ""
    out = ["| Criterion | Level | Value | Date | Threshold | Result | Source |", "|---|---|---|---|---|---|---|"]
    seen: set[tuple[Any, ...]] = set()
    for f in rows:
        key = (f.get("criterion"), f.get("level"), f.get("value"), f.get("source"))
        if key in seen:
            continue
        seen.add(key)
        at = f.get("at")
        out.append("| " + " | ".join(_fmt(v) for v in (
            f.get("criterion"), f.get("level"), f.get("value"), at[:10] if isinstance(at, str) else at,
            f.get("threshold"), f.get("result") or "unknown", f.get("source"))) + " |")
    return "\n".join(out)


def _rule_vars(rule: str) -> dict[str, str]:
    info = _phrase("rule", rule, {}) or {}
    return {"rule_id": rule, "reason": info.get("reason", rule), "label": info.get("label", ""),
            "basis": info.get("basis", "")}


def _facts_for(session: Session | None, finding: Mapping[str, Any]) -> list[dict[str, Any]]:
    if session is None:
        return []
    levels = set(finding["levels"])
    rules = set(finding["rules"])
    facts: list[dict[str, Any]] = []
    for lr in session.levels:
        if lr.level not in levels:
            continue
        if finding["id"] in ("C-IND-MET", "C-IND-NOTMET", "C-TECH") or (
                finding["id"] == "C-MISSING" and lr.indication.get("rule") in rules):
            facts += lr.indication.get("facts") or []
        for ci in lr.absolute + lr.relative + lr.undecided:
            if ci["rule"] in rules:
                facts += ci.get("facts") or []
    for doc in session.documentation:
        if doc["rule"] in rules:
            facts += doc.get("facts") or []
    return facts


def _level_results(session: Session | None, levels: Sequence[str]) -> list[LevelResult]:
    return [lr for lr in (session.levels if session else ()) if lr.level in levels]


# ---------------------------------------------------------------------------------------------- suggestions

def _vertebra_codes(config: ServiceConfig) -> dict[str, tuple[str, str]]:
    return {level: key for key, level in config.vertebra_levels().items()}


def _service_request(ctx: CardContext, code: Mapping[str, Any], levels: Sequence[str],
                     order_detail: list[dict[str, Any]] | None = None, note: str | None = None) -> dict[str, Any]:
    """A draft R4 ServiceRequest for the same patient (and encounter) as the hook call."""
    sites = _vertebra_codes(ctx.config)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
        "code": {"coding": [{k: v for k, v in code.items() if v}]},
        "subject": {"reference": f"Patient/{ctx.patient_id}"},
    }
    if ctx.encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{ctx.encounter_id}"}
    body_sites = [{"coding": [{"system": sites[lv][0], "code": sites[lv][1], "display": f"Bone structure of {lv}"}]}
                  for lv in levels if lv in sites]
    if body_sites:
        resource["bodySite"] = body_sites
    if order_detail:
        resource["orderDetail"] = order_detail
    if note:
        resource["note"] = [{"text": note}]
    return resource


def _replace_suggestion(ctx: CardContext, finding: Mapping[str, Any]) -> list[dict[str, Any]]:
    """a.7: delete the draft line(s) of these levels and create the rank-1 technique's lines, same levels."""
    target = finding["ranking"][0]
    levels = set(finding["levels"])
    drafts = [ln for ln in ctx.lines if ln.levels and set(ln.levels) <= levels
              and ln.technique == finding.get("requested")]
    covered = {lv for ln in drafts for lv in ln.levels}
    if not drafts or covered != levels:
        return []  # a draft line also carries other levels: replacing it would drop them
    cpt = ctx.config.codesystems.get(BILLING["system"], BILLING["system"])
    device = BILLING["device"]["spinejack"]
    detail = None
    if target == "spinejack":
        detail = [{"coding": [{"system": ctx.config.codesystems.get(device["system"], device["system"]),
                               "code": device["code"], "display": device["display"]}], "text": device["text"]}]
    actions: list[dict[str, Any]] = [
        {"type": "delete", "description": f"Remove the draft {ctx_name(ln)} order",
         "resourceId": f"ServiceRequest/{ln.id}"} for ln in drafts if ln.id]
    name = _phrase("technique", target, target)
    for level, code, display in replacement_codes(target, sorted(levels)):
        actions.append({"type": "create", "description": f"Order {name} at {level} ({code})",
                        "resource": _service_request(ctx, {"system": cpt, "code": code, "display": display},
                                                     [level], detail)})
    return [{"label": f"Replace with {name} order"[:80], "isRecommended": True, "actions": actions}]


def ctx_name(line: OrderLine) -> str:
    return _phrase("technique", line.technique or "", "vertebral augmentation").lower()


def _order_from_valueset(ctx: CardContext, vs_id: str, levels: Sequence[str], label: str,
                         region_pick: bool = False) -> dict[str, Any] | None:
    """A suggestion creating orders for the codes of a configured order value set (MRI, labs, DXA)."""
    vs = ctx.config.expand_valueset(vs_id)
    codes = list(vs.codes)
    if region_pick:
        regions = {level_region(lv) for lv in levels} or {"lumbar"}
        picked = [c for c in codes if any(r in (c.display or "").lower() for r in regions)]
        codes = picked or codes[:1]
    if not codes:
        return None
    actions = [{"type": "create", "description": f"Order {c.display or c.code}",
                "resource": _service_request(ctx, {"system": c.system, "code": c.code, "display": c.display},
                                             levels if region_pick else [])} for c in codes]
    return {"label": label, "actions": actions}


def _missing_suggestions(ctx: CardContext, finding: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = set(finding.get("missing") or ())
    out: list[dict[str, Any] | None] = []
    if "acuity-imaging" in items:
        out.append(_order_from_valueset(ctx, "VS-ORDER-MRI", finding["levels"],
                                        "Order MRI without contrast (STIR) of the level", region_pick=True))
    if items & {"inr", "platelets"}:
        out.append(_order_from_valueset(ctx, "VS-ORDER-COAG-LABS", [], "Order PT/INR and CBC"))
    if "dxa" in items:
        out.append(_order_from_valueset(ctx, "VS-ORDER-DXA", [], "Order DXA bone density"))
    return [s for s in out if s]


# ---------------------------------------------------------------------------------------------- cards

def _technique_detail(finding: Mapping[str, Any], lrs: Sequence[LevelResult]) -> dict[str, str]:
    tech = lrs[0].technique if lrs and lrs[0].technique else {}
    reasons: dict[str, list[str]] = {}
    for entry in list(tech.get("excluded") or ()) + list(tech.get("deprioritized") or ()):
        reasons.setdefault(entry["technique"], []).append(_phrase("technique_reason", entry["reason"], entry["reason"]))
    lines = []
    for i, t in enumerate(finding["ranking"], 1):
        why = "; ".join(reasons.get(t, [])) or ("preferred for this situation" if i == 1 else "alternative")
        lines.append(f"{i}. **{_phrase('technique', t, t)}**: {why}")
    for t, why in reasons.items():
        if t not in finding["ranking"]:
            lines.append(f"- ~~{_phrase('technique', t, t)}~~: {'; '.join(why)}")
    missing = sorted({m for lr in lrs for m in lr.indication.get("missing") or ()})
    malignant = any(lr.indication.get("pathway") == "malignant" for lr in lrs)
    return {
        "ranking": "\n".join(lines),
        "row": _phrase("row", tech.get("row", ""), ""),
        "provisional": (_phrase("text", "provisional") + ", ".join(missing) + ".\n\n") if finding.get("provisional") else "",
        "ablation": _phrase("text", "ablation") if malignant else "",
    }


def _path_text(lrs: Sequence[LevelResult], session: Session | None) -> str:
    parts = []
    for lr in lrs:
        failed = [_phrase("criterion", f, f) for f in lr.indication.get("failed") or ()]
        if failed:
            parts.append(f"- {lr.level}: " + "; ".join(failed))
    if session and session.hospitalized is not None:
        parts.append(f"- Care setting: {'hospitalized' if session.hospitalized else 'not hospitalized'}")
    for conflict in (session.etiology_conflicts if session else ()):
        if conflict.get("level") in {lr.level for lr in lrs}:
            parts.append(f"- {conflict['level']}: conflicting etiologies {', '.join(conflict.get('pathways') or ())};"
                         f" the most specific ({conflict.get('chosen')}) was used (a.8)")
    return "\n".join(parts)


def _summary_reason(finding: Mapping[str, Any], lrs: Sequence[LevelResult]) -> str:
    rule = finding["rules"][0] if finding["rules"] else ""
    if finding["id"] in ("C-CI-ABS", "C-CI-REL"):
        for lr in lrs:
            for ci in lr.absolute + lr.relative:
                if ci["rule"] == rule and ci.get("reason"):
                    return str(_phrase("reason", ci["reason"], _rule_vars(rule)["reason"]))
    if finding["id"] == "C-IND-NOTMET":
        failed = [f for lr in lrs for f in lr.indication.get("failed") or ()]
        if failed:
            return str(_phrase("criterion", failed[0], failed[0]))
    return _rule_vars(rule)["reason"]


def build_card(ctx: CardContext, finding: dict[str, Any]) -> wire.Card:
    """One card for one finding (section 0): text from templates, structure and actions from the finding."""
    card_id = finding["id"]
    lrs = _level_results(ctx.session, finding["levels"])
    rule = finding["rules"][0] if finding["rules"] else ""
    variables: dict[str, str] = {
        **_rule_vars(rule),
        "levels": levels_text(finding["levels"]),
        "pathway": str(finding.get("pathway", "")),
        "profile": ctx.profile,
        "caveat": _phrase("text", "caveat"),
        "seed_table": _phrase("text", "seed_table"),
        "criteria": criteria_table(_facts_for(ctx.session, finding)),
        "path": _path_text(lrs, ctx.session) if card_id in ("C-IND-MET", "C-IND-NOTMET") else "",
        "until": " until corrected" if rule == "CI-A5" else "",
        "requested": _phrase("technique", finding.get("requested", ""), str(finding.get("requested", ""))),
        "rules": ", ".join(finding["rules"]) or "order",
        "items": ", ".join(_phrase("missing_label", m, m) for m in finding.get("missing") or ()),
        "needed": "\n".join(f"- {_phrase('missing', m, m)}" for m in finding.get("missing") or ()),
        "blocking": "",
    }
    variables["reason"] = _summary_reason(finding, lrs)
    if rule == "CI-R1":
        limit = ctx.config.clinical.active_params().max_levels_per_session
        variables["criteria"] = (f"{len(finding['levels'])} levels still in play ({levels_text(finding['levels'])}); "
                                 f"profile `{ctx.profile}` allows {limit} per session (P10).")
    indicator = INDICATOR[card_id]
    suggestions: list[dict[str, Any]] = []
    selection = "at-most-one"
    if card_id == "C-TECH":
        variables.update(_technique_detail(finding, lrs))
        ranking = finding["ranking"]
        variables["rank1"] = _phrase("technique", ranking[0], ranking[0]) if ranking else "none"
        variables["alt"] = f" (alt: {_phrase('technique', ranking[1], ranking[1])})" if len(ranking) > 1 else ""
        if technique_warning(finding, lrs[0].technique if lrs else None):
            indicator = "warning"
        if ranking and finding.get("requested") != ranking[0] and not finding.get("provisional"):
            suggestions = _replace_suggestion(ctx, finding)
    elif card_id == "C-MISSING":
        if ctx.hook == "order-sign" and set(finding.get("missing") or ()) & {"inr", "platelets"}:
            indicator = "warning"  # a.9 [DESIGN]: blocking message at order-sign
            variables["blocking"] = _phrase("text", "sign_blocking")
        suggestions = _missing_suggestions(ctx, finding)
        selection = "any"
    elif card_id == "C-DOC" and "DOC-BMD" in finding["rules"]:
        dxa = _order_from_valueset(ctx, "VS-ORDER-DXA", [], "Order DXA bone density")
        suggestions = [dxa] if dxa else []
    override = ctx.config.cards.text_overrides.get(card_id)
    summary = _fit(text.summary_template(card_id, override.summary if override else None).safe_substitute(variables))
    detail = text.templates()[card_id].detail.safe_substitute(variables)
    if override and override.detail:
        detail += "\n\n" + override.detail
    detail = "\n\n".join(p.strip() for p in detail.split("\n\n") if p.strip())
    source = ctx.config.cards.source
    card: dict[str, Any] = {
        "summary": summary,
        "detail": detail,
        "indicator": indicator,
        "source": {k: v for k, v in {"label": source.label, "url": source.url, "icon": source.icon}.items() if v},
        "extension": {FINDING_EXTENSION: {**finding, "profile": ctx.profile, "configVersion": ctx.version}},
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = selection
    if indicator in ("warning", "critical"):
        system = ctx.config.codesystems["local"]
        card["overrideReasons"] = [{"system": system, "code": code, "display": display}
                                   for code, display in OVERRIDE_REASONS]
    links = [{"label": ln.label, "url": ln.url, "type": ln.type} for ln in ctx.config.cards.site_links
             if not ln.cards or card_id in ln.cards]
    if links:
        card["links"] = links
    return wire.Card.model_validate(card)
