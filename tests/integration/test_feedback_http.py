"""Integration: feedback round trip over HTTP: a real hook call issues cards, feedback about them is stored linked."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.store.db import Store
from cds_service.store.protocol import Invocation, feedback_for_card, recent_invocations
from tests.integration.fhir_server import PROTOCOL_SERVICES, FhirServer, ServiceProcess, execute_prefetch

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "fhir_fixtures" / "ci-a1-sepsis"
VA_SERVICE = "vertebral-augmentation-select"
ECHO_SERVICE = "protocol-echo-select"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, Store]]:
    """The service (protocol test services) on each store backend, plus a Store on the same database."""
    workdir = tmp_path_factory.mktemp(f"feedback-{request.param}")
    schema = None
    if request.param == "sqlite":
        proc = ServiceProcess.start(workdir, service_modules=PROTOCOL_SERVICES)
        store = Store(f"sqlite:///{proc.data_dir / 'cds-service.sqlite3'}")
    else:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        store = Store(PG, schema=schema)
        proc = ServiceProcess.start(workdir, database_url=f"{PG}?options=-csearch_path%3D{schema}",
                                    service_modules=PROTOCOL_SERVICES)
    try:
        yield proc, store
    finally:
        proc.stop()
        if schema is not None:
            store.drop_schema()
        store.dispose()


def _audit_row(store: Store, hook_instance: str, timeout_s: float = 10.0) -> Invocation:
    """The audit row of a hook call. The service's audit writer (hooks/audit.py) stores it off the request
    path, so it may land shortly after the answer; wait for it rather than race it."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = recent_invocations(store, hook_instance=hook_instance)
        if rows or time.monotonic() > deadline:
            assert len(rows) == 1, f"expected one audit row for {hook_instance}, found {len(rows)}"
            return rows[0]
        time.sleep(0.05)


def _echo_request(fhir: FhirServer, patient: str) -> dict[str, Any]:
    fhir.load_bundle({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Patient", "id": patient, "gender": "male", "birthDate": "1948-01-02"},
        "request": {"method": "PUT", "url": f"Patient/{patient}"}}]})
    # No prefetch: the service fetches from the FHIR server with the token, as the spec allows.
    return {
        "hook": "order-select", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir.base_url,
        "fhirAuthorization": fhir.fhir_authorization,
        "context": {"userId": "Practitioner/va-prac-1", "patientId": patient, "selections": ["ServiceRequest/sr-1"],
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
                        "resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "order",
                        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22513"}]},
                        "subject": {"reference": f"Patient/{patient}"}}}]}},
    }


def test_feedback_round_trip_over_http(backend: tuple[ServiceProcess, Store], fhir_server: FhirServer) -> None:
    """Issue a card, accept its suggestion, find the feedback stored against that card and its hook call."""
    service, store = backend
    hook_request = _echo_request(fhir_server, "va-feedback-echo-pat-1")
    answer = requests.post(service.url(f"/cds-services/{ECHO_SERVICE}"), json=hook_request, timeout=30)
    assert answer.status_code == 200, answer.text
    [card] = answer.json()["cards"]
    suggestion = card["suggestions"][0]["uuid"]
    audit = _audit_row(store, hook_request["hookInstance"])
    assert audit.status_code == 200 and audit.cards_count == 1 and audit.data_source == "fhir"
    assert audit.patient_ref == "Patient/va-feedback-echo-pat-1"

    feedback = {"feedback": [{"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion}],
                              "outcomeTimestamp": "2026-06-01T12:05:00.250+01:00"}]}
    url = service.url(f"/cds-services/{ECHO_SERVICE}/feedback")
    first = requests.post(url, json=feedback, timeout=10)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 1, "stored": 1, "duplicates": 0, "unlinked": 0}
    # EHRs may resend: the second delivery is acknowledged and not stored again.
    again = requests.post(url, json=feedback, timeout=10)
    assert again.status_code == 200 and again.json()["duplicates"] == 1

    [stored] = feedback_for_card(store, card["uuid"])
    assert stored.linked and stored.hook_instance == hook_request["hookInstance"]
    assert stored.accepted_suggestions == (suggestion,)
    assert stored.outcome_timestamp.isoformat() == "2026-06-01T11:05:00.250000+00:00"
    assert fhir_server.token not in service.log_text()


