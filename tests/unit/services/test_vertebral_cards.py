"""Services layer: cards built from vertebral findings: indicators (a.10), summaries, details, suggestions, overrides."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.admin.config import ActiveConfig, build_config, default_config
from cds_service.services.vertebral import orders
from cds_service.services.vertebral.cards import FINDING_EXTENSION, CardContext, build_card, levels_text
from cds_service.services.vertebral.findings import build_findings, build_session, missing_level_finding

from vertebral_results import ci, fact, indication, results, technique

SJ, BKP, VP = "spinejack", "kyphoplasty", "vertebroplasty"
CPT = "http://www.ama-assn.org/go/cpt"


def draft(levels: list[str], code: str, spinejack: bool = False, id_: str = "draft-1") -> dict[str, Any]:
    cfg = default_config()
    sites = {lv: c for (_, c), lv in cfg.vertebra_levels().items()}
    res: dict[str, Any] = {"resourceType": "ServiceRequest", "id": id_, "status": "draft", "intent": "order",
                           "code": {"coding": [{"system": CPT, "code": code}]},
                           "subject": {"reference": "Patient/p1"},
                           "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": sites[lv]}]}
                                        for lv in levels]}
    if spinejack:
        res["orderDetail"] = [{"text": "SpineJack"}]
    return res


def cards_for(res: dict[str, Any], drafts: list[dict[str, Any]], hook: str = "order-select",
              config: Any = None) -> list[Any]:
    cfg = config or default_config()
    lines = [orders.read_order(d, cfg) for d in drafts]
    session = build_session(res, lines, cfg.rule_enabled)
    found = build_findings(session, max_levels=3, cpt_mismatch=orders.cpt_mismatch_levels(lines, cfg),
                           rule_enabled=cfg.rule_enabled)
    ctx = CardContext(config=cfg, profile=cfg.clinical.profile, version="v7", hook=hook, patient_id="p1",
                      encounter_id="e1", lines=lines, session=session)
    return [build_card(ctx, f) for f in found]


def by_id(cards: list[Any], card_id: str) -> list[Any]:
    return [c for c in cards if c.extension[FINDING_EXTENSION]["id"] == card_id]


def test_each_card_carries_its_finding_with_profile_and_config_version() -> None:
    cards = cards_for(results([indication("L1")], [], [technique("L1", [SJ, BKP, VP])]), [draft(["L1"], "22514", True)])
    finding = by_id(cards, "C-IND-MET")[0].extension[FINDING_EXTENSION]
    assert finding == {"id": "C-IND-MET", "rules": ["IND-OP"], "levels": ["L1"], "pathway": "osteoporotic",
                       "profile": "cms-lcd", "configVersion": "v7"}


def test_absolute_contraindication_is_critical_with_override_reasons_and_data_in_detail() -> None:
    res = results([indication("L1")], [{**ci("CI-A5", "L1", reason="coagulopathy"),
                                        "facts": [fact("inr", None, "1.9", "met", "> 1.8", "Observation/inr-1",
                                                       "2026-05-30T08:00:00+00:00")]}])
    card = by_id(cards_for(res, [draft(["L1"], "22514")]), "C-CI-ABS")[0]
    assert card.indicator == "critical"
    assert card.summary.startswith("Vertebral augmentation contraindicated at L1: Uncorrected coagulopathy")
    assert "until corrected" in card.detail and "CI-A5" in card.detail and "[V3]" in card.detail
    assert "| inr | - | 1.9 | 2026-05-30 | > 1.8 | met | Observation/inr-1 |" in card.detail
    assert {r.code for r in card.override_reasons} >= {"benefit-outweighs-risk", "corrected", "mdt-decision"}
    assert all(r.display and r.system for r in card.override_reasons)


def test_info_cards_carry_no_override_reasons() -> None:
    cards = cards_for(results([indication("L1")], [], [technique("L1", [SJ, BKP, VP])]),
                      [draft(["L1"], "22514", True)])
    assert all(c.override_reasons is None for c in cards if c.indicator == "info")


def test_technique_card_when_requested_is_rank_one_is_info_without_suggestion() -> None:
    cards = cards_for(results([indication("L1")], [], [technique("L1", [SJ, BKP, VP])]), [draft(["L1"], "22514", True)])
    tech = by_id(cards, "C-TECH")[0]
    assert tech.indicator == "info"
    assert tech.summary == "Suggested technique at L1: SpineJack (alt: Balloon kyphoplasty)"
    assert tech.suggestions is None
    # The seed comparison table and the evidence caveat are always in the detail (a.7, 1.9).
    assert "| SpineJack | High (controlled, bilateral)" in tech.detail
    assert "Cochrane" in tech.detail and "SAKOS" in tech.detail


def test_requested_technique_not_rank_one_gets_a_replacement_suggestion() -> None:
    cards = cards_for(results([indication("L1")], [], [technique("L1", [SJ, BKP, VP])]), [draft(["L1"], "22514")])
    tech = by_id(cards, "C-TECH")[0]
    assert tech.indicator == "info"  # simply not rank 1: neither excluded nor deprioritized
    (suggestion,) = tech.suggestions
    assert tech.selection_behavior == "at-most-one"
    kinds = [(a.type, a.resource_id) for a in suggestion.actions]
    assert kinds == [("delete", "ServiceRequest/draft-1"), ("create", None)]
    created = suggestion.actions[1].resource
    assert created["code"]["coding"][0]["code"] == "22514"
    assert created["orderDetail"][0]["coding"][0]["code"] == "C1062"
    assert created["subject"] == {"reference": "Patient/p1"}
    assert created["bodySite"][0]["coding"][0]["code"] == "66794005"


def test_excluded_requested_technique_makes_the_technique_card_a_warning() -> None:
    res = results([indication("T6")], [], [technique("T6", [BKP, VP], "reduction-target-spinejack-excluded",
                                                      excluded=[(SJ, "outside-spinejack-levels")])])
    tech = by_id(cards_for(res, [draft(["T6"], "22513", True)]), "C-TECH")[0]
    assert tech.indicator == "warning"
    assert "SpineJack range" in tech.detail
    assert tech.override_reasons


def test_malignant_technique_card_mentions_thermal_ablation_under_imaging_guidance() -> None:
    res = results([indication("L2", rule="IND-MAL", pathway="malignant")], [],
                  [{**technique("L2", [BKP, SJ, VP], "malignant"), "pathway": "malignant"}])
    tech = by_id(cards_for(res, [draft(["L2"], "22514")]), "C-TECH")[0]
    assert "thermal ablation" in tech.detail and "CT and fluoroscopic guidance" in tech.detail


def test_provisional_technique_says_what_it_is_pending() -> None:
    res = results([indication("L1", "indeterminate", missing=["acuity-imaging"])], [],
                  [technique("L1", [SJ, BKP, VP])])
    cards = cards_for(res, [draft(["L1"], "22514", True)])
    tech = by_id(cards, "C-TECH")[0]
    assert "Provisional, pending: acuity-imaging" in tech.detail
    missing = by_id(cards, "C-MISSING")[0]
    assert missing.summary == "Cannot evaluate L1: missing acuity imaging"
    (mri,) = missing.suggestions
    assert missing.selection_behavior == "any"
    assert [a.resource["code"]["coding"][0]["code"] for a in mri.actions] == ["72148"]


def test_missing_inr_is_info_at_select_and_blocking_warning_at_sign() -> None:
    res = results([indication("L1")], [ci("CI-A5", "L1", present=None, missing=["inr"])])
    select = by_id(cards_for(res, [draft(["L1"], "22514")]), "C-MISSING")[0]
    sign = by_id(cards_for(res, [draft(["L1"], "22514")], hook="order-sign"), "C-MISSING")[0]
    assert select.indicator == "info" and sign.indicator == "warning"
    assert "Signing requires" in sign.detail and "Signing requires" not in select.detail
    codes = {a.resource["code"]["coding"][0]["code"] for a in sign.suggestions[0].actions}
    assert {"6301-6", "58410-2"} <= codes


def test_bmd_documentation_card_suggests_a_dxa_order() -> None:
    res = results([indication("L1")], **{"Documentation": [{"rule": "DOC-BMD", "levels": ["L1"], "facts": []}]})
    doc = by_id(cards_for(res, [draft(["L1"], "22514", True)]), "C-DOC")[0]
    assert doc.indicator == "info"
    assert doc.suggestions[0].actions[0].resource["code"]["coding"][0]["code"] == "77080"


def test_missing_level_card_names_no_level() -> None:
    cfg = default_config()
    ctx = CardContext(config=cfg, profile="cms-lcd", version="v1", hook="order-select", patient_id="p1",
                      encounter_id=None, lines=[], session=None)
    card = build_card(ctx, missing_level_finding())
    assert card.summary == "Cannot evaluate the order: missing vertebral level"
    assert "Specify vertebral level(s)" in card.detail


def test_site_text_override_replaces_summary_and_appends_detail() -> None:
    cfg = build_config({"cards": {"text_overrides": {"C-IND-MET": {
        "summary": "Criteria met at ${levels} - see the spine pathway", "detail": "Call the spine team on 4455."}}}})
    cards = cards_for(results([indication("L1")]), [draft(["L1"], "22514", True)], config=cfg)
    met = by_id(cards, "C-IND-MET")[0]
    assert met.summary == "Criteria met at L1 - see the spine pathway"
    assert met.detail.endswith("Call the spine team on 4455.")


@pytest.mark.parametrize("levels, text", [(["L1"], "L1"), (["T12", "L1"], "T12, L1"),
                                          (["L1", "L2", "L3", "L4"], "L1-L4"), (["T3", "L1", "L2"], "T3, L1, L2")])
def test_levels_are_written_compactly(levels: list[str], text: str) -> None:
    assert levels_text(levels) == text


def test_every_summary_stays_under_140_characters() -> None:
    many = [f"T{i}" for i in range(5, 13)] + ["L1", "L3", "L5"]
    res = results([indication(lv, "not met", failed=["worsening-or-secondary"]) for lv in many],
                  [ci("CI-R6", lv, reason="access") for lv in many])
    for card in cards_for(res, [draft(many, "22513")]):
        assert len(card.summary) < 140


def test_every_suggested_order_is_a_valid_r4_service_request() -> None:
    from cds_service.fhir.resources import validate_resource

    res = results([indication("L1"), indication("T12", "indeterminate", missing=["acuity-imaging"])],
                  [ci("CI-A5", "L1", present=None, missing=["inr", "platelets"])],
                  [technique("L1", [SJ, BKP, VP]), technique("T12", [SJ, BKP, VP])],
                  **{"Documentation": [{"rule": "DOC-BMD", "levels": ["L1"], "facts": []}]})
    cards = cards_for(res, [draft(["L1"], "22514", id_="d-l1"), draft(["T12"], "22513", True, id_="d-t12")])
    created = [a.resource for c in cards for s in c.suggestions or () for a in s.actions or () if a.type == "create"]
    codes = sorted(r["code"]["coding"][0]["code"] for r in created)
    assert codes == sorted(["22514", "5902-2", "58410-2", "6301-6", "72146", "77080"])
    for resource in created:
        assert validate_resource(resource) == [], resource
