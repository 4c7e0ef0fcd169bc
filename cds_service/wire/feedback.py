"""Wire layer: the CDS Hooks 2.0 feedback request (`{"feedback": [...]}`, S2 #feedback) and its validation."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# A clinician acts on a handful of cards per hook call; a batch far above that is abuse or a client bug.
MAX_FEEDBACK_ITEMS = 500
_ALIASES: dict[str, str] = {
    "accepted_suggestions": "acceptedSuggestions", "override_reason": "overrideReason",
    "outcome_timestamp": "outcomeTimestamp", "user_comment": "userComment",
}


class FeedbackFieldError(ValueError):
    """A feedback field failed validation; `field` is its JSON path (e.g. `feedback[0].outcomeTimestamp`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class _Tolerant(BaseModel):
    # Unknown members are ignored: clients add extensions, and a feedback item is not worth losing over one.
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class FeedbackCoding(_Tolerant):
    """The override reason the user picked: one of the card's `overrideReasons` (display optional here, S2)."""

    code: str = Field(min_length=1)
    system: str | None = Field(default=None, min_length=1)
    display: str | None = None


class AcceptedSuggestion(_Tolerant):
    """`{"id": <suggestion.uuid>}`."""

    id: str = Field(min_length=1)


class OverrideReasonIn(_Tolerant):
    """`overrideReason`: `reason` Coding and/or free-text `userComment`."""

    reason: FeedbackCoding | None = None
    user_comment: str | None = Field(default=None, alias="userComment", max_length=10_000)


class FeedbackItem(_Tolerant):
    """One feedback entry about one card."""

    card: str = Field(min_length=1, max_length=200)
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(default=None, alias="acceptedSuggestions")
    override_reason: OverrideReasonIn | None = Field(default=None, alias="overrideReason")
    outcome_timestamp: datetime = Field(alias="outcomeTimestamp")

    @field_validator("outcome_timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        # pydantic would also take epoch numbers; the spec says an ISO 8601 string.
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 date-time string such as 2026-05-01T10:05:31Z")
        return value

    @field_validator("outcome_timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (e.g. a trailing Z)")
        return value

    @field_validator("override_reason", mode="before")
    @classmethod
    def _empty_reason_is_absent(cls, value: Any) -> Any:
        # "overridden may come without any overrideReason"; an empty object says the same thing.
        return None if value == {} else value

    @model_validator(mode="after")
    def _outcome_rules(self) -> FeedbackItem:
        if self.outcome == "accepted":
            if not self.accepted_suggestions:
                raise _PathError("acceptedSuggestions", "is required (non-empty) when outcome is accepted")
            if self.override_reason is not None:
                raise _PathError("overrideReason", "is only allowed when outcome is overridden")
        elif self.accepted_suggestions:
            raise _PathError("acceptedSuggestions", "is only allowed when outcome is accepted")
        return self


class FeedbackRequest(_Tolerant):
    """The request body: an object holding a non-empty `feedback` array (SHALL, S2)."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_FEEDBACK_ITEMS)


class _PathError(ValueError):
    """Raised inside a model validator to point at a sibling field instead of the model itself."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}\x00{reason}")


def parse_feedback_request(body: Any) -> FeedbackRequest:
    """Validate a decoded JSON body; raise `FeedbackFieldError` naming the first offending field."""
    if not isinstance(body, dict):
        raise FeedbackFieldError("(body)", "the feedback body must be a JSON object with a feedback array")
    try:
        return FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        path = _json_path(first["loc"])
        reason = str(first["msg"]).removeprefix("Value error, ")
        if "\x00" in reason:
            child, reason = reason.split("\x00", 1)
            path = f"{path}.{child}" if path else child
        elif first["type"] == "missing":
            reason = "is required"
        elif first["type"] == "literal_error" and path.endswith(".outcome"):
            reason = "must be 'accepted' or 'overridden'"
        raise FeedbackFieldError(path or "(body)", reason) from None


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _ALIASES.get(part, part)
    return out
