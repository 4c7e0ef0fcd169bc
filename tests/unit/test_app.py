"""The Flask app end to end in-process: discovery, invocation, the error envelope, CORS, health, audit, auth."""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from protocol_services import ECHO_EXTENSION, SERVICES, config_provider

from cds_service.app import create_app
from cds_service.hooks.state import EXTENSION_KEY
from cds_service.services.registry import ServiceRegistry
from cds_service.settings import Settings
from cds_service.store.db import Store
from cds_service.store.protocol import recent_invocations

HOOK_INSTANCE = "0b8c6bd4-8a4f-4d8c-9a0c-3b1f2d6e7a55"
PATIENT = {"resourceType": "Patient", "id": "va-pat-1", "gender": "female", "birthDate": "1948-02-01"}
DRAFT = {"resourceType": "ServiceRequest", "id": "draft-va-1", "status": "draft", "intent": "order",
         "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]},
         "subject": {"reference": "Patient/va-pat-1"}}


def make_app(tmp_path: Path, override: dict[str, Any] | None = None) -> tuple[Flask, Store]:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.create_all()
    app = create_app(Settings(data_dir=tmp_path), config_provider(store, override),
                     registry=ServiceRegistry(SERVICES), store=store)
    return app, store


@pytest.fixture
def app_store(tmp_path: Path) -> Iterator[tuple[Flask, Store]]:
    app, store = make_app(tmp_path, {"security": {"cors_origins": ["https://sandbox.cds-hooks.org"],
                                                  "max_body_bytes": 4096}})
    yield app, store
    store.dispose()


@pytest.fixture
def client(app_store: tuple[Flask, Store]) -> FlaskClient:
    return app_store[0].test_client()


def body(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "hook": "order-select", "hookInstance": HOOK_INSTANCE,
        "context": {"userId": "Practitioner/dr-1", "patientId": "va-pat-1", "selections": ["ServiceRequest/draft-va-1"],
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": DRAFT}]}},
        "prefetch": {"patient": PATIENT, "conditions": {"resourceType": "Bundle", "type": "searchset", "total": 0},
                     "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [
                         {"resource": {"resourceType": "Observation", "id": "o1", "status": "final"}}]},
                     "procedures": None},
    }
    request.update(changes)
    return copy.deepcopy(request)


