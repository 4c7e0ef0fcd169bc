"""Domain layer: the registry of CDS services (id, hook, prefetch, handler) and the handler call contract."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cds_service import wire
from cds_service.wire.discovery import ServiceDescriptor, check_template

if TYPE_CHECKING:  # the record and the configuration are only passed through here
    from cds_service.admin.config import ActiveConfig
    from cds_service.fhir.record import PatientRecord

# Context fields each hook marks "Prefetch Token = Yes" (CDS Hooks library 1.0.1).
PREFETCH_FIELDS: dict[str, frozenset[str]] = {
    "order-select": frozenset({"userId", "patientId", "encounterId"}),
    "order-sign": frozenset({"userId", "patientId", "encounterId"}),
    "patient-view": frozenset({"userId", "patientId", "encounterId"}),
}


@dataclass
class HookCall:
    """One hook invocation as the handler sees it: validated context, gathered record, active configuration."""

    service_id: str
    hook: str
    hook_instance: str
    patient_id: str
    encounter_id: str | None
    user_id: str | None
    selections: list[str]
    draft_orders: list[dict[str, Any]]
    record: PatientRecord
    now: datetime
    config: ActiveConfig
    problems: list[str] = field(default_factory=list)
    # prefetch keys whose data could not be had (FHIR error, timeout, OperationOutcome) and were not
    # required: the handler answers with what it has and may say which data was unavailable.
    unavailable: frozenset[str] = frozenset()


@dataclass
class HandlerResult:
    cards: list[wire.Card]
    findings: list[dict[str, Any]] = field(default_factory=list)
    system_actions: list[wire.Action] = field(default_factory=list)


Handler = Callable[[HookCall], HandlerResult]


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str]
    required_prefetch: frozenset[str]
    handler: Handler
    usage_requirements: str | None = None
    # Raises when the service cannot answer under this configuration (e.g. CQL that does not compile);
    # /readyz calls it, and a successful call leaves the compiled artefacts cached for the request path.
    readiness: Callable[[ActiveConfig], None] | None = None

    def __post_init__(self) -> None:
        fields = PREFETCH_FIELDS.get(self.hook, frozenset({"userId", "patientId", "encounterId"}))
        for template in self.prefetch.values():
            check_template(template, fields)
        unknown = self.required_prefetch - set(self.prefetch)
        if unknown:
            raise ValueError(f"service {self.id}: required prefetch keys {sorted(unknown)} have no template")

    def descriptor(self) -> ServiceDescriptor:
        return ServiceDescriptor(hook=self.hook, id=self.id, title=self.title, description=self.description,
                                 prefetch=dict(self.prefetch) or None, usageRequirements=self.usage_requirements)


class UnknownServiceError(KeyError):
    pass


class ServiceRegistry:
    """Services by id. Discovery lists them in registration order."""

    def __init__(self, services: Iterable[CdsService] = ()) -> None:
        self._services: dict[str, CdsService] = {}
        for service in services:
            self.register(service)

    def register(self, service: CdsService) -> None:
        if service.id in self._services:
            raise ValueError(f"service id {service.id!r} is already registered")
        self._services[service.id] = service

    def get(self, service_id: str) -> CdsService:
        try:
            return self._services[service_id]
        except KeyError:
            raise UnknownServiceError(service_id) from None

    def __iter__(self) -> Iterator[CdsService]:
        return iter(self._services.values())

    def __len__(self) -> int:
        return len(self._services)


DEFAULT_SERVICE_MODULES: tuple[str, ...] = ("cds_service.services.vertebral.service",)


def default_registry(modules: Sequence[str] = DEFAULT_SERVICE_MODULES) -> ServiceRegistry:
    """The services of the named modules (each exposes `SERVICES`); by default the vertebral augmentation pair."""
    registry = ServiceRegistry()
    for module_name in modules:
        module = importlib.import_module(module_name)
        services = getattr(module, "SERVICES", None)
        if services is None:
            raise ValueError(f"service module {module_name!r} has no SERVICES")
        for service in services:
            registry.register(service)
    return registry
