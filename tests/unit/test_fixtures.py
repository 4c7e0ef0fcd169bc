"""Tests of the fixtures layer: every scenario is valid FHIR R4, complete, current, and covers the spec."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from fhir_fixtures import build, compare, loader
from fhir_fixtures.model import ANCHOR

NAMES = loader.names()
CARD_IDS = {"C-CI-ABS", "C-CI-REL", "C-IND-NOTMET", "C-IND-MET", "C-TECH", "C-MISSING", "C-COVERAGE", "C-DOC"}
RULE_IDS = ({f"CI-A{i}" for i in range(1, 9)} | {f"CI-R{i}" for i in range(1, 11)}
            | {"IND-OP", "IND-MAL", "IND-TR", "IND-HEM", "IND-PROPH", "IND-RANGE", "COV-TRAUMATIC",
               "COV-HEMANGIOMA", "DOC-BMD", "DOC-CODING", "DOC-ADJACENT", "DOC-REFRACTURE",
               "DOC-UPPER-THORACIC", "CPT-MISMATCH"})
MISSING_INPUTS = {"level", "pain-score", "acuity-imaging", "onset-date", "inr", "platelets", "pregnancy-status",
                  "nsm", "morphology", "etiology", "sins", "dxa"}
TECHNIQUES = {"spinejack", "kyphoplasty", "vertebroplasty"}
LEVEL = re.compile(r"^(C[1-7]|T([1-9]|1[0-2])|L[1-5]|S[1-5])$")


def _json(name: str, file: str) -> Any:
    return json.loads((loader.ROOT / name / file).read_text())


def test_there_is_a_fixture_per_scenario_and_no_orphan_folder() -> None:
    assert len(NAMES) >= 100
    assert NAMES == sorted(s.name for s in build.build_all())


def test_committed_json_is_what_build_py_generates(tmp_path: Path) -> None:
    # The JSON is generated; hand edits (or a forgotten rebuild) would make the oracle drift from build.py.
    build.write(tmp_path)
    stale = ["INDEX.md"] if (tmp_path / "INDEX.md").read_text() != (loader.ROOT / "INDEX.md").read_text() else []
    stale += [f"{n}/{f}" for n in NAMES for f in ("bundle.json", "request.json", "expected.json")
             if (tmp_path / n / f).read_text() != (loader.ROOT / n / f).read_text()]
    assert not stale, f"run `python -m fhir_fixtures.build`; stale: {stale[:10]}"


@pytest.mark.parametrize("name", NAMES)
def test_bundle_and_draft_orders_validate_as_fhir_r4(name: str) -> None:
    bundle = _json(name, "bundle.json")
    assert bundle["type"] == "transaction"
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    drafts = _json(name, "request.json")["context"]["draftOrders"]
    Bundle.model_validate(drafts)
    for entry in drafts["entry"]:
        get_fhir_model_class("ServiceRequest").model_validate(entry["resource"])


def test_the_validation_used_above_rejects_an_invalid_resource() -> None:
    bundle = _json(NAMES[0], "bundle.json")
    obs = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    # fhir.resources checks structure and datatypes (not code bindings): prove it rejects broken resources.
    broken: dict[str, Any]
    for broken in ({"valueQuantity": "30 %"}, {"effectiveDateTime": "2026-13-45"}, {"bodysite": {}}):
        with pytest.raises(ValidationError):
            get_fhir_model_class("Observation").model_validate({**obs, **broken})


def test_ids_are_not_numeric_and_unique_across_all_fixtures() -> None:
    # All fixtures are loaded into one FHIR server by the golden tests: a shared id would overwrite.
    seen: dict[str, str] = {}
    for name in NAMES:
        refs = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in _json(name, "bundle.json")["entry"]]
        refs += [f"ServiceRequest/{e['resource']['id']}"
                 for e in _json(name, "request.json")["context"]["draftOrders"]["entry"]]
        for ref in refs:
            rid = ref.split("/", 1)[1]
            assert not rid.isdigit() and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", rid), ref
            assert seen.setdefault(ref, name) == name, f"{ref} in both {seen[ref]} and {name}"


@pytest.mark.parametrize("name", NAMES)
def test_request_points_at_the_record(name: str) -> None:
    request, expected = _json(name, "request.json"), _json(name, "expected.json")
    resources = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in _json(name, "bundle.json")["entry"]}
    ctx = request["context"]
    assert request["hook"] == expected["hook"] in ("order-select", "order-sign")
    assert f"Patient/{ctx['patientId']}" in resources and f"Encounter/{ctx['encounterId']}" in resources
    drafts = [e["resource"] for e in ctx["draftOrders"]["entry"]]
    assert all(d["subject"]["reference"] == f"Patient/{ctx['patientId']}" and d["status"] == "draft" for d in drafts)
    if request["hook"] == "order-select":
        assert ctx["selections"] == [f"ServiceRequest/{d['id']}" for d in drafts]
    else:
        assert "selections" not in ctx


@pytest.mark.parametrize("name", NAMES)
def test_expected_findings_follow_the_section_0_contract(name: str) -> None:
    expected = _json(name, "expected.json")
    assert expected["description"].strip() and "\n" not in expected["description"]
    for f in expected["findings"]:
        assert f["id"] in CARD_IDS
        assert f["rules"] is not None and set(f["rules"]) <= RULE_IDS, f
        assert all(LEVEL.match(lv) for lv in f["levels"]) and f["levels"] == build.sort_levels(f["levels"])
        assert f["profile"] == expected["profile"]
        assert ("pathway" in f) == (f["id"] in ("C-IND-MET", "C-IND-NOTMET"))
        assert ("ranking" in f) == ("requested" in f) == (f["id"] == "C-TECH")
        assert ("missing" in f) == (f["id"] == "C-MISSING")
        if f["id"] == "C-TECH":
            assert set(f["ranking"]) <= TECHNIQUES and len(set(f["ranking"])) == len(f["ranking"])
            assert f["requested"] in TECHNIQUES
        if f["id"] == "C-MISSING":
            assert f["missing"] and set(f["missing"]) <= MISSING_INPUTS
    # One card per distinct finding.
    keys = [compare.canonical(f) for f in expected["findings"]]
    assert len(keys) == len(set(keys))


def test_every_rule_and_missing_input_of_the_spec_is_exercised() -> None:
    findings = [f for n in NAMES for f in _json(n, "expected.json")["findings"]]
    assert RULE_IDS <= {r for f in findings for r in f["rules"]}
    # dxa: a missing DXA is reported as the C-DOC DOC-BMD card (section 0), not as C-MISSING.
    assert MISSING_INPUTS - {"dxa"} <= {m for f in findings for m in f.get("missing", [])}
    assert CARD_IDS <= {f["id"] for f in findings}
    assert {"cms-lcd", "commercial-6wk", "evicore"} == {_json(n, "expected.json")["profile"] for n in NAMES}
    assert {"osteoporotic", "malignant", "traumatic", "hemangioma", "prophylactic"} <= {
        f["pathway"] for f in findings if "pathway" in f}
    assert any(f.get("provisional") for f in findings)


def test_loader_shifts_every_date_by_the_same_offset() -> None:
    now = ANCHOR + timedelta(days=173, hours=7, minutes=5, seconds=9, microseconds=700)
    raw = _json("ind-op-acute-41d", "bundle.json")
    fx = loader.load("ind-op-acute-41d", now=now)
    onset_raw = next(e["resource"]["onsetDateTime"] for e in raw["entry"] if e["resource"]["resourceType"] == "Condition")
    onset = next(r["onsetDateTime"] for r in loader.resources(fx) if r["resourceType"] == "Condition")
    assert onset_raw == "2026-04-21T12:00:00Z"
    moved = datetime.fromisoformat(onset.replace("Z", "+00:00"))
    assert now - moved == timedelta(days=41, microseconds=700)  # whole seconds shifted; 41 days ago
    assert (now.date() - moved.date()).days == 41
    birth_raw = next(e["resource"]["birthDate"] for e in raw["entry"] if e["resource"]["resourceType"] == "Patient")
    birth = next(r["birthDate"] for r in loader.resources(fx) if r["resourceType"] == "Patient")
    assert date.fromisoformat(birth) - date.fromisoformat(birth_raw) == timedelta(days=173)
    draft = fx.request["context"]["draftOrders"]["entry"][0]["resource"]
    assert draft["authoredOn"] == (ANCHOR + timedelta(days=173, hours=7, minutes=5, seconds=9)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    # Codes and ids are left alone, and the fixture on disk is not modified.
    assert fx.request["context"]["draftOrders"]["entry"][0]["resource"]["code"]["coding"][0]["code"] == "22514"
    assert _json("ind-op-acute-41d", "bundle.json") == raw


def test_loader_gives_each_call_a_fresh_hook_instance_and_rejects_naive_now() -> None:
    a, b = loader.load("ci-a1-sepsis"), loader.load("ci-a1-sepsis")
    assert a.request["hookInstance"] != b.request["hookInstance"]
    with pytest.raises(ValueError):
        loader.shift({}, datetime(2026, 1, 1))
    with pytest.raises(FileNotFoundError):
        loader.load("no-such-fixture")


def test_loader_keeps_day_counts_across_midnight() -> None:
    # The service counts calendar days in UTC: 23:59 and 00:01 "now" must both see the fracture 84 days old.
    for now in (datetime(2027, 3, 1, 0, 1, tzinfo=UTC), datetime(2027, 3, 1, 23, 59, tzinfo=UTC)):
        fx = loader.load("ind-op-subacute-84d", now=now)
        onset = next(r["onsetDateTime"] for r in loader.resources(fx) if r["resourceType"] == "Condition")
        assert (now.date() - date.fromisoformat(onset[:10])).days == 84


def test_compare_ignores_order_and_config_version_but_not_content() -> None:
    expected = _json("ci-a1-sepsis", "expected.json")["findings"]
    actual = [{**f, "configVersion": "v7"} for f in reversed(expected)]
    assert compare.diff(expected, actual) == []
    wrong = [dict(actual[0], levels=["L2"]), actual[1]]
    problems = compare.diff(expected, wrong)
    assert any(p.startswith("missing:") for p in problems) and any(p.startswith("unexpected:") for p in problems)
    assert compare.diff(expected, actual[:1])  # a card that is not returned is a failure
    assert compare.diff([{"id": "C-TECH", "rules": [], "levels": ["L1"], "ranking": ["a", "b"]}],
                        [{"id": "C-TECH", "rules": [], "levels": ["L1"], "ranking": ["b", "a"]}])  # order matters


def test_compare_checks_the_indicator_only_where_a_fixture_states_it() -> None:
    expected = [f for f in _json("missing-inr-sign-blocking", "expected.json")["findings"]]
    cards = [{"indicator": "warning" if f["id"] == "C-MISSING" else "info",
              "extension": {compare.FINDING_EXTENSION: {k: v for k, v in f.items() if k != "indicator"}}}
             for f in expected]
    assert compare.diff(expected, compare.findings_from_cards(cards)) == []
    cards[[f["id"] for f in expected].index("C-MISSING")]["indicator"] = "info"
    assert any(p.startswith("indicator:") for p in compare.diff(expected, compare.findings_from_cards(cards)))
