"""Domain layer: the vertebral augmentation decision (a.4 pipeline): orders -> one CQL evaluation -> findings ->
cards, for the hook handler (`evaluate`) and for the what-if evaluator (`evaluate_bundle`, with its trace)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from cds_service.admin.config import ActiveConfig
from cds_service.services.registry import HandlerResult, HookCall
from cds_service.services.vertebral import engine
from cds_service.services.vertebral.cards import CardContext, build_card
from cds_service.services.vertebral.findings import (
    Session, attach_techniques, build_findings, build_session, missing_level_finding, plain,
)
from cds_service.services.vertebral.orders import OrderLine, cpt_mismatch_levels, read_order, sort_levels


@dataclass(frozen=True)
class TraceRow:
    """One criterion as it was evaluated: what `cds-service evaluate` prints."""

    level: str | None
    rule: str
    criterion: str
    value: str | None
    source: str | None
    at: str | None
    threshold: str | None
    result: str  # met / not met / unknown

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.__dict__)
        detail = f"{self.value if self.value is not None else 'no value'}"
        if self.threshold:
            detail += f" vs {self.threshold}"
        if self.source or self.at:
            detail += f" ({', '.join(x for x in (self.source, self.at) if x)})"
        out["detail"] = f"{self.rule}: {detail}"
        return out


@dataclass
class Evaluation:
    """The handler result plus the per-criterion trace of the same evaluation (JSON-able rows)."""

    result: HandlerResult
    trace: list[dict[str, Any]] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)  # level -> a.4 status

    @property
    def cards(self) -> list[Any]:
        return self.result.cards

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.result.findings


def ensure_ready(active: ActiveConfig) -> None:
    """Compile the libraries for this configuration now (readiness probe; leaves them cached)."""
    engine.compiled(active)


def _local_now(now: datetime, active: ActiveConfig) -> datetime:
    # "Today" is the hook time in the site's time zone (UTC unless configured), so day counts use its dates.
    aware = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    return aware.astimezone(ZoneInfo(active.config.clinical.timezone))


def _trace(session: Session) -> list[TraceRow]:
    rows: list[TraceRow] = []

    def add(rule: str, level: str | None, facts: Sequence[Mapping[str, Any]]) -> None:
        for f in facts:
            rows.append(TraceRow(level=f.get("level") or level, rule=rule, criterion=str(f.get("criterion")),
                                 value=None if f.get("value") is None else str(f.get("value")),
                                 source=f.get("source"), at=f.get("at"), threshold=f.get("threshold"),
                                 result=f.get("result") or "unknown"))

    for lr in session.levels:
        add(lr.indication.get("rule", ""), lr.level, lr.indication.get("facts") or ())
        for ci in lr.absolute + lr.relative + lr.undecided:
            add(ci["rule"], lr.level, ci.get("facts") or ())
    for doc in session.documentation:
        add(doc["rule"], None, doc.get("facts") or ())
    return rows


def run(active: ActiveConfig, data: Any, order_resources: Sequence[dict[str, Any]], *, now: datetime, hook: str,
        patient_id: str, encounter_id: str | None, with_trace: bool = True) -> Evaluation:
    """The whole pipeline for the vertebral augmentation orders of one hook call (the criterion trace is built
    only `with_trace`: the hook answer does not carry it)."""
    config = active.config
    lines: list[OrderLine] = [read_order(r, config) for r in order_resources]
    levels = sort_levels(lv for ln in lines for lv in ln.levels)
    params = config.clinical.active_params()
    profile = config.clinical.profile
    findings: list[dict[str, Any]] = []
    session: Session | None = None
    if any(ln.level_source == "none" for ln in lines):
        findings.append(missing_level_finding())
    if levels:
        logic = engine.compiled(active)
        evaluation = engine.start(logic, data, levels=levels, encounter_id=encounter_id, now=_local_now(now, active))
        results = plain(evaluation.evaluate(engine.FIRST_DEFINES))
        session = build_session(results, lines, config.rule_enabled)
        # The technique ranking only where a level shows it (a.4 precedence; section 0 C-TECH): an absolutely
        # contraindicated or not-indicated order costs no ranking.
        if any(lr.gets_technique for lr in session.levels):
            techniques = plain(evaluation.evaluate([engine.TECHNIQUE_DEFINE]))[engine.TECHNIQUE_DEFINE]
            attach_techniques(session.levels, techniques or ())
        findings += build_findings(session, max_levels=params.max_levels_per_session,
                                   cpt_mismatch=cpt_mismatch_levels(lines, config), rule_enabled=config.rule_enabled)
    ctx = CardContext(config=config, profile=profile, version=active.version, hook=hook, patient_id=patient_id,
                      encounter_id=encounter_id, lines=lines, session=session)
    cards = [build_card(ctx, f) for f in findings]
    wire_findings = [c.extension["org.vertebral-augmentation-cds.finding"] for c in cards if c.extension]
    return Evaluation(result=HandlerResult(cards=cards, findings=wire_findings),
                      trace=[row.to_json() for row in _trace(session)] if session and with_trace else [],
                      levels={lr.level: lr.status for lr in session.levels} if session else {})


def evaluate(call: HookCall, orders: list[dict[str, Any]]) -> HandlerResult:
    """Hook handler entry (services/vertebral/service.py): cards and findings for the VA draft orders."""
    return run(call.config, call.record, orders, now=call.now, hook=call.hook, patient_id=call.patient_id,
               encounter_id=call.encounter_id, with_trace=False).result


class ResourceListSource:
    """A naive DataSource over a list of FHIR resources (the what-if path): the engine applies the filters."""

    def __init__(self, resources: Sequence[dict[str, Any]]) -> None:
        self._by_type: dict[str, list[dict[str, Any]]] = {}
        for res in resources:
            if isinstance(res, dict) and isinstance(res.get("resourceType"), str):
                self._by_type.setdefault(res["resourceType"], []).append(res)

    def retrieve(self, data_type: str, **_: Any) -> Sequence[dict[str, Any]]:
        return self._by_type.get(data_type, ())


def _bundle_resources(resources: Sequence[dict[str, Any]] | dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(resources, dict):
        resources = [resources]
    out: list[dict[str, Any]] = []
    for res in resources:
        if isinstance(res, dict) and res.get("resourceType") == "Bundle":
            out += _bundle_resources([e.get("resource") for e in res.get("entry") or () if isinstance(e, dict)])
        elif isinstance(res, dict):
            out.append(res)
    return out


def evaluate_bundle(resources: list[dict[str, Any]] | dict[str, Any], orders: list[dict[str, Any]],
                    config: ActiveConfig,
                    now: datetime, hook: str = "order-select") -> Evaluation:
    """What-if entry (`cds-service evaluate`): the same pipeline over given resources, with the criterion trace.

    `resources` is a list of resources or a Bundle (entries are used, nested Bundles too); the patient is the first Patient resource, and the
    encounter the first in-progress Encounter.
    """
    flat = _bundle_resources(resources)
    patient = next((r for r in flat if r.get("resourceType") == "Patient"), None)
    if patient is None:
        raise ValueError("resources: a Patient resource is required")
    encounter = next((r for r in flat if r.get("resourceType") == "Encounter" and r.get("status") == "in-progress"),
                     None)
    data = _record_for(flat, patient)
    trigger = config.config.expand_valueset("VS-PROC-VA")
    va_orders = [o for o in _bundle_resources(orders) if o.get("resourceType") == "ServiceRequest" and any(
        trigger.contains(c.get("system"), c.get("code")) for c in (o.get("code") or {}).get("coding") or ()
        if isinstance(c, dict))]
    if not va_orders:
        return Evaluation(result=HandlerResult(cards=[], findings=[]))
    return run(config, data, va_orders, now=now, hook=hook, patient_id=str(patient.get("id")),
               encounter_id=str(encounter["id"]) if encounter and encounter.get("id") else None)


def _record_for(resources: list[dict[str, Any]], patient: dict[str, Any]) -> Any:
    """The FHIR layer's indexed PatientRecord when available, else the naive list source."""
    try:
        from cds_service.fhir.record import PatientRecord
    except ImportError:
        return ResourceListSource(resources)
    return PatientRecord(resources)
