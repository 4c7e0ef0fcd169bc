"""The audit writer keeps out of the way of requests: it writes when none is in flight (or at most
_IDLE_WAIT_S later), and never loses a record."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from cds_service.hooks import audit
from cds_service.hooks.audit import AuditWriter, InFlight
from cds_service.store.db import Store
from cds_service.store.protocol import Invocation, recent_invocations

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create_all()
    return store


def _inv(hook_instance: str) -> Invocation:
    return Invocation(hook_instance=hook_instance, service_id="s", hook="order-select", received_at=T0,
                      status_code=200, data_source="prefetch", latency_ms=1.0, cards_count=0,
                      config_version="v1", patient_ref="Patient/p")


def _written(store: Store) -> set[str]:
    return {i.hook_instance for i in recent_invocations(store)}


def test_a_record_waits_while_a_request_is_in_flight_and_is_written_when_it_ends(tmp_path: Path,
                                                                                 monkeypatch) -> None:
    monkeypatch.setattr(audit, "_IDLE_WAIT_S", 5.0)
    store = _store(tmp_path)
    writer = AuditWriter(store)
    writer.request_started()
    writer.submit(_inv("hi-1"), [])
    writer.submit(_inv("hi-2"), [])
    time.sleep(0.3)
    assert _written(store) == set()  # the request in flight is not competing with the write
    writer.request_finished()
    deadline = time.monotonic() + 5
    while _written(store) != {"hi-1", "hi-2"} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _written(store) == {"hi-1", "hi-2"}


def test_under_constant_load_records_are_written_after_the_bounded_wait(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(audit, "_IDLE_WAIT_S", 0.2)
    store = _store(tmp_path)
    writer = AuditWriter(store)
    writer.request_started()  # never finished: a worker that is always busy
    writer.submit(_inv("hi-busy"), [])
    deadline = time.monotonic() + 5
    while not _written(store) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _written(store) == {"hi-busy"}


def test_flush_does_not_wait_for_idle_and_the_middleware_counts_requests_until_the_response_is_closed(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(audit, "_IDLE_WAIT_S", 5.0)
    store = _store(tmp_path)
    writer = AuditWriter(store)

    def app(environ: dict, start_response) -> list[bytes]:  # type: ignore[no-untyped-def]
        writer.submit(_inv("hi-mw"), [])
        start_response("200 OK", [])
        return [b"ok"]

    body = InFlight(app, writer)({}, lambda *a: None)
    assert writer._in_flight == 1  # the response has not been sent yet
    body.close()
    assert writer._in_flight == 0
    writer.flush(timeout=5)
    assert _written(store) == {"hi-mw"}


def test_records_arriving_together_are_written_in_one_transaction(tmp_path: Path, monkeypatch) -> None:
    """A busy worker pays the transaction's fixed cost once per batch, not once per request."""
    monkeypatch.setattr(audit, "_COLLECT_S", 1.5)
    store = _store(tmp_path)
    transactions: list[int] = []
    real_write = audit.record_hook_calls

    def counting_write(store_: Store, records):  # type: ignore[no-untyped-def]
        transactions.append(len(records))
        return real_write(store_, records)

    monkeypatch.setattr(audit, "record_hook_calls", counting_write)
    writer = AuditWriter(store)
    for i in range(5):
        writer.submit(_inv(f"hi-{i}"), [])
        time.sleep(0.02)
    deadline = time.monotonic() + 5
    while len(_written(store)) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _written(store) == {f"hi-{i}" for i in range(5)}
    assert transactions == [5]


def test_flush_ends_the_collection_wait_at_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(audit, "_COLLECT_S", 30.0)
    store = _store(tmp_path)
    writer = AuditWriter(store)
    writer.submit(_inv("hi-a"), [])
    time.sleep(0.05)  # the writer is now gathering
    started = time.monotonic()
    writer.flush(timeout=10)
    assert time.monotonic() - started < 2
    assert _written(store) == {"hi-a"}
