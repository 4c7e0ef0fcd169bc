"""Wire layer: CDS Hooks 2.0 response models (Card, Source, Suggestion, Action, Link, Coding, CdsResponse).

Strict where the specification says MUST: a model that validates serialises to a spec-conformant payload,
and `to_json()` never emits a null or empty optional element (S2 #use-of-json).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SUMMARY_MAX_CHARS = 139  # "<140 characters" (S2 #card-attributes); Inferno fails at 140
_RESOURCE_ID = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _check_extension(value: dict[str, Any] | None) -> dict[str, Any] | None:
    # S2 #extensions: a pre-coordinated JSON object whose keys SHOULD be globally unique (reverse-DNS).
    for key in value or {}:
        if "." not in key:
            raise ValueError(f"extension key {key!r} should be a globally unique (reverse-DNS style) name")
    return value


def _absolute_http_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field} must be an absolute http(s) URL")
    return value


class WireModel(BaseModel):
    """Base: camelCase aliases, unknown fields rejected, empty optionals treated as absent."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        # An empty optional element means "absent" in CDS Hooks; dropping it here lets a required field
        # that was given as "" fail as missing instead of being serialised empty.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not _is_empty(v)}
        return data

    def to_json(self) -> dict[str, Any]:
        """The JSON object for the wire: aliases, no None, no empty containers."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Coding(WireModel):
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None


class Source(WireModel):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    @field_validator("url", "icon")
    @classmethod
    def _absolute(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else _absolute_http_url(value, f"source.{info.field_name}")


class Action(WireModel):
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resource_id: str | None = Field(default=None, alias="resourceId")

    @field_validator("resource_id")
    @classmethod
    def _relative_reference(cls, value: str | None) -> str | None:
        if value is not None and not _RESOURCE_ID.match(value):
            raise ValueError("resourceId must be a relative reference such as 'ServiceRequest/draft-1'")
        return value

    @model_validator(mode="after")
    def _payload_matches_type(self) -> Action:
        if self.type in ("create", "update"):
            if self.resource is None or not self.resource.get("resourceType"):
                raise ValueError(f"a {self.type} action needs a full FHIR resource with resourceType")
            if self.resource_id is not None:
                raise ValueError(f"a {self.type} action carries the resource, not resourceId")
        elif self.resource_id is None:
            raise ValueError("a delete action needs resourceId")
        elif self.resource is not None:
            raise ValueError("a delete action names the resource with resourceId only (resource is deprecated)")
        return self


class Suggestion(WireModel):
    label: str = Field(min_length=1)
    uuid: str = Field(default_factory=_new_uuid)
    is_recommended: bool | None = Field(default=None, alias="isRecommended")
    actions: list[Action] | None = None
    extension: dict[str, Any] | None = None

    _extension = field_validator("extension")(classmethod(lambda cls, v: _check_extension(v)))


class Link(WireModel):
    label: str = Field(min_length=1)
    url: str
    type: Literal["absolute", "smart"]
    app_context: str | None = Field(default=None, alias="appContext")
    autolaunchable: bool | None = None

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return _absolute_http_url(value, "link.url")

    @model_validator(mode="after")
    def _app_context_only_on_smart(self) -> Link:
        if self.app_context is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links")
        return self


class Card(WireModel):
    uuid: str = Field(default_factory=_new_uuid)
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX_CHARS)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = Field(default=None, alias="selectionBehavior")
    override_reasons: list[Coding] | None = Field(default=None, alias="overrideReasons")
    links: list[Link] | None = None
    extension: dict[str, Any] | None = None

    _extension = field_validator("extension")(classmethod(lambda cls, v: _check_extension(v)))

    @model_validator(mode="after")
    def _card_invariants(self) -> Card:
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        if not self.suggestions and self.selection_behavior is not None:
            raise ValueError("selectionBehavior is only allowed on a card with suggestions")
        if self.suggestions and self.selection_behavior == "at-most-one":
            if sum(1 for s in self.suggestions if s.is_recommended) > 1:
                raise ValueError("at most one suggestion may be recommended when selectionBehavior is at-most-one")
        for reason in self.override_reasons or ():
            if not reason.display:
                raise ValueError(f"overrideReasons coding {reason.code!r} needs a display")
        uuids = [s.uuid for s in self.suggestions or ()]
        if len(set(uuids)) != len(uuids):
            raise ValueError("suggestion uuids must be unique within a card")
        return self


class CdsResponse(WireModel):
    cards: list[Card] = Field(default_factory=list)
    system_actions: list[Action] | None = Field(default=None, alias="systemActions")
    extension: dict[str, Any] | None = None

    _extension = field_validator("extension")(classmethod(lambda cls, v: _check_extension(v)))

    @model_validator(mode="after")
    def _unique_card_uuids(self) -> CdsResponse:
        uuids = [card.uuid for card in self.cards]
        if len(set(uuids)) != len(uuids):
            raise ValueError("card uuids must be unique within a response")
        return self

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body.setdefault("cards", [])
        return body