def test_feedback_for_an_unknown_card_is_kept_unlinked(backend: tuple[ServiceProcess, Store]) -> None:
    service, store = backend
    card = f"not-issued-{uuid.uuid4()}"
    response = requests.post(service.url(f"/cds-services/{ECHO_SERVICE}/feedback"), timeout=10, json={
        "feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-06-01T12:05:00Z",
                      "overrideReason": {"userComment": "Discussed at the spine MDT"}}]})
    assert response.status_code == 200 and response.json()["unlinked"] == 1
    [stored] = feedback_for_card(store, card)
    assert stored.linked is False
    assert stored.override_reason is not None and stored.override_reason.user_comment == "Discussed at the spine MDT"
    assert "spine MDT" not in service.log_text()  # clinician free text may be PHI: stored, never logged


def test_malformed_feedback_is_a_400_naming_the_field(backend: tuple[ServiceProcess, Store]) -> None:
    service, _ = backend
    url = service.url(f"/cds-services/{ECHO_SERVICE}/feedback")
    response = requests.post(url, timeout=10, json={
        "feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-06-01T12:05:00Z"}]})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["feedback[0].acceptedSuggestions"]
    not_json = requests.post(url, data=b"{oops", timeout=10, headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["resourceType"] == "OperationOutcome"


def test_feedback_for_an_unknown_service_is_404(backend: tuple[ServiceProcess, Store]) -> None:
    service, _ = backend
    response = requests.post(service.url("/cds-services/no-such-service/feedback"), timeout=10, json={
        "feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-06-01T12:05:00Z"}]})
    assert response.status_code == 404


def _finding(card: dict[str, Any]) -> dict[str, Any]:
    return card["extension"]["org.vertebral-augmentation-cds.finding"]


def test_vertebral_card_feedback_is_linked_to_its_finding(start_service: Callable[..., ServiceProcess],
                                                          fhir_server: FhirServer) -> None:
    """End to end with the clinical service: the CI-A1 sepsis card, overridden, stored with finding, rules, level."""
    service = start_service()
    fhir_server.load_bundle_file(SCENARIO / "bundle.json")
    hook_request = copy.deepcopy(json.loads((SCENARIO / "request.json").read_text()))
    hook_request["hookInstance"] = str(uuid.uuid4())
    hook_request["fhirServer"] = fhir_server.base_url
    hook_request["fhirAuthorization"] = fhir_server.fhir_authorization
    discovery = requests.get(service.url("/cds-services"), timeout=10).json()
    [descriptor] = [s for s in discovery["services"] if s["id"] == VA_SERVICE]
    # The prefetch an EHR computes from the discovery templates.
    hook_request["prefetch"] = {
        key: execute_prefetch(fhir_server.base_url, fhir_server.token, template, hook_request["context"])
        for key, template in (descriptor.get("prefetch") or {}).items()
    }
    answer = requests.post(service.url(f"/cds-services/{VA_SERVICE}"), json=hook_request, timeout=60)
    assert answer.status_code == 200, answer.text
    [ci_card] = [c for c in answer.json()["cards"] if _finding(c)["id"] == "C-CI-ABS"]
    store = Store(f"sqlite:///{service.data_dir / 'cds-service.sqlite3'}")
    try:
        audit = _audit_row(store, hook_request["hookInstance"])
        response = requests.post(service.url(f"/cds-services/{VA_SERVICE}/feedback"), timeout=10, json={
            "feedback": [{"card": ci_card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-06-01T12:05:00Z",
                          "overrideReason": {"reason": {"system": "http://example.org/cds-override",
                                                        "code": "sepsis-treated"}}}]})
        assert response.status_code == 200 and response.json()["unlinked"] == 0, response.text
        [stored] = feedback_for_card(store, ci_card["uuid"])
    finally:
        store.dispose()
    assert stored.linked and stored.finding_id == "C-CI-ABS" and stored.rules == ("CI-A1",)
    assert stored.levels == ("L1",) and stored.hook_instance == hook_request["hookInstance"]
    assert stored.override_reason is not None and stored.override_reason.code == "sepsis-treated"
    assert audit.data_source == "prefetch" and audit.cards_count == len(answer.json()["cards"])
    assert fhir_server.token not in service.log_text()
