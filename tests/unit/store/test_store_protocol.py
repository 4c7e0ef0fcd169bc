"""Tests for store/protocol.py: audit, issued cards, idempotent feedback and the jti cache, on both backends."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service.store.db import Store
from cds_service.store.protocol import (
    FeedbackEntry,
    Invocation,
    JtiCache,
    OverrideReason,
    feedback_for_card,
    issued_card,
    issued_cards_from_response,
    recent_feedback,
    recent_invocations,
    record_hook_call,
    record_hook_calls,
    record_invocation,
    store_feedback,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

CARDS = [
    {
        "uuid": "card-ci-1",
        "summary": "Absolute contraindication",
        "indicator": "critical",
        "source": {"label": "VA CDS"},
        "suggestions": [{"label": "Cancel", "uuid": "sugg-cancel-1"}],
        "extension": {
            "org.vertebral-augmentation-cds.finding": {
                "id": "C-CI-ABS", "rules": ["CI-A1"], "levels": ["T12", "L1"], "profile": "cms-lcd",
                "configVersion": "v3",
            }
        },
    },
    {"summary": "no uuid: cannot receive feedback", "indicator": "info", "source": {"label": "VA CDS"}},
]


def _invocation(hook_instance: str = "hi-1", **kw: object) -> Invocation:
    base: dict[str, object] = dict(
        hook_instance=hook_instance, service_id="vertebral-augmentation-select", hook="order-select",
        received_at=T0, status_code=200, data_source="prefetch", latency_ms=12.5, cards_count=1,
        config_version="v3", rules_version="r1", patient_ref="Patient/va-pat-1",
    )
    base.update(kw)
    return Invocation(**base)  # type: ignore[arg-type]


def test_audit_row_round_trips_with_aware_utc_time(store: Store) -> None:
    record_invocation(store, _invocation(received_at=datetime(2026, 5, 1, 14, 0, tzinfo=UTC)))
    record_invocation(store, _invocation("hi-2", status_code=412, cards_count=None, error_type="PrefetchMissingError",
                                         data_source="none"))
    rows = recent_invocations(store)
    assert [r.hook_instance for r in rows] == ["hi-1", "hi-2"]
    assert rows[0].received_at == datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
    assert rows[1].status_code == 412 and rows[1].error_type == "PrefetchMissingError" and rows[1].cards_count is None
    assert recent_invocations(store, hook_instance="hi-2")[0].data_source == "none"


def test_audit_refuses_unknown_data_source_and_naive_times(store: Store) -> None:
    with pytest.raises(ValueError, match="data_source"):
        _invocation(data_source="cache")
    with pytest.raises(Exception, match="naive datetime"):
        record_invocation(store, _invocation(received_at=datetime(2026, 5, 1, 12)))


def test_issued_cards_keep_finding_and_suggestions(store: Store) -> None:
    cards = issued_cards_from_response(CARDS, hook_instance="hi-1", service_id="svc", issued_at=T0)
    assert len(cards) == 1  # the card without uuid cannot get feedback
    record_hook_call(store, _invocation(), cards)
    got = issued_card(store, "card-ci-1")
    assert got is not None
    assert got.finding_id == "C-CI-ABS" and got.rules == ("CI-A1",) and got.levels == ("T12", "L1")
    assert got.suggestion_uuids == ("sugg-cancel-1",) and got.config_version == "v3"
    assert got.issued_at == T0
    assert issued_card(store, "nope") is None


def test_retried_hook_call_with_same_card_uuid_keeps_first_card(store: Store) -> None:
    cards = issued_cards_from_response(CARDS, hook_instance="hi-1", service_id="svc", issued_at=T0)
    record_hook_call(store, _invocation(), cards)
    record_hook_call(store, _invocation(), cards)
    assert len(recent_invocations(store)) == 2  # each call is audited
    assert issued_card(store, "card-ci-1") is not None


def test_feedback_is_linked_to_the_card_finding(store: Store) -> None:
    record_hook_call(store, _invocation(), issued_cards_from_response(
        CARDS, hook_instance="hi-1", service_id="svc", issued_at=T0))
    results = store_feedback(store, "svc", [
        FeedbackEntry("card-ci-1", "accepted", T0 + timedelta(minutes=1), ("sugg-cancel-1",)),
        FeedbackEntry("card-unknown", "overridden", T0 + timedelta(minutes=2),
                      override_reason=OverrideReason("http://example.org/reasons", "pt-declined", None, "see note")),
    ])
    assert [(r.card_uuid, r.linked, r.duplicate) for r in results] == [
        ("card-ci-1", True, False), ("card-unknown", False, False)]
    [fb] = feedback_for_card(store, "card-ci-1")
    assert fb.outcome == "accepted" and fb.accepted_suggestions == ("sugg-cancel-1",)
    assert fb.finding_id == "C-CI-ABS" and fb.rules == ("CI-A1",) and fb.levels == ("T12", "L1")
    assert fb.hook_instance == "hi-1" and fb.override_reason is None
    [unlinked] = feedback_for_card(store, "card-unknown")
    assert unlinked.linked is False and unlinked.finding_id is None
    assert unlinked.override_reason == OverrideReason("http://example.org/reasons", "pt-declined", None, "see note")
    assert [f.card_uuid for f in recent_feedback(store)] == ["card-unknown", "card-ci-1"]


def test_feedback_for_another_service_card_is_not_linked(store: Store) -> None:
    record_hook_call(store, _invocation(), issued_cards_from_response(
        CARDS, hook_instance="hi-1", service_id="svc", issued_at=T0))
    [result] = store_feedback(store, "other-svc", [FeedbackEntry("card-ci-1", "overridden", T0)])
    assert result.linked is False


def test_same_feedback_sent_twice_is_stored_once(store: Store) -> None:
    entry = FeedbackEntry("card-x", "overridden", T0, override_reason=OverrideReason(user_comment="not now"))
    first = store_feedback(store, "svc", [entry])
    second = store_feedback(store, "svc", [entry, entry])
    assert first[0].duplicate is False and [r.duplicate for r in second] == [True, True]
    assert len(feedback_for_card(store, "card-x")) == 1
    # A later, different decision about the same card is new information and is kept.
    store_feedback(store, "svc", [FeedbackEntry("card-x", "overridden", T0 + timedelta(seconds=5))])
    assert len(feedback_for_card(store, "card-x")) == 2


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                record_invocation(store, _invocation(f"w{n}-{i}"))
                store_feedback(store, "svc", [FeedbackEntry(f"card-{n}-{i}", "overridden", T0)])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(recent_invocations(store, limit=1000)) == 90
    assert len(recent_feedback(store, limit=1000)) == 90


def test_jti_is_claimed_once_until_it_expires(store: Store) -> None:
    cache = JtiCache(store)
    exp = T0 + timedelta(minutes=5)
    assert cache.claim("https://ehr.example", "jti-1", exp, now=T0) is True
    assert cache.claim("https://ehr.example", "jti-1", exp, now=T0 + timedelta(seconds=1)) is False
    # Same jti from another issuer is a different token.
    assert cache.claim("https://other.example", "jti-1", exp, now=T0) is True
    # Once expired the row is pruned (a token with that exp is refused on exp anyway).
    later = T0 + timedelta(minutes=20)
    assert cache.claim("https://ehr.example", "jti-2", later + timedelta(minutes=5), now=later) is True
    assert cache.count() == 1


def test_jti_claim_races_have_exactly_one_winner(store: Store) -> None:
    """Several workers see the same token at once: exactly one may accept it."""
    exp = datetime.now(UTC) + timedelta(minutes=5)
    caches = [JtiCache(store) for _ in range(8)]
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim(cache: JtiCache) -> None:
        barrier.wait()
        wins.append(cache.claim("https://ehr.example", "same-jti", exp))

    threads = [threading.Thread(target=claim, args=(c,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def _write_from_child(url: str, schema: str | None, worker: int, start: Any) -> None:
    store = Store(url, schema=schema)
    start.wait(timeout=60)
    cache = JtiCache(store)
    for i in range(40):
        record_invocation(store, _invocation(f"p{worker}-{i}"))
        store_feedback(store, "svc", [FeedbackEntry(f"card-p{worker}-{i}", "overridden", T0)])
        cache.claim("https://ehr.example", f"shared-{i}", datetime.now(UTC) + timedelta(minutes=5))
    store.dispose()


def test_several_worker_processes_writing_at_once_lose_nothing(store: Store) -> None:
    """Gunicorn workers are processes: each one's audit and feedback rows must all land."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    url = store.url if store.dialect == "sqlite" else "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    procs = [ctx.Process(target=_write_from_child, args=(url, store.schema, n, start)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert len(recent_invocations(store, limit=1000)) == 160
    assert len(recent_feedback(store, limit=1000)) == 160
    assert JtiCache(store).count() == 40  # each shared jti claimed exactly once across processes


