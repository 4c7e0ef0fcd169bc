"""Services layer: a.4 severity precedence per level, a.8 session rules and section-0 findings from CQL results."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.admin.config import default_config
from cds_service.services.vertebral import orders
from cds_service.services.vertebral.findings import build_findings, build_session, plain

from vertebral_results import ci, indication, results, technique

SJ, BKP, VP = "spinejack", "kyphoplasty", "vertebroplasty"


def always(_: str) -> bool:
    return True


def lines_for(levels: list[str], code: str = "22514", spinejack: bool = True) -> list[orders.OrderLine]:
    cfg = default_config()
    sites = {lv: code_ for (_, code_), lv in cfg.vertebra_levels().items()}
    res: dict[str, Any] = {"resourceType": "ServiceRequest", "id": "d1", "code": {"coding": [
        {"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
        "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": sites[lv]}]} for lv in levels]}
    if spinejack:
        res["orderDetail"] = [{"text": "SpineJack"}]
    return [orders.read_order(res, cfg)]


def findings_of(res: dict[str, Any], levels: list[str], max_levels: int = 3, **kw: Any) -> list[dict[str, Any]]:
    session = build_session(res, lines_for(levels), kw.pop("rule_enabled", always))
    return build_findings(session, max_levels=max_levels, cpt_mismatch=kw.pop("cpt_mismatch", []),
                          rule_enabled=kw.pop("enabled", always))


def ids(findings: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return sorted((f["id"], tuple(f["rules"]), tuple(f["levels"])) for f in findings)


@pytest.mark.parametrize("cis, ind_status, expected", [
    ([ci("CI-A1", "L1")], "indeterminate", "ci-absolute"),
    ([ci("CI-R2", "L1")], "indeterminate", "indeterminate"),
    ([ci("CI-R2", "L1")], "not met", "not-met"),
    ([ci("CI-R2", "L1")], "met", "ci-relative"),
    ([], "met", "indicated"),
    ([ci("CI-A5", "L1", present=None, missing=["inr"])], "met", "indicated"),
])
def test_level_status_follows_the_a4_precedence(cis: list[dict[str, Any]], ind_status: str, expected: str) -> None:
    session = build_session(results([indication("L1", ind_status)], cis), lines_for(["L1"]), always)
    assert session.levels[0].status == expected


def test_absolute_contraindication_keeps_the_indication_card_but_no_technique() -> None:
    res = results([indication("L1")], [ci("CI-A1", "L1")], [technique("L1", [SJ, BKP, VP])])
    assert ids(findings_of(res, ["L1"])) == [("C-CI-ABS", ("CI-A1",), ("L1",)), ("C-IND-MET", ("IND-OP",), ("L1",))]


def test_patient_level_contraindication_lists_every_level_on_one_card() -> None:
    res = results([indication("T12"), indication("L1")], [ci("CI-A5", "T12"), ci("CI-A5", "L1")])
    abs_cards = [f for f in findings_of(res, ["T12", "L1"]) if f["id"] == "C-CI-ABS"]
    assert abs_cards == [{"id": "C-CI-ABS", "rules": ["CI-A5"], "levels": ["T12", "L1"]}]


def test_levels_sharing_a_technique_share_one_card_and_differing_ones_do_not() -> None:
    res = results([indication("T3"), indication("L1"), indication("L2")], [],
                  [technique("T3", [VP, BKP], "upper-thoracic"), technique("L1", [SJ, BKP, VP]),
                   technique("L2", [SJ, BKP, VP])])
    tech = sorted((f["levels"], f["ranking"]) for f in findings_of(res, ["T3", "L1", "L2"]) if f["id"] == "C-TECH")
    assert tech == [(["L1", "L2"], [SJ, BKP, VP]), (["T3"], [VP, BKP])]


def test_missing_indication_input_gives_missing_card_and_provisional_technique() -> None:
    res = results([indication("L1", "indeterminate", missing=["pain-score"])], [], [technique("L1", [SJ, BKP, VP])])
    found = findings_of(res, ["L1"])
    assert {"id": "C-MISSING", "rules": ["IND-OP"], "levels": ["L1"], "missing": ["pain-score"]} in found
    tech = [f for f in found if f["id"] == "C-TECH"]
    assert tech == [{"id": "C-TECH", "rules": ["IND-OP"], "levels": ["L1"], "ranking": [SJ, BKP, VP],
                     "requested": SJ, "provisional": True}]
    assert not [f for f in found if f["id"].startswith("C-IND")]


def test_missing_hemostasis_is_its_own_card_naming_ci_a5_and_does_not_make_technique_provisional() -> None:
    res = results([indication("L1")], [ci("CI-A5", "L1", present=None, missing=["inr"])],
                  [technique("L1", [SJ, BKP, VP])])
    found = findings_of(res, ["L1"])
    assert {"id": "C-MISSING", "rules": ["CI-A5"], "levels": ["L1"], "missing": ["inr"]} in found
    assert [f.get("provisional") for f in found if f["id"] == "C-TECH"] == [None]


def test_level_count_counts_only_levels_still_in_play() -> None:
    four = ["L1", "L2", "L3", "L4"]
    all_ok = results([indication(lv) for lv in four])
    assert ("C-CI-REL", ("CI-R1",), tuple(four)) in ids(findings_of(all_ok, four))
    one_out = results([indication(lv) for lv in four[:3]] + [indication("L4", "not met")])
    assert not [f for f in findings_of(one_out, four) if "CI-R1" in f["rules"]]


def test_level_count_threshold_comes_from_the_profile() -> None:
    three = ["L1", "L2", "L3"]
    res = results([indication(lv) for lv in three])
    assert not [f for f in findings_of(res, three, max_levels=3) if "CI-R1" in f["rules"]]
    assert [f["levels"] for f in findings_of(res, three, max_levels=2) if "CI-R1" in f["rules"]] == [three]


def test_not_met_level_gets_not_met_card_with_pathway_and_no_technique() -> None:
    res = results([indication("L1", "not met", failed=["acuity-time"])], [ci("CI-R5", "L1")],
                  [technique("L1", [SJ, BKP, VP])])
    found = findings_of(res, ["L1"])
    assert {"id": "C-IND-NOTMET", "rules": ["IND-OP"], "levels": ["L1"], "pathway": "osteoporotic"} in found
    assert ("C-CI-REL", ("CI-R5",), ("L1",)) in ids(found)
    assert not [f for f in found if f["id"] == "C-TECH"]


def test_traumatic_level_with_unstable_morphology_defers_to_ci_a8() -> None:
    res = results([indication("L1", "not met", rule="IND-TR", pathway="traumatic", failed=["ao-morphology"])],
                  [ci("CI-A8", "L1")],
                  **{"Coverage Notes": [{"rule": "COV-TRAUMATIC", "level": "L1", "pathway": "traumatic"}]})
    assert ids(findings_of(res, ["L1"])) == [("C-CI-ABS", ("CI-A8",), ("L1",))]


def test_coverage_card_only_where_indications_are_met() -> None:
    res = results([indication("L1", rule="IND-TR", pathway="traumatic"),
                   indication("L2", "not met", rule="IND-TR", pathway="traumatic")],
                  **{"Coverage Notes": [{"rule": "COV-TRAUMATIC", "level": lv, "pathway": "traumatic"}
                                        for lv in ("L1", "L2")]})
    cov = [f for f in findings_of(res, ["L1", "L2"]) if f["id"] == "C-COVERAGE"]
    assert cov == [{"id": "C-COVERAGE", "rules": ["COV-TRAUMATIC"], "levels": ["L1"]}]


def test_disabled_rule_produces_no_card_and_does_not_block() -> None:
    res = results([indication("L1")], [ci("CI-A1", "L1")], [technique("L1", [SJ, BKP, VP])])
    session = build_session(res, lines_for(["L1"]), lambda rule: rule != "CI-A1")
    found = build_findings(session, max_levels=3, cpt_mismatch=[], rule_enabled=lambda rule: rule != "CI-A1")
    assert ids(found) == [("C-IND-MET", ("IND-OP",), ("L1",)), ("C-TECH", ("IND-OP",), ("L1",))]


def test_sins_missing_and_cpt_mismatch_and_docs_are_separate_findings() -> None:
    res = results([indication("L2", rule="IND-MAL", pathway="malignant")], [], [],
                  **{"Levels Missing SINS": ["L2"],
                     "Documentation": [{"rule": "DOC-CODING", "levels": ["L2"], "facts": []}]})
    found = ids(findings_of(res, ["L2"], cpt_mismatch=["L2"]))
    assert ("C-MISSING", ("CI-R10", "CI-R9"), ("L2",)) in found
    assert ("C-DOC", ("DOC-CODING",), ("L2",)) in found
    assert ("C-DOC", ("CPT-MISMATCH",), ("L2",)) in found


def test_plain_turns_cql_values_into_json_values() -> None:
    from decimal import Decimal

    from cds_service.cql.types import DateTime, Tuple

    value = plain([Tuple(a=DateTime(2026, 6, 1, 12, 0, 0, 0, Decimal(0)), b=[Tuple(c=Decimal("1.5"))])])
    assert value[0]["b"] == [{"c": Decimal("1.5")}]
    assert value[0]["a"].startswith("2026-06-01T12:00")
