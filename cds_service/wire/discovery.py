"""Wire layer: the CDS Hooks 2.0 discovery response (GET /cds-services)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from cds_service.wire.cards import WireModel

# S2 #prefetch-tokens: {{context.<root field>}} or a user token; nothing else (no FHIRPath, no today()).
_TOKEN = re.compile(r"\{\{(.*?)\}\}")
_LEGAL_TOKENS = frozenset({"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"})
_CONTEXT_TOKEN = re.compile(r"^context\.[A-Za-z][A-Za-z0-9]*$")


def template_tokens(template: str) -> list[str]:
    """The tokens of a prefetch template, without braces."""
    return [token.strip() for token in _TOKEN.findall(template)]


def check_template(template: str, prefetch_fields: frozenset[str]) -> None:
    """Raise ValueError unless every token is spec-legal for a hook whose prefetch-able fields are given."""
    path = template.split("?", 1)[0]
    if template.startswith("/") or "://" in path:
        raise ValueError(f"prefetch template must be a relative FHIR URL: {template!r}")
    for token in template_tokens(template):
        if token in _LEGAL_TOKENS:
            continue
        if not _CONTEXT_TOKEN.match(token):
            raise ValueError(f"prefetch token {{{{{token}}}}} is not a CDS Hooks 2.0 token")
        if token.removeprefix("context.") not in prefetch_fields:
            raise ValueError(f"prefetch token {{{{{token}}}}} names a context field that is not prefetch-able")


class ServiceDescriptor(WireModel):
    hook: str = Field(min_length=1)
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9\-_.]+$")
    title: str | None = None
    description: str = Field(min_length=1)
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = Field(default=None, alias="usageRequirements")
    extension: dict[str, Any] | None = None

    @field_validator("prefetch")
    @classmethod
    def _keys_named(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, template in (value or {}).items():
            if not key or not template:
                raise ValueError("every prefetch template needs a key and a template")
        return value


class DiscoveryResponse(WireModel):
    services: list[ServiceDescriptor] = Field(default_factory=list)
