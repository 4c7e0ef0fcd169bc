"""The vertebral augmentation service entries: ids, hooks, prefetch, and which draft orders trigger the logic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.admin.config import ActiveConfig, build_config, default_config
from cds_service.fhir.record import PatientRecord
from cds_service.services.registry import PREFETCH_FIELDS, HookCall, default_registry
from cds_service.services.vertebral.service import SELECT, SIGN, handle, vertebral_augmentation_orders
from cds_service.wire.discovery import check_template

CPT = "http://www.ama-assn.org/go/cpt"


def order(oid: str, system: str, code: str, resource_type: str = "ServiceRequest") -> dict[str, Any]:
    return {"resourceType": resource_type, "id": oid, "status": "draft", "intent": "order",
            "code": {"coding": [{"system": system, "code": code}]}, "subject": {"reference": "Patient/p1"}}


def call(hook: str, drafts: list[dict[str, Any]], selections: list[str] | None = None,
         active: ActiveConfig | None = None) -> HookCall:
    return HookCall(service_id="x", hook=hook, hook_instance="h-1", patient_id="p1", encounter_id=None,
                    user_id="Practitioner/d1", selections=selections or [], draft_orders=drafts,
                    record=PatientRecord([]), now=datetime(2026, 5, 1, tzinfo=UTC),
                    config=active or ActiveConfig(default_config(), "v-test"))


def test_ids_hooks_and_spec_legal_prefetch() -> None:
    assert (SELECT.id, SELECT.hook) == ("vertebral-augmentation-select", "order-select")
    assert (SIGN.id, SIGN.hook) == ("vertebral-augmentation-sign", "order-sign")
    for template in SELECT.prefetch.values():
        check_template(template, PREFETCH_FIELDS["order-select"])
        assert "draftOrders" not in template and "today" not in template
    assert SELECT.required_prefetch <= set(SELECT.prefetch)


def test_default_registry_offers_exactly_the_two_services() -> None:
    assert [s.id for s in default_registry()] == ["vertebral-augmentation-select", "vertebral-augmentation-sign"]


@pytest.mark.parametrize("code,system,found", [
    ("22514", CPT, True),                                   # kyphoplasty / augmentation, lumbar
    ("22511", CPT, True),                                   # vertebroplasty
    ("XNU0356", "http://www.cms.gov/Medicare/Coding/ICD10", True),  # SpineJack inpatient PCS
    ("72148", CPT, False),                                  # MRI lumbar: not an augmentation
    ("22514", "http://example.org/other-system", False),    # right code, wrong system
])
def test_orders_are_recognised_by_the_configured_value_set(code: str, system: str, found: bool) -> None:
    drafts = [order("d1", system, code)]
    assert bool(vertebral_augmentation_orders(call("order-sign", drafts))) is found


def test_order_select_focuses_on_the_selected_orders() -> None:
    drafts = [order("va-old", CPT, "22513"), order("mri", CPT, "72148")]
    assert vertebral_augmentation_orders(call("order-select", drafts, ["ServiceRequest/mri"])) == []
    assert [o["id"] for o in vertebral_augmentation_orders(call("order-sign", drafts))] == ["va-old"]


def test_other_resource_types_are_ignored() -> None:
    drafts = [order("m1", CPT, "22514", resource_type="MedicationRequest")]
    assert vertebral_augmentation_orders(call("order-sign", drafts)) == []


def test_hospital_value_set_changes_what_triggers() -> None:
    active = ActiveConfig(build_config({"valuesets": {"VS-PROC-VA": {"codes": ["cpt|22514"]}}}), "v-site")
    assert vertebral_augmentation_orders(call("order-sign", [order("d1", CPT, "22511")], active=active)) == []
    assert vertebral_augmentation_orders(call("order-sign", [order("d1", CPT, "22514")], active=active))


def test_no_augmentation_order_means_no_cards() -> None:
    result = handle(call("order-sign", [order("mri", CPT, "72148")]))
    assert result.cards == [] and result.findings == []
