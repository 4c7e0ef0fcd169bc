"""Integration: CDS Hooks client JWT authentication of the real service over HTTP (discovery, service, feedback)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
import requests

from cds_service.store.db import Store
from tests.integration.fhir_server import PROTOCOL_SERVICES, EhrClient, ServiceProcess

# Deliberately not the address the service listens on: aud must follow the configured public URL, as it
# would behind a reverse proxy, never the Host header of the request.
PUBLIC_BASE = "https://cds.integration.test/va"
DISCOVERY_AUD = f"{PUBLIC_BASE}/cds-services"
# Authentication is protocol behaviour: the test-only echo services keep these tests off the clinical logic.
SERVICE_ID = "protocol-echo-select"
SERVICE_AUD = f"{DISCOVERY_AUD}/{SERVICE_ID}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, ehr_client: EhrClient) -> Iterator[ServiceProcess]:
    proc = ServiceProcess.start(
        tmp_path_factory.mktemp("secured-service"),
        env={"CDS_TRUSTED_ISSUERS": ehr_client.trusted_issuers_env(), "CDS_PUBLIC_BASE_URL": PUBLIC_BASE},
        workers=2, service_modules=PROTOCOL_SERVICES,
    )
    try:
        yield proc
    finally:
        proc.stop()


def _assert_401_without_detail(response: requests.Response) -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"] == "unauthorized"  # no hint for an attacker


def test_discovery_needs_a_valid_jwt(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    _assert_401_without_detail(requests.get(secured.url("/cds-services"), timeout=10))
    ok = requests.get(secured.url("/cds-services"), headers=ehr_client.authorization(DISCOVERY_AUD), timeout=10)
    assert ok.status_code == 200 and any(s["id"] == SERVICE_ID for s in ok.json()["services"])


def test_expired_token_is_refused(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    headers = ehr_client.authorization(DISCOVERY_AUD, iat_offset_s=-900)  # exp 10 minutes ago
    _assert_401_without_detail(requests.get(secured.url("/cds-services"), headers=headers, timeout=10))


def test_sandbox_clock_skew_is_tolerated(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    headers = ehr_client.authorization(DISCOVERY_AUD, iat_offset_s=1.5)
    assert requests.get(secured.url("/cds-services"), headers=headers, timeout=10).status_code == 200


def test_audience_is_the_configured_public_url_not_the_host_header(secured: ServiceProcess,
                                                                    ehr_client: EhrClient) -> None:
    host_based = ehr_client.authorization(secured.url("/cds-services"))
    _assert_401_without_detail(requests.get(secured.url("/cds-services"), headers=host_based, timeout=10))
    # A token minted for the discovery endpoint cannot be used to call a service.
    response = requests.post(secured.url(f"/cds-services/{SERVICE_ID}"), json={},
                             headers=ehr_client.authorization(DISCOVERY_AUD), timeout=10)
    _assert_401_without_detail(response)


def test_alg_none_is_refused(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ehr_client.issuer, "aud": DISCOVERY_AUD, "iat": now, "exp": now + 300,
                        "jti": str(uuid.uuid4())}, None, algorithm="none",
                       headers={"kid": ehr_client.kid, "typ": "JWT"})
    response = requests.get(secured.url("/cds-services"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    _assert_401_without_detail(response)


def test_token_from_an_untrusted_key_is_refused(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    impostor = EhrClient(issuer=ehr_client.issuer, kid=ehr_client.kid)  # same iss and kid, other key
    response = requests.get(secured.url("/cds-services"), headers=impostor.authorization(DISCOVERY_AUD), timeout=10)
    _assert_401_without_detail(response)


def test_replayed_token_is_refused_by_every_worker(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    headers = ehr_client.authorization(DISCOVERY_AUD)
    assert requests.get(secured.url("/cds-services"), headers=headers, timeout=10).status_code == 200
    # Two gunicorn workers: whichever gets the replays, the shared jti cache refuses them.
    for _ in range(6):
        _assert_401_without_detail(requests.get(secured.url("/cds-services"), headers=headers, timeout=10))


def test_feedback_accepts_both_feedback_and_service_audience(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    body = {"feedback": [{"card": f"auth-test-{uuid.uuid4()}", "outcome": "overridden",
                          "outcomeTimestamp": "2026-05-01T10:00:00Z"}]}
    url = secured.url(f"/cds-services/{SERVICE_ID}/feedback")
    for aud in (f"{SERVICE_AUD}/feedback", SERVICE_AUD):
        response = requests.post(url, json=body, headers=ehr_client.authorization(aud), timeout=10)
        assert response.status_code == 200, response.text
    _assert_401_without_detail(requests.post(url, json=body, timeout=10))


def test_tokens_never_reach_the_log(secured: ServiceProcess, ehr_client: EhrClient) -> None:
    token = ehr_client.token("https://wrong.example/cds-services")
    requests.get(secured.url("/cds-services"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    log = secured.log_text()
    assert "client authentication refused" in log  # the refusal is logged, with its reason...
    assert token.split(".")[2] not in log and token.split(".")[1] not in log  # ...but never the token


@pytest.mark.postgres
def test_replay_cache_lives_in_postgresql_across_two_services(
    start_service: Callable[..., ServiceProcess], ehr_client: EhrClient, tmp_path: Path
) -> None:
    """Two replicas behind a load balancer share one database: a token used on one is refused on the other."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    Store("postgresql+psycopg://postgres@127.0.0.1:5432/test", schema=schema).dispose()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    env = {"CDS_TRUSTED_ISSUERS": ehr_client.trusted_issuers_env(), "CDS_PUBLIC_BASE_URL": PUBLIC_BASE}
    try:
        first = start_service(database_url=url, env=env, service_modules=PROTOCOL_SERVICES)
        second = start_service(database_url=url, env=env, service_modules=PROTOCOL_SERVICES)
        headers = ehr_client.authorization(DISCOVERY_AUD)
        assert requests.get(first.url("/cds-services"), headers=headers, timeout=10).status_code == 200
        _assert_401_without_detail(requests.get(second.url("/cds-services"), headers=headers, timeout=10))
    finally:
        Store("postgresql+psycopg://postgres@127.0.0.1:5432/test", schema=schema).drop_schema()


def test_service_refuses_to_trust_a_symmetric_issuer_configuration(
    start_service: Callable[..., ServiceProcess], ehr_client: EhrClient
) -> None:
    """An oct (shared-secret) key in the trusted JWKS must not make HS256 tokens acceptable."""
    secret = "s3cret-s3cret-s3cret-s3cret-s3cret!"
    oct_jwk = {"kty": "oct", "kid": "shared", "k": jwt.utils.base64url_encode(secret.encode()).decode()}
    env = {"CDS_TRUSTED_ISSUERS": json.dumps({ehr_client.issuer: {"jwks": {"keys": [oct_jwk, ehr_client.jwk]}}}),
           "CDS_PUBLIC_BASE_URL": PUBLIC_BASE}
    proc = start_service(env=env, service_modules=PROTOCOL_SERVICES)
    now = int(time.time())
    token = jwt.encode({"iss": ehr_client.issuer, "aud": DISCOVERY_AUD, "iat": now, "exp": now + 300,
                        "jti": str(uuid.uuid4())}, secret, algorithm="HS256", headers={"kid": "shared", "typ": "JWT"})
    response = requests.get(proc.url("/cds-services"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    _assert_401_without_detail(response)
