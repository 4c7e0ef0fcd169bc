"""Test-only CDS services with predictable cards, so protocol tests never depend on the clinical logic.

Registered through `create_app(registry=...)` in unit tests and `CDS_SERVICE_MODULES=protocol_services`
for the served app. The card reports what the protocol layer handed to the handler: resource counts by
type, unavailable prefetch keys, draft orders and selections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_service.admin.config import build_config
from cds_service.admin.provider import ConfigProvider
from cds_service.store.db import Store
from cds_service.services.registry import CdsService, HandlerResult, HookCall
from cds_service.wire import Card, Coding, Link, Source, Suggestion

ECHO_EXTENSION = "org.example.protocol-test"
TYPES = ("Patient", "Encounter", "Condition", "Observation", "Procedure")


def echo(call: HookCall) -> HandlerResult:
    codes = [c.get("code") for d in call.draft_orders if isinstance(d.get("code"), dict)
             for c in d["code"].get("coding") or () if isinstance(c, dict)]
    if "explode" in codes:
        raise RuntimeError(f"handler failure for patient {call.patient_id}")  # must never reach the client or log
    counts = {t: len(call.record.retrieve(t)) for t in TYPES}
    summary = f"Echo: {counts['Observation']} observations, {counts['Condition']} conditions"
    card = Card(
        summary=summary, indicator="info", detail="Protocol test card.",
        source=Source(label="Protocol test", topic=Coding(system="https://example.org/topics", code="test")),
        suggestions=[Suggestion(label="Do nothing", isRecommended=True)], selectionBehavior="at-most-one",
        overrideReasons=[Coding(system="https://example.org/override", code="mdt", display="MDT decision")],
        links=[Link(label="About", url="https://example.org/about", type="absolute")],
        extension={ECHO_EXTENSION: {
            "counts": counts, "unavailable": sorted(call.unavailable), "drafts": len(call.draft_orders),
            "selections": call.selections, "problems": len(call.problems), "configVersion": call.config.version,
            "now": call.now.isoformat(),
        }},
    )
    return HandlerResult(cards=[card], findings=[])


PREFETCH: dict[str, Any] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&_count=20",
    "procedures": "Procedure?patient={{context.patientId}}",
}

SERVICES = (
    CdsService(id="protocol-echo-select", hook="order-select", title="Protocol echo (select)",
               description="Test service: echoes what the protocol layer gathered.", prefetch=PREFETCH,
               required_prefetch=frozenset({"patient", "conditions"}), handler=echo),
    CdsService(id="protocol-echo-sign", hook="order-sign", title="Protocol echo (sign)",
               description="Test service: echoes what the protocol layer gathered.", prefetch=PREFETCH,
               required_prefetch=frozenset({"patient", "conditions"}), handler=echo),
)


def config_provider(store: Store, override: Mapping[str, Any] | None = None,
                    version: str = "test-v1") -> ConfigProvider:
    """The real versioned provider over `store`, based on the defaults plus `override`; no environment overrides."""
    return ConfigProvider(store, base=build_config(dict(override or {})), base_version=version, environ={})
