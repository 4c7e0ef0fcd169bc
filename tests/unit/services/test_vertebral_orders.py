"""Services layer: reading vertebral augmentation draft orders: levels (a.1), requested technique, CPT consistency (a.8)."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.admin.config import build_config, default_config
from cds_service.services.vertebral import orders

CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
L1, T12 = "66794005", "23215003"


def order(code: str, sites: list[str] | None = None, system: str = CPT, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "ServiceRequest", "id": "draft-1", "status": "draft", "intent": "order",
                           "code": {"coding": [{"system": system, "code": code}]},
                           "subject": {"reference": "Patient/p1"}}
    if sites:
        res["bodySite"] = [{"coding": [{"system": SNOMED, "code": c}]} for c in sites]
    res.update(extra)
    return res


@pytest.fixture(scope="module")
def config() -> Any:
    return default_config()


def test_levels_come_from_snomed_body_sites_sorted_head_to_tail(config: Any) -> None:
    line = orders.read_order(order("22514", [L1, T12]), config)
    assert line.levels == ("T12", "L1")
    assert line.level_source == "bodySite"


def test_level_text_in_note_is_the_fallback_when_body_site_is_absent(config: Any) -> None:
    line = orders.read_order(order("22514", note=[{"text": "Vertebral level: L1"}]), config)
    assert line.levels == ("L1",)
    assert line.level_source == "text"


def test_level_text_in_order_detail_and_ranges_name_both_ends(config: Any) -> None:
    line = orders.read_order(order("22513", orderDetail=[{"text": "levels t11 - L1"}]), config)
    assert line.levels == ("T11", "L1")


def test_order_without_any_level_reports_none(config: Any) -> None:
    line = orders.read_order(order("22514", note=[{"text": "painful fracture, see MRI"}]), config)
    assert line.levels == ()
    assert line.level_source == "none"


def test_text_that_names_no_real_vertebra_is_ignored() -> None:
    assert orders.levels_from_text(["L9 and T13 are not vertebrae; S2 is"]) == ["S2"]


def test_body_site_codes_follow_the_configured_value_set() -> None:
    # A site remaps L1 to a local code: the order's level must follow the configuration, not a table in code.
    cfg = build_config({"valuesets": {"VS-BODYSITE-VERTEBRA": {
        "codes": ["http://hospital.example/sites|V-L1"], "levels": {"V-L1": "L1"}}}})
    draft = order("22514") | {"bodySite": [{"coding": [{"system": "http://hospital.example/sites", "code": "V-L1"}]}]}
    line = orders.read_order(draft, cfg)
    assert line.levels == ("L1",)


@pytest.mark.parametrize("code, expected", [("22510", "vertebroplasty"), ("22511", "vertebroplasty"),
                                            ("22512", "vertebroplasty"), ("22513", "kyphoplasty"),
                                            ("22514", "kyphoplasty"), ("22515", "kyphoplasty")])
def test_cpt_code_gives_the_requested_technique(config: Any, code: str, expected: str) -> None:
    assert orders.read_order(order(code, [L1]), config).technique == expected


@pytest.mark.parametrize("extra", [
    {"orderDetail": [{"coding": [{"system": HCPCS, "code": "C1062"}]}]},
    {"orderDetail": [{"text": "SpineJack implant, 5.0 mm"}]},
    {"note": [{"text": "Device: Spine-Jack"}]},
    {"orderDetail": [{"coding": [{"system": "http://example.org/fhir/CodeSystem/vertebral-augmentation",
                                  "code": "spinejack"}]}]},
    {"extension": [{"url": "http://hospital.example/device", "valueString": "SpineJack"}]},
])
def test_spinejack_hint_turns_an_augmentation_code_into_spinejack(config: Any, extra: dict[str, Any]) -> None:
    assert orders.read_order(order("22514", [L1], **extra), config).technique == "spinejack"


def test_icd10_pcs_new_technology_code_is_spinejack(config: Any) -> None:
    assert orders.read_order(order("XNU0356", [L1], system=PCS), config).technique == "spinejack"


def test_cpt_code_alone_never_means_spinejack(config: Any) -> None:
    assert orders.read_order(order("22513", [T12]), config).technique == "kyphoplasty"


def line(code: str, levels: list[str], config: Any) -> orders.OrderLine:
    return orders.read_order(order(code, [orders_site(lv, config) for lv in levels]), config)


def orders_site(level: str, config: Any) -> str:
    return {lv: code for (_, code), lv in config.vertebra_levels().items()}[level]


@pytest.mark.parametrize("code, level, mismatch", [
    ("22514", "T10", True), ("22513", "T10", False), ("22511", "T10", True), ("22510", "T10", False),
    ("22513", "L2", True), ("22514", "L2", False), ("22515", "L3", False), ("22512", "T5", False),
])
def test_cpt_region_must_match_the_body_site(config: Any, code: str, level: str, mismatch: bool) -> None:
    assert orders.cpt_mismatch_levels([line(code, [level], config)], config) == ([level] if mismatch else [])


def test_vertebroplasty_and_augmentation_at_the_same_body_is_a_mismatch(config: Any) -> None:
    lines = [line("22514", ["L1"], config), line("22511", ["L1"], config)]
    assert orders.cpt_mismatch_levels(lines, config) == ["L1"]


def test_replacement_lines_bill_first_level_by_region_then_add_ons() -> None:
    assert [(lv, code) for lv, code, _ in orders.replacement_codes("kyphoplasty", ["L2", "T12", "L1"])] == [
        ("T12", "22513"), ("L1", "22515"), ("L2", "22515")]
    assert [(lv, code) for lv, code, _ in orders.replacement_codes("vertebroplasty", ["L4"])] == [("L4", "22511")]


def test_billing_table_agrees_with_the_default_procedure_value_sets(config: Any) -> None:
    assert orders.check_billing_table(config) == []


def test_billing_table_disagreement_is_reported() -> None:
    cfg = build_config({"valuesets": {"VS-PROC-VP": {"codes": ["cpt|22510", "cpt|22511"]}}})
    assert orders.check_billing_table(cfg) == ["vertebroplasty: 22512 is not in VS-PROC-VP"]


def test_configuration_missing_a_value_set_the_logic_uses_is_refused_before_any_request() -> None:
    from cds_service.services.vertebral.engine import check_configuration, declared_valuesets

    cfg = default_config()
    assert "VS-DX-HEMANGIOMA" in declared_valuesets()
    assert check_configuration(cfg) == []
    trimmed = cfg.model_copy(update={"valuesets": {k: v for k, v in cfg.valuesets.items() if k != "VS-DX-HEMANGIOMA"}})
    assert check_configuration(trimmed) == [
        "value set VS-DX-HEMANGIOMA is used by the clinical logic but not configured"]
