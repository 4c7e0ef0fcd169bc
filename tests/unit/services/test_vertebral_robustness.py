"""Real records carry bad data: a malformed date or number in one resource must not cost the clinician the card.

The FHIR layer reads a malformed primitive as unknown (null); the logic then reports the value as missing
instead of the hook failing with a 500. These tests corrupt the fixtures' own resources the way EHR data
goes wrong (impossible calendar dates, text where a number belongs, wrong shapes) and check the handler
still answers, and that the corrupted fact is treated as missing rather than silently as present.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.admin.config import ActiveConfig, default_config
from cds_service.fhir.record import PatientRecord
from cds_service.services.registry import HookCall
from cds_service.services.vertebral.service import SERVICES
from fhir_fixtures import loader

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
FIXTURE = "ci-a1-bacteremia-two-levels"
CONFIG = ActiveConfig(default_config(), "v-robustness")


def _run(fx: loader.Fixture, resources: list[dict[str, Any]]) -> list[Any]:
    ctx = fx.request["context"]
    call = HookCall(service_id=fx.service_id, hook=fx.hook, hook_instance="h-robust", patient_id=ctx["patientId"],
                    encounter_id=None, user_id=None, selections=list(ctx.get("selections", [])),
                    draft_orders=[e["resource"] for e in ctx["draftOrders"]["entry"]],
                    record=PatientRecord(resources), now=NOW, config=CONFIG)
    service = {s.id: s for s in SERVICES}[fx.service_id]
    return list(service.handler(call).cards)


def _summaries(cards: list[Any]) -> str:
    return " | ".join(c.summary for c in cards)


@pytest.mark.parametrize("field,value", [
    ("onsetDateTime", "2026-13-45"),        # impossible month and day
    ("effectiveDateTime", "2026-02-30"),    # impossible day
    ("effectiveDateTime", "yesterday"),     # not a date at all
    ("valueQuantity", {"value": "abc", "unit": "mg"}),
    ("valueQuantity", {"value": "NaN"}),
    ("recordedDate", 20260601),             # a number where a string belongs
])
def test_a_malformed_value_in_the_record_is_unknown_not_a_failure(field: str, value: Any) -> None:
    fx = loader.load(FIXTURE, now=NOW)
    bad = copy.deepcopy(loader.resources(fx))
    for resource in bad:
        if resource["resourceType"] in ("Condition", "Observation"):
            resource[field] = value
    cards = _run(fx, bad)
    assert cards, "the handler must still answer with cards"
    # The patient-level blocker (bacteremia, a Condition) does not depend on the corrupted dates.
    assert "contraindicated" in _summaries(cards)


def test_corrupted_acuity_dates_are_reported_as_missing_acuity_imaging() -> None:
    fx = loader.load(FIXTURE, now=NOW)
    assert "acuity imaging" not in _summaries(_run(fx, loader.resources(fx)))
    bad = copy.deepcopy(loader.resources(fx))
    for resource in bad:
        if resource["resourceType"] == "Condition":
            resource["onsetDateTime"] = "2026-13-45"
    assert "missing acuity imaging" in _summaries(_run(fx, bad))


_JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=6), st.text(max_size=6),
                                                                      max_size=2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_junk_in_any_field_never_escapes_the_handler(data: st.DataObject) -> None:
    fx = loader.load(FIXTURE, now=NOW)
    bad = copy.deepcopy(loader.resources(fx))
    victim = data.draw(st.sampled_from([r for r in bad if r["resourceType"] != "Patient"]))
    field = data.draw(st.sampled_from(sorted(k for k in victim if k not in ("resourceType", "id"))))
    victim[field] = data.draw(_JUNK)
    _run(fx, bad)  # any exception fails the test
