"""Protocol layer: the CDS Hooks feedback endpoint's logic: validate a feedback batch and store it durably."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service.errors import BadRequestError
from cds_service.store.db import Store
from cds_service.store.protocol import FeedbackEntry, FeedbackResult, OverrideReason, store_feedback
from cds_service.wire.feedback import FeedbackFieldError, FeedbackItem, parse_feedback_request

log = logging.getLogger("cds_service.feedback")


@dataclass(frozen=True)
class FeedbackSummary:
    """What the endpoint did with a batch; `to_json()` is the response body."""

    received: int
    stored: int
    duplicates: int
    unlinked: int

    def to_json(self) -> dict[str, int]:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "unlinked": self.unlinked}


def handle_feedback(store: Store, service_id: str, body: Any, *, now: datetime | None = None) -> FeedbackSummary:
    """Validate `body` (decoded JSON) and store every item before returning.

    Raises `BadRequestError` whose `field` is the JSON path at fault (e.g. `feedback[1].outcome`); the whole
    batch is refused then, so a client never has to guess which items were kept. A store failure raises
    `StoreError` (503). Items about a card this service never issued are stored with `linked=False`.
    The caller has already authenticated the client and checked that `service_id` exists (404 otherwise).
    """
    try:
        request = parse_feedback_request(body)
    except FeedbackFieldError as exc:
        raise BadRequestError(exc.reason, field=exc.field) from None
    entries = [_entry(item) for item in request.feedback]
    results = store_feedback(store, service_id, entries, received_at=now or datetime.now(UTC))
    summary = _summarise(results)
    # Counts and card uuids only: userComment is clinician free text and may hold PHI.
    log.info(
        "feedback stored service=%s received=%d stored=%d duplicates=%d unlinked=%d outcomes=%s",
        service_id, summary.received, summary.stored, summary.duplicates, summary.unlinked,
        ",".join(sorted({e.outcome for e in entries})),
    )
    if summary.unlinked:
        log.warning("feedback for unknown card uuid(s) service=%s cards=%r", service_id,
                    [r.card_uuid[:64] for r in results if not r.linked])
    return summary


def _entry(item: FeedbackItem) -> FeedbackEntry:
    reason = item.override_reason
    return FeedbackEntry(
        card_uuid=item.card,
        outcome=item.outcome,
        outcome_timestamp=item.outcome_timestamp.astimezone(UTC),
        accepted_suggestions=tuple(s.id for s in item.accepted_suggestions or ()),
        override_reason=None
        if reason is None
        else OverrideReason(
            system=reason.reason.system if reason.reason else None,
            code=reason.reason.code if reason.reason else None,
            display=reason.reason.display if reason.reason else None,
            user_comment=reason.user_comment,
        ),
    )


def _summarise(results: list[FeedbackResult]) -> FeedbackSummary:
    duplicates = sum(1 for r in results if r.duplicate)
    return FeedbackSummary(
        received=len(results),
        stored=len(results) - duplicates,
        duplicates=duplicates,
        unlinked=sum(1 for r in results if not r.linked),
    )