def test_feedback_arriving_before_its_card_row_links_once_the_card_is_stored(store: Store) -> None:
    """The audit writer may store issued cards after the response; early feedback must not stay orphaned."""
    [result] = store_feedback(store, "svc", [FeedbackEntry("card-ci-1", "overridden", T0)])
    assert result.linked is False
    assert feedback_for_card(store, "card-ci-1")[0].linked is False
    record_hook_call(store, _invocation(), issued_cards_from_response(
        CARDS, hook_instance="hi-1", service_id="svc", issued_at=T0))
    [fb] = feedback_for_card(store, "card-ci-1")
    assert fb.linked and fb.finding_id == "C-CI-ABS"


def test_several_hook_calls_are_written_in_one_go_and_a_repeated_card_keeps_its_first_row(store: Store) -> None:
    cards_1 = issued_cards_from_response(CARDS, hook_instance="hi-b1", service_id="s", issued_at=T0)
    # A client retry of the same hookInstance returns the same card uuid in the same batch.
    cards_2 = issued_cards_from_response(CARDS, hook_instance="hi-b1", service_id="s",
                                         issued_at=T0 + timedelta(seconds=5))
    ids = record_hook_calls(store, [(_invocation("hi-b1"), cards_1), (_invocation("hi-b1"), cards_2),
                                    (_invocation("hi-b2"), [])])
    assert len(ids) == 3 and len(set(ids)) == 3
    assert {i.hook_instance for i in recent_invocations(store)} == {"hi-b1", "hi-b2"}
    assert len(recent_invocations(store, hook_instance="hi-b1")) == 2
    card = issued_card(store, "card-ci-1")
    assert card is not None and card.issued_at == T0
