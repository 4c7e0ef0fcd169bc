"""Wire layer: the CDS Hooks 2.0 service request (POST /cds-services/{id}) as a validated model.

Strict on what the service cannot work without (hook, hookInstance, context.patientId, draftOrders as a
Bundle, fhirServer with fhirAuthorization); tolerant of extensions and of fields real clients add.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# hookInstance lands in every log line: a bounded, printable alphabet keeps log injection out.
_HOOK_INSTANCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-_.:]{0,127}$"


class _Tolerant(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)


class FhirAuthorization(_Tolerant):
    access_token: str = Field(min_length=1, repr=False)
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be 'Bearer'")
        return "Bearer"

    def __repr__(self) -> str:  # the token must never reach a log line through a repr
        return "FhirAuthorization(access_token=***)"


class HookContext(_Tolerant):
    patient_id: str = Field(alias="patientId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")
    user_id: str | None = Field(default=None, alias="userId")
    encounter_id: str | None = Field(default=None, alias="encounterId", max_length=64,
                                     pattern=r"^[A-Za-z0-9\-.]+$")
    selections: list[str] | None = None
    draft_orders: dict[str, Any] | None = Field(default=None, alias="draftOrders")

    @field_validator("draft_orders", mode="before")
    @classmethod
    def _bundle(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        if "entry" in value and not isinstance(value["entry"], list):
            raise ValueError("draftOrders.entry must be an array")
        return value

    @field_validator("selections", mode="before")
    @classmethod
    def _selections(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) and "/" in item for item in value):
            raise ValueError("selections must be an array of 'ResourceType/id' strings")
        return value


class HookRequest(_Tolerant):
    hook: str = Field(min_length=1)
    hook_instance: str = Field(alias="hookInstance", pattern=_HOOK_INSTANCE_PATTERN)
    fhir_server: str | None = Field(default=None, alias="fhirServer")
    fhir_authorization: FhirAuthorization | None = Field(default=None, alias="fhirAuthorization", repr=False)
    context: HookContext
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("fhir_server")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self


_ALIASES: dict[str, str] = {
    "hook_instance": "hookInstance", "fhir_server": "fhirServer", "fhir_authorization": "fhirAuthorization",
    "patient_id": "patientId", "user_id": "userId", "encounter_id": "encounterId", "draft_orders": "draftOrders",
}


class RequestFieldError(ValueError):
    """A request field failed validation; `field` is its dotted wire path (e.g. `context.patientId`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_hook_request(body: Any) -> HookRequest:
    """Validate a decoded JSON body; raise RequestFieldError naming the first offending field."""
    if not isinstance(body, dict):
        raise RequestFieldError("(body)", "the request body must be a JSON object")
    try:
        return HookRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        path = [_ALIASES.get(str(part), str(part)) for part in first["loc"]]
        reason = str(first["msg"]).removeprefix("Value error, ")
        if not path and "fhirServer" in reason:
            path = ["fhirServer"]
        field = ".".join(path) or "(body)"
        if first["type"] == "missing":
            reason = "is required"
        return _raise(field, reason)


def _raise(field: str, reason: str) -> HookRequest:
    raise RequestFieldError(field, reason)
