"""Domain layer: the two vertebral augmentation CDS services (order-select, order-sign) and their handler.

The handler recognises vertebral augmentation orders among the draft orders (ServiceRequest.code in the
configured value set VS-PROC-VA), answers `{"cards": []}` when there is none, and otherwise hands the
orders to the clinical logic (`logic.evaluate`).
"""

from __future__ import annotations

from typing import Any

from cds_service.services.registry import CdsService, HandlerResult, HookCall

VA_ORDER_VALUESET = "VS-PROC-VA"
SELECT_ID = "vertebral-augmentation-select"
SIGN_ID = "vertebral-augmentation-sign"

# Spec a.2 inputs I1-I17. CDS Hooks 2.0 tokens only (no draftOrders, no today()): date windows are applied
# by the logic, so searches are unbounded in time and the client may page them.
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "encounter": "Encounter/{{context.encounterId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&_sort=-date&_count=200",
    "procedures": "Procedure?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "serviceRequests": "ServiceRequest?patient={{context.patientId}}",
    "deviceRequests": "DeviceRequest?patient={{context.patientId}}",
}
# Without demographics, diagnoses and observations no finding can be trusted: 412 rather than guess.
# The rest degrades to "missing data" cards when it cannot be had.
REQUIRED_PREFETCH = frozenset({"patient", "conditions", "observations"})


def _codings(resource: dict[str, Any]) -> list[dict[str, Any]]:
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    return [c for c in codings or () if isinstance(c, dict)]


def vertebral_augmentation_orders(call: HookCall) -> list[dict[str, Any]]:
    """Draft ServiceRequests whose code is in VS-PROC-VA; on order-select, only the selected ones."""
    valueset = call.config.config.expand_valueset(VA_ORDER_VALUESET)
    # order-select guidance focuses on the newly selected orders (CDS Hooks library, order-select).
    selected = set(call.selections) if call.hook == "order-select" and call.selections else None
    orders: list[dict[str, Any]] = []
    for resource in call.draft_orders:
        if resource.get("resourceType") != "ServiceRequest":
            continue
        if selected is not None and f"ServiceRequest/{resource.get('id')}" not in selected:
            continue
        if any(valueset.contains(c.get("system"), c.get("code")) for c in _codings(resource)):
            orders.append(resource)
    return orders


def handle(call: HookCall) -> HandlerResult:
    orders = vertebral_augmentation_orders(call)
    if not orders:
        return HandlerResult(cards=[], findings=[])
    from cds_service.services.vertebral import logic

    return logic.evaluate(call, orders)


def _ready(active: Any) -> None:
    from cds_service.services.vertebral import logic

    logic.ensure_ready(active)


_DESCRIPTION = (
    "Checks a vertebral augmentation order (vertebroplasty, balloon kyphoplasty, SpineJack) against "
    "indications and contraindications per vertebral level, and recommends a technique."
)

SELECT = CdsService(
    id=SELECT_ID, hook="order-select", title="Vertebral augmentation advisor",
    description=_DESCRIPTION + " Advisory, as the order is selected.",
    prefetch=PREFETCH, required_prefetch=REQUIRED_PREFETCH, handler=handle, readiness=_ready,
    usage_requirements="Send fhirServer and fhirAuthorization, or satisfy the prefetch templates.",
)
SIGN = CdsService(
    id=SIGN_ID, hook="order-sign", title="Vertebral augmentation check at signing",
    description=_DESCRIPTION + " Final check, as the order is signed.",
    prefetch=PREFETCH, required_prefetch=REQUIRED_PREFETCH, handler=handle, readiness=_ready,
    usage_requirements="Send fhirServer and fhirAuthorization, or satisfy the prefetch templates.",
)
SERVICES: tuple[CdsService, ...] = (SELECT, SIGN)
