"""Tests for wire/feedback.py and hooks/feedback.py: validation naming the field, idempotent durable storage."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds_service.errors import BadRequestError
from cds_service.hooks.feedback import handle_feedback
from cds_service.store.db import Store
from cds_service.store.protocol import (
    Invocation,
    OverrideReason,
    feedback_for_card,
    issued_cards_from_response,
    record_hook_call,
)

SVC = "vertebral-augmentation-sign"
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    else:
        s = Store("postgresql+psycopg://postgres@127.0.0.1:5432/test", schema=f"t_{uuid.uuid4().hex[:16]}")
    s.create_all()
    yield s
    if s.dialect == "postgresql":
        s.drop_schema()
    s.dispose()


def _issue(store: Store) -> None:
    cards = [{
        "uuid": "card-tech-L1", "summary": "Technique ranking for L1", "indicator": "info",
        "source": {"label": "VA CDS"},
        "suggestions": [{"label": "Order SpineJack", "uuid": "sugg-sj"}, {"label": "Kyphoplasty", "uuid": "sugg-bk"}],
        "extension": {"org.vertebral-augmentation-cds.finding": {
            "id": "C-TECH", "rules": ["TECH-RANK"], "levels": ["L1"], "configVersion": "v7"}},
    }]
    record_hook_call(
        store,
        Invocation(hook_instance="hi-9", service_id=SVC, hook="order-sign", received_at=T0, status_code=200,
                   data_source="prefetch", latency_ms=20.0, cards_count=1),
        issued_cards_from_response(cards, hook_instance="hi-9", service_id=SVC, issued_at=T0),
    )


ACCEPTED = {"card": "card-tech-L1", "outcome": "accepted", "acceptedSuggestions": [{"id": "sugg-sj"}],
            "outcomeTimestamp": "2026-05-01T12:03:00Z"}
OVERRIDDEN = {"card": "card-tech-L1", "outcome": "overridden",
              "overrideReason": {"reason": {"code": "pt-preference", "system": "http://example.org/override"},
                                 "userComment": "Patient prefers vertebroplasty"},
              "outcomeTimestamp": "2026-05-01T14:03:00+02:00"}


def test_feedback_round_trip_links_to_the_card_finding(store: Store) -> None:
    _issue(store)
    summary = handle_feedback(store, SVC, {"feedback": [ACCEPTED, OVERRIDDEN]})
    assert summary.to_json() == {"received": 2, "stored": 2, "duplicates": 0, "unlinked": 0}
    accepted, overridden = feedback_for_card(store, "card-tech-L1")
    assert accepted.outcome == "accepted" and accepted.accepted_suggestions == ("sugg-sj",)
    assert accepted.finding_id == "C-TECH" and accepted.levels == ("L1",) and accepted.config_version == "v7"
    assert overridden.outcome_timestamp == datetime(2026, 5, 1, 12, 3, tzinfo=UTC)  # normalised to UTC
    assert overridden.override_reason == OverrideReason(
        "http://example.org/override", "pt-preference", None, "Patient prefers vertebroplasty")


def test_resent_feedback_is_stored_once(store: Store) -> None:
    _issue(store)
    handle_feedback(store, SVC, {"feedback": [ACCEPTED]})
    again = handle_feedback(store, SVC, {"feedback": [ACCEPTED]})
    assert again.stored == 0 and again.duplicates == 1
    assert len(feedback_for_card(store, "card-tech-L1")) == 1


def test_feedback_for_unknown_card_is_kept_but_flagged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    summary = handle_feedback(store, SVC, {"feedback": [dict(OVERRIDDEN, card="never-issued")]})
    assert summary.unlinked == 1 and summary.stored == 1
    [row] = feedback_for_card(store, "never-issued")
    assert row.linked is False and row.finding_id is None
    # The clinician's free text may be PHI: it is stored, never logged.
    assert all("vertebroplasty" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("body", "field", "reason_part"),
    [
        ([ACCEPTED], "(body)", "JSON object"),
        ({}, "feedback", "required"),
        ({"feedback": []}, "feedback", "at least 1"),
        ({"feedback": {"card": "x"}}, "feedback", "list"),
        ({"feedback": [dict(ACCEPTED, card="")]}, "feedback[0].card", "at least 1"),
        ({"feedback": [{k: v for k, v in ACCEPTED.items() if k != "card"}]}, "feedback[0].card", "required"),
        ({"feedback": [ACCEPTED, dict(ACCEPTED, outcome="ignored")]}, "feedback[1].outcome", "accepted"),
        ({"feedback": [{k: v for k, v in ACCEPTED.items() if k != "acceptedSuggestions"}]},
         "feedback[0].acceptedSuggestions", "required"),
        ({"feedback": [dict(ACCEPTED, acceptedSuggestions=[])]}, "feedback[0].acceptedSuggestions", "required"),
        ({"feedback": [dict(ACCEPTED, acceptedSuggestions=[{"uuid": "x"}])]},
         "feedback[0].acceptedSuggestions[0].id", "required"),
        ({"feedback": [dict(OVERRIDDEN, acceptedSuggestions=[{"id": "sugg-sj"}])]},
         "feedback[0].acceptedSuggestions", "only allowed"),
        ({"feedback": [dict(ACCEPTED, overrideReason={"userComment": "x"})]}, "feedback[0].overrideReason",
         "only allowed"),
        ({"feedback": [dict(OVERRIDDEN, overrideReason={"reason": {"system": "http://x"}})]},
         "feedback[0].overrideReason.reason.code", "required"),
        ({"feedback": [dict(ACCEPTED, outcomeTimestamp="2026-05-01T12:03:00")]},
         "feedback[0].outcomeTimestamp", "time zone"),
        ({"feedback": [dict(ACCEPTED, outcomeTimestamp="yesterday")]}, "feedback[0].outcomeTimestamp", "datetime"),
        ({"feedback": [dict(ACCEPTED, outcomeTimestamp=1714564980)]}, "feedback[0].outcomeTimestamp", "ISO 8601"),
        ({"feedback": [{k: v for k, v in ACCEPTED.items() if k != "outcomeTimestamp"}]},
         "feedback[0].outcomeTimestamp", "required"),
    ],
)
def test_invalid_feedback_is_a_400_naming_the_field(store: Store, body: Any, field: str, reason_part: str) -> None:
    with pytest.raises(BadRequestError) as info:
        handle_feedback(store, SVC, body)
    assert info.value.status == 400
    assert info.value.field == field
    assert reason_part in info.value.message
    outcome = info.value.operation_outcome()
    assert outcome["issue"][0]["expression"] == [field]


def test_an_invalid_item_refuses_the_whole_batch(store: Store) -> None:
    _issue(store)
    with pytest.raises(BadRequestError):
        handle_feedback(store, SVC, {"feedback": [ACCEPTED, dict(ACCEPTED, outcome="nope")]})
    assert feedback_for_card(store, "card-tech-L1") == []


def test_overridden_without_reason_and_with_empty_reason_is_accepted(store: Store) -> None:
    bare = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-05-01T12:00:00.123Z"}
    handle_feedback(store, SVC, {"feedback": [bare, dict(bare, card="c2", overrideReason={}),
                                              dict(bare, card="c3", extension={"org.example.x": 1})]})
    assert feedback_for_card(store, "c2")[0].override_reason is None
    assert len(feedback_for_card(store, "c3")) == 1
