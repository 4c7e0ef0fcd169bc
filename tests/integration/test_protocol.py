"""The real service (`cds-service serve`, gunicorn) over HTTP against a real FHIR server (sekmet-fhir).

Uses the test-only echo services (tests/protocol_services.py) so the protocol is checked independently of
the clinical logic: each card reports what the protocol layer gathered for the handler.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.store.db import Store
from cds_service.store.protocol import recent_invocations
from tests.integration.fhir_server import FhirServer, ServiceProcess, free_port

ECHO = "org.example.protocol-test"
PAT = "va-proto-pat-1"
SELECT = "cds-services/protocol-echo-select"
SANDBOX = "https://sandbox.cds-hooks.org"
N_OBS = 45  # three pages of 20 on the FHIR server
CONFIG = """
[security]
cors_origins = ["https://sandbox.cds-hooks.org"]
max_body_bytes = 65536
fhir_timeout_seconds = 1.5
fhir_deadline_seconds = 2.0
fhir_page_cap = 10
"""


def _bundle() -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{
        "resource": {"resourceType": "Patient", "id": PAT, "gender": "female", "birthDate": "1947-06-02"},
        "request": {"method": "PUT", "url": f"Patient/{PAT}"},
    }]
    for i in range(2):
        entries.append({"resource": {
            "resourceType": "Condition", "id": f"va-proto-cond-{i}", "subject": {"reference": f"Patient/{PAT}"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M80.08XA"}]},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]}},
            "request": {"method": "PUT", "url": f"Condition/va-proto-cond-{i}"}})
    for i in range(N_OBS):
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"va-proto-obs-{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": {"reference": f"Patient/{PAT}"}, "effectiveDateTime": f"2026-04-{i % 28 + 1:02d}T10:00:00Z",
            "valueQuantity": {"value": i % 11, "unit": "{score}", "system": "http://unitsofmeasure.org",
                              "code": "{score}"}},
            "request": {"method": "PUT", "url": f"Observation/va-proto-obs-{i}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture(scope="module")
def fhir(fhir_server: FhirServer) -> FhirServer:
    fhir_server.load_bundle(_bundle())
    return fhir_server


@pytest.fixture(scope="module")
def echo_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("protocol-service")
    config = workdir / "config.toml"
    config.write_text(CONFIG)
    repo = Path(__file__).resolve().parents[2]
    proc = ServiceProcess.start(workdir, config_file=config, workers=2, env={
        "CDS_SERVICE_MODULES": "tests.protocol_services",
        "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH")) if p)})
    try:
        yield proc
    finally:
        proc.stop()


def hook_body(prefetch: dict[str, Any] | None = None, *, fhir_server: str | None = None,
              token: str | None = None, hook: str = "order-select") -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": hook, "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/va-dr-1", "patientId": PAT, "selections": ["ServiceRequest/draft-1"],
                    "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {
                        "resourceType": "ServiceRequest", "id": "draft-1", "status": "draft", "intent": "order",
                        "category": {"text": "procedure"},  # an object where R4 has an array, as the Sandbox sends
                        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]},
                        "subject": {"reference": f"Patient/{PAT}"}}}]}},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "cds-service"}
    return body


def call(service: ServiceProcess, body: Any, path: str = SELECT, **kwargs: Any) -> requests.Response:
    if isinstance(body, (bytes, str)):
        return requests.post(service.url(path), data=body, timeout=30,
                             headers={"Content-Type": "application/json"}, **kwargs)
    return requests.post(service.url(path), json=body, timeout=30, **kwargs)


def echo(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["cards"][0]["extension"][ECHO]  # type: ignore[no-any-return]


def searchset(fhir: FhirServer, query: str) -> dict[str, Any]:
    result = fhir.get(query)
    assert result.status_code == 200
    return result.json()  # type: ignore[no-any-return]


def test_discovery_over_http(echo_service: ServiceProcess) -> None:
    response = requests.get(echo_service.url("cds-services"), timeout=10)
    assert response.status_code == 200
    ids = {s["id"]: s for s in response.json()["services"]}
    assert ids["protocol-echo-select"]["hook"] == "order-select"
    assert ids["protocol-echo-sign"]["hook"] == "order-sign"


def test_complete_prefetch_answers_without_a_fhir_server(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    prefetch = {"patient": searchset(fhir, f"Patient/{PAT}"),
                "conditions": searchset(fhir, f"Condition?patient={PAT}"),
                "observations": None, "procedures": {"resourceType": "Bundle", "type": "searchset", "total": 0}}
    result = echo(call(echo_service, hook_body(prefetch)))
    assert result["counts"] == {"Patient": 1, "Encounter": 0, "Condition": 2, "Observation": 0, "Procedure": 0}
    assert result["unavailable"] == []


def test_partial_prefetch_is_completed_from_the_fhir_server(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    prefetch = {"patient": searchset(fhir, f"Patient/{PAT}")}
    result = echo(call(echo_service, hook_body(prefetch, fhir_server=fhir.base_url, token=fhir.token)))
    assert result["counts"]["Condition"] == 2
    assert result["counts"]["Observation"] == N_OBS
    assert result["unavailable"] == []


def test_no_prefetch_fetches_everything_and_follows_paging(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    result = echo(call(echo_service, hook_body(None, fhir_server=fhir.base_url, token=fhir.token)))
    assert result["counts"] == {"Patient": 1, "Encounter": 0, "Condition": 2, "Observation": N_OBS, "Procedure": 0}


def test_operation_outcome_in_prefetch_is_refetched(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    prefetch = {"patient": searchset(fhir, f"Patient/{PAT}"), "observations": None, "procedures": None,
                "conditions": {"resourceType": "OperationOutcome",
                               "issue": [{"severity": "error", "code": "timeout"}]}}
    result = echo(call(echo_service, hook_body(prefetch, fhir_server=fhir.base_url, token=fhir.token)))
    assert result["counts"]["Condition"] == 2


def test_wrong_token_is_412_for_required_data(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    response = call(echo_service, hook_body(None, fhir_server=fhir.base_url, token="not-the-token"))
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "refused the access token" in outcome["issue"][0]["diagnostics"]


def test_fhir_server_down_is_412_or_degraded(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    down = f"http://127.0.0.1:{free_port()}/fhir"
    started = time.monotonic()
    response = call(echo_service, hook_body(None, fhir_server=down, token="t"))
    assert response.status_code == 412
    prefetch = {"patient": searchset(fhir, f"Patient/{PAT}"), "conditions": searchset(fhir, f"Condition?patient={PAT}")}
    degraded = echo(call(echo_service, hook_body(prefetch, fhir_server=down, token="t")))
    assert degraded["unavailable"] == ["observations", "procedures"]
    assert degraded["counts"]["Condition"] == 2
    assert time.monotonic() - started < 5


def test_slow_fhir_server_is_cut_off_at_the_deadline(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    # A server that accepts connections and never answers: only the deadline can end the wait.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        slow = f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
        prefetch = {"patient": searchset(fhir, f"Patient/{PAT}"),
                    "conditions": searchset(fhir, f"Condition?patient={PAT}")}
        started = time.monotonic()
        degraded = echo(call(echo_service, hook_body(prefetch, fhir_server=slow, token="t")))
        elapsed = time.monotonic() - started
        assert degraded["unavailable"] == ["observations", "procedures"]
        assert elapsed < 3.5  # configured deadline 2 s
        started = time.monotonic()
        assert call(echo_service, hook_body(None, fhir_server=slow, token="t")).status_code == 412
        assert time.monotonic() - started < 3.5
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("payload,status,field", [
    (b"{\"hook\": ", 400, "(body)"),
    (b"[]", 400, "(body)"),
    ({"hookInstance": "x", "context": {"patientId": PAT}}, 400, "hook"),
])
def test_malformed_requests(echo_service: ServiceProcess, payload: Any, status: int, field: str) -> None:
    response = call(echo_service, payload)
    assert response.status_code == status
    assert response.json()["issue"][0]["expression"] == [field]


def test_unknown_service_and_oversized_body(echo_service: ServiceProcess) -> None:
    assert call(echo_service, hook_body({}), path="cds-services/nope").status_code == 404
    big = hook_body({"patient": {"resourceType": "Patient", "id": PAT, "text": {"div": "x" * 100_000}}})
    response = call(echo_service, big)
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"


def test_cors_preflight_over_http(echo_service: ServiceProcess) -> None:
    response = requests.options(echo_service.url(SELECT), timeout=10, headers={
        "Origin": SANDBOX, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_tokens_and_patient_ids_never_reach_the_log(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    echo(call(echo_service, hook_body(None, fhir_server=fhir.base_url, token=fhir.token)))
    call(echo_service, hook_body(None, fhir_server=fhir.base_url, token="WRONG-TOKEN-XYZ"))
    log = echo_service.log_text()
    assert fhir.token not in log and "WRONG-TOKEN-XYZ" not in log
    assert PAT not in log


def test_vertebral_services_are_discoverable_with_spec_legal_prefetch(service: ServiceProcess) -> None:
    response = requests.get(service.url("cds-services"), timeout=10)
    services = {s["id"]: s for s in response.json()["services"]}
    assert services["vertebral-augmentation-select"]["hook"] == "order-select"
    assert services["vertebral-augmentation-sign"]["hook"] == "order-sign"
    templates = services["vertebral-augmentation-select"]["prefetch"]
    types = {t.split("/")[0].split("?")[0] for t in templates.values()}
    assert {"Patient", "Encounter", "Condition", "Observation", "Procedure", "MedicationRequest",
            "AllergyIntolerance"} <= types
    text = " ".join(templates.values())
    assert "draftOrders" not in text and "today" not in text and "selections" not in text


def test_invocations_are_audited_by_the_served_app(echo_service: ServiceProcess, fhir: FhirServer) -> None:
    body = hook_body(None, fhir_server=fhir.base_url, token=fhir.token)
    assert call(echo_service, body).status_code == 200
    store = Store(f"sqlite:///{echo_service.data_dir / 'cds-service.sqlite3'}")
    try:
        deadline = time.monotonic() + 10
        rows: list[Any] = []
        while time.monotonic() < deadline and not rows:
            rows = recent_invocations(store, hook_instance=body["hookInstance"])
            time.sleep(0.1)
        assert rows, "no audit row for the hook call"
        assert rows[0].status_code == 200 and rows[0].data_source == "fhir" and rows[0].cards_count == 1
    finally:
        store.dispose()


def test_vertebral_service_answers_no_cards_without_an_augmentation_order(service: ServiceProcess,
                                                                         fhir: FhirServer) -> None:
    body = hook_body(None, fhir_server=fhir.base_url, token=fhir.token)
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72148"}]}  # MRI lumbar
    response = call(service, body, path="cds-services/vertebral-augmentation-select")
    assert response.status_code == 200
    assert response.json() == {"cards": []}