def test_discovery_lists_services_with_prefetch(client: FlaskClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.get_json()["services"]}
    assert services["protocol-echo-select"]["hook"] == "order-select"
    assert services["protocol-echo-sign"]["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert all(s["description"] and s["title"] for s in services.values())


def test_valid_call_returns_the_handlers_cards(client: FlaskClient) -> None:
    response = client.post("/cds-services/protocol-echo-select", json=body())
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    echo = cards[0]["extension"][ECHO_EXTENSION]
    assert echo["counts"]["Observation"] == 1 and echo["counts"]["Patient"] == 1
    assert echo["drafts"] == 1 and echo["selections"] == ["ServiceRequest/draft-va-1"]
    assert echo["unavailable"] == [] and echo["configVersion"] == "test-v1"
    assert cards[0]["selectionBehavior"] == "at-most-one"


@pytest.mark.parametrize("change,field", [
    ({"hook": None}, "hook"),
    ({"hookInstance": None}, "hookInstance"),
    ({"context": None}, "context"),
    ({"hook": "order-sign"}, "hook"),
    ({"fhirAuthorization": {"access_token": "t", "token_type": "Bearer"}}, "fhirServer"),
])
def test_bad_requests_are_400_with_the_field_named(client: FlaskClient, change: dict[str, Any], field: str) -> None:
    request = body(**change)
    for key, value in change.items():
        if value is None:
            del request[key]
    response = client.post("/cds-services/protocol-echo-select", json=request)
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [field]


@pytest.mark.parametrize("context_change,field", [
    ({"patientId": None}, "context.patientId"),
    ({"draftOrders": {"resourceType": "ServiceRequest"}}, "context.draftOrders"),
    ({"draftOrders": None}, "context.draftOrders"),
])
def test_bad_context_fields_are_named(client: FlaskClient, context_change: dict[str, Any], field: str) -> None:
    request = body()
    for key, value in context_change.items():
        if value is None:
            del request["context"][key]
        else:
            request["context"][key] = value
    response = client.post("/cds-services/protocol-echo-select", json=request)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [field]


def test_non_json_body_is_400(client: FlaskClient) -> None:
    response = client.post("/cds-services/protocol-echo-select", data=b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["issue"][0]["diagnostics"]


def test_unknown_service_is_404_and_unknown_route_too(client: FlaskClient) -> None:
    response = client.post("/cds-services/no-such-service", json=body())
    assert response.status_code == 404
    assert response.get_json()["issue"][0]["code"] == "not-found"
    assert client.get("/nothing-here").status_code == 404


def test_wrong_method_is_405_with_an_operation_outcome(client: FlaskClient) -> None:
    response = client.get("/cds-services/protocol-echo-select")
    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_oversized_body_is_413(client: FlaskClient) -> None:
    big = body()
    big["prefetch"]["conditions"]["entry"] = [{"resource": {"resourceType": "Condition", "id": f"c{i}"}}
                                              for i in range(200)]
    response = client.post("/cds-services/protocol-echo-select", json=big)
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_missing_required_prefetch_without_fhir_server_is_412(client: FlaskClient) -> None:
    request = body()
    del request["prefetch"]["conditions"]
    response = client.post("/cds-services/protocol-echo-select", json=request)
    assert response.status_code == 412
    assert response.get_json()["issue"][0]["expression"] == ["prefetch.conditions"]


def test_missing_optional_prefetch_degrades_and_says_so(client: FlaskClient) -> None:
    request = body()
    del request["prefetch"]["procedures"]
    response = client.post("/cds-services/protocol-echo-select", json=request)
    assert response.status_code == 200
    assert response.get_json()["cards"][0]["extension"][ECHO_EXTENSION]["unavailable"] == ["procedures"]


def test_handler_crash_is_500_without_phi_in_body_or_log(client: FlaskClient,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    request = body()
    request["context"]["draftOrders"]["entry"][0]["resource"]["code"]["coding"][0]["code"] = "explode"
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = client.post("/cds-services/protocol-echo-select", json=request)
    assert response.status_code == 500
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "va-pat-1" not in response.get_data(as_text=True)
    assert "va-pat-1" not in caplog.text
    assert HOOK_INSTANCE in caplog.text and "RuntimeError" in caplog.text


def test_token_is_never_logged(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    request = body(fhirServer="https://not-allowed.example.org/fhir",
                   fhirAuthorization={"access_token": "SECRET-TOKEN-42", "token_type": "Bearer",
                                      "expires_in": 30, "scope": "user/*.read", "subject": "va"})
    del request["prefetch"]["conditions"]
    with caplog.at_level(logging.DEBUG):
        response = client.post("/cds-services/protocol-echo-select", json=request)
    assert response.status_code == 412  # the server is not allow-listed, so it was not called
    assert "allow-list" in caplog.text
    assert "SECRET-TOKEN-42" not in caplog.text


def test_cors_preflight_and_headers_for_configured_origins_only(client: FlaskClient) -> None:
    preflight = client.options("/cds-services/protocol-echo-select", headers={
        "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    other = client.get("/cds-services", headers={"Origin": "https://evil.example.org"})
    assert "Access-Control-Allow-Origin" not in other.headers
    same = client.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert same.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["store"] == "ok"


def test_readiness_fails_when_the_store_becomes_unreachable(app_store: tuple[Flask, Store]) -> None:
    app, _ = app_store
    # The database going away after start-up: a real store whose server does not exist (port 1).
    app.extensions[EXTENSION_KEY].store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["store"] == "unreachable"


def test_every_invocation_is_audited(app_store: tuple[Flask, Store]) -> None:
    app, store = app_store
    client = app.test_client()
    assert client.post("/cds-services/protocol-echo-select", json=body()).status_code == 200
    failed = body(hookInstance="5a3c7f0e-1111-4a2b-9c3d-000000000412")
    del failed["prefetch"]["conditions"]
    assert client.post("/cds-services/protocol-echo-select", json=failed).status_code == 412
    app.extensions[EXTENSION_KEY].audit.flush()
    rows = {row.hook_instance: row for row in recent_invocations(store)}
    assert rows[HOOK_INSTANCE].status_code == 200 and rows[HOOK_INSTANCE].cards_count == 1
    assert rows[HOOK_INSTANCE].data_source == "prefetch" and rows[HOOK_INSTANCE].config_version == "test-v1"
    assert rows["5a3c7f0e-1111-4a2b-9c3d-000000000412"].status_code == 412


def test_feedback_for_an_issued_card_is_stored(client: FlaskClient) -> None:
    card = client.post("/cds-services/protocol-echo-select", json=body()).get_json()["cards"][0]
    client.application.extensions[EXTENSION_KEY].audit.flush()
    feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                              "overrideReason": {"reason": card["overrideReasons"][0]},
                              "outcomeTimestamp": "2026-05-01T10:05:31Z"}]}
    response = client.post("/cds-services/protocol-echo-select/feedback", json=feedback)
    assert response.status_code == 200
    assert response.get_json()["stored"] == 1
    assert client.post("/cds-services/nope/feedback", json=feedback).status_code == 404
    bad = client.post("/cds-services/protocol-echo-select/feedback", json={"feedback": [{"card": "x"}]})
    assert bad.status_code == 400


def test_client_jwt_required_when_issuers_are_trusted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    jwks = {"keys": [jwk]}
    app, store = make_app(tmp_path, {"security": {"trusted_issuers": {"https://ehr.example.org": {"jwks": jwks}}}})
    client = app.test_client()
    def token(aud: str, iss: str = "https://ehr.example.org") -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
        signed = jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})
        return {"Authorization": f"Bearer {signed}"}

    base = "http://localhost/cds-services"  # no public_base_url configured: the request's own URL
    for response in (client.get("/cds-services"), client.post("/cds-services/protocol-echo-select", json=body()),
                     client.get("/cds-services", headers={"Authorization": "Bearer not.a.jwt"}),
                     client.get("/cds-services", headers=token(base + "/protocol-echo-select")),
                     client.get("/cds-services", headers=token(base, iss="https://other.example.org"))):
        assert response.status_code == 401
        assert response.get_json()["issue"][0]["diagnostics"] == "unauthorized"
    assert client.get("/cds-services", headers=token(base)).status_code == 200
    signed = token(base + "/protocol-echo-select")
    assert client.post("/cds-services/protocol-echo-select", json=body(), headers=signed).status_code == 200
    replay = client.post("/cds-services/protocol-echo-select", json=body(), headers=signed)
    assert replay.status_code == 401  # the same jti twice
    assert client.get("/healthz").status_code == 200
    store.dispose()


def test_responses_never_carry_null_or_empty_optionals(client: FlaskClient) -> None:
    text = client.post("/cds-services/protocol-echo-select", json=body()).get_data(as_text=True)
    payload = json.loads(text)

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if path.endswith(ECHO_EXTENSION):
                    continue
                assert v not in (None, "", [], {}), f"{path}.{k}"
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for card in payload["cards"]:
        walk(card, "card")


def test_sloppy_draft_orders_never_cost_a_500(client: FlaskClient) -> None:
    request = body()
    request["context"]["draftOrders"]["entry"] = [
        {"resource": {**DRAFT, "category": {"text": "procedure"}, "reasonCode": {"text": "fracture"}}},
        {"resource": {"resourceType": "ServiceRequest", "id": "broken", "status": 42, "code": "22514"}},
        {"resource": "not a resource"},
        {"fullUrl": "urn:uuid:no-resource"},
    ]
    response = client.post("/cds-services/protocol-echo-select", json=request)
    assert response.status_code == 200, response.get_json()
    echo = response.get_json()["cards"][0]["extension"][ECHO_EXTENSION]
    assert echo["drafts"] >= 1 and echo["problems"] >= 1


def test_an_invalid_body_names_line_and_column_and_a_huge_integer_is_still_json() -> None:
    from cds_service.errors import BadRequestError
    from cds_service.hooks.invoke import decode_body

    with pytest.raises(BadRequestError, match="not valid JSON at line 2 column 7"):
        decode_body(b'{"a": 1,\n "b": }')
    # Valid JSON beyond 64-bit integers (which the fast parser refuses) is read as it always was.
    assert decode_body(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    assert decode_body('{"t": "Lévy"}'.encode()) == {"t": "Lévy"}


def test_a_card_value_beyond_64_bit_integers_is_still_written_as_json(tmp_path: Path) -> None:
    from cds_service.services.registry import CdsService, HandlerResult
    from cds_service.wire import Card, Source

    def handler(call: Any) -> HandlerResult:
        return HandlerResult(cards=[Card(summary="big", indicator="info", source=Source(label="t"),
                                         extension={"org.example.big": {"n": 2 ** 70}})], findings=[])

    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.create_all()
    service = CdsService(id="big-select", hook="order-select", title="big", description="big", prefetch={},
                         required_prefetch=frozenset(), handler=handler)
    app = create_app(Settings(data_dir=tmp_path), config_provider(store), registry=ServiceRegistry([service]),
                     store=store)
    response = app.test_client().post("/cds-services/big-select", json=body())
    assert response.status_code == 200
    assert json.loads(response.data)["cards"][0]["extension"]["org.example.big"]["n"] == 2 ** 70
    store.dispose()
