"""Tests for hooks/auth.py: CDS Hooks client JWT verification with real ES384/RS384 keys and a real JWKS server."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.hooks.auth import (
    AuthenticationError,
    JwksCache,
    JwtVerifier,
    TrustedIssuer,
    endpoint_audiences,
)
from cds_service.store.db import Store

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org/base"
AUD = f"{BASE}/cds-services/vertebral-augmentation-select"


class Signer:
    """A client key pair: signs tokens and publishes its public JWK."""

    def __init__(self, alg: str, kid: str) -> None:
        self.alg, self.kid = alg, kid
        if alg.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP384R1())
            algo = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA384)
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            algo = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA384)
        self.jwk: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        self.jwk.update({"kid": kid, "alg": alg, "use": "sig"})

    def token(self, *, claims: dict[str, Any] | None = None, header: dict[str, Any] | None = None,
              drop: tuple[str, ...] = ()) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        hdr: dict[str, Any] = {"kid": self.kid, "typ": "JWT"}
        hdr.update(header or {})
        return jwt.encode(body, self.private, algorithm=self.alg, headers=hdr)


class JwksServer:
    """A real loopback HTTP server publishing a JWK Set that tests can rotate."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                outer.hits += 1
                body = json.dumps(outer.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'auth.sqlite3'}")
    s.create_all()
    yield s
    s.dispose()


@pytest.fixture(scope="module")
def es() -> Signer:
    return Signer("ES384", "es-key-1")


@pytest.fixture(scope="module")
def rs() -> Signer:
    return Signer("RS384", "rs-key-1")


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def verifier(store: Store, es: Signer, rs: Signer) -> JwtVerifier:
    return JwtVerifier({ISS: {"jwks": {"keys": [es.jwk, rs.jwk]}}}, store)


def _refused(verifier: JwtVerifier, header: str | None, audience: Any = AUD) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(header, audience)
    assert info.value.status == 401
    # The client learns nothing about why (best practice); the reason stays server-side.
    assert info.value.operation_outcome()["issue"][0]["diagnostics"] == "unauthorized"
    return info.value


@pytest.mark.parametrize("signer", ["es", "rs"])
def test_valid_es384_and_rs384_tokens_are_accepted(verifier: JwtVerifier, signer: str,
                                                   request: pytest.FixtureRequest) -> None:
    s: Signer = request.getfixturevalue(signer)
    claims = verifier.verify(f"Bearer {s.token()}", AUD)
    assert claims["iss"] == ISS and claims["aud"] == AUD


def test_sandbox_iat_slightly_in_the_future_is_accepted(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    verifier.verify(f"Bearer {es.token(claims={'iat': now + 2, 'exp': now + 302})}", AUD)


def test_hs256_is_refused_even_with_the_public_key_as_secret(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": "h1"},
                       "a-shared-secret-of-enough-length-32b", algorithm="HS256",
                       headers={"kid": es.kid, "typ": "JWT"})
    assert "algorithm" in _refused(verifier, f"Bearer {token}").reason


def test_alg_none_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": "n1"}, None,
                       algorithm="none", headers={"kid": es.kid, "typ": "JWT"})
    assert "algorithm" in _refused(verifier, f"Bearer {token}").reason


def test_configuring_a_symmetric_algorithm_is_an_error(store: Store, es: Signer) -> None:
    with pytest.raises(ValueError, match="HS256"):
        JwtVerifier({ISS: {"jwks": {"keys": [es.jwk]}}}, store, algorithms=("ES384", "HS256"))
    with pytest.raises(ValueError, match="none"):
        TrustedIssuer(ISS, jwks={"keys": [es.jwk]}, algorithms=("none",))


def test_expired_token_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    _refused(verifier, f"Bearer {es.token(claims={'iat': now - 400, 'exp': now - 60})}")


def test_expiry_within_leeway_is_accepted(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    verifier.verify(f"Bearer {es.token(claims={'iat': now - 300, 'exp': now - 2})}", AUD)


def test_iat_in_the_future_beyond_leeway_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    _refused(verifier, f"Bearer {es.token(claims={'iat': now + 60, 'exp': now + 360})}")


def test_nbf_in_the_future_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    _refused(verifier, f"Bearer {es.token(claims={'nbf': int(time.time()) + 120})}")


def test_wrong_audience_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    _refused(verifier, f"Bearer {es.token(claims={'aud': 'https://evil.example/cds-services/x'})}")
    # The discovery URL is not a valid audience for a service call either.
    _refused(verifier, f"Bearer {es.token(claims={'aud': f'{BASE}/cds-services'})}")


def test_feedback_accepts_feedback_url_and_service_url(verifier: JwtVerifier, es: Signer) -> None:
    audiences = endpoint_audiences(BASE + "/", "vertebral-augmentation-select", feedback=True)
    assert audiences == [f"{AUD}/feedback", AUD]
    verifier.verify(f"Bearer {es.token(claims={'aud': f'{AUD}/feedback'})}", audiences)
    verifier.verify(f"Bearer {es.token(claims={'aud': AUD})}", audiences)
    verifier.verify(f"Bearer {es.token(claims={'aud': ['https://other', AUD]})}", audiences)
    assert endpoint_audiences(BASE) == [f"{BASE}/cds-services"]


def test_wrong_issuer_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    assert "untrusted issuer" in _refused(verifier, f"Bearer {es.token(claims={'iss': 'https://evil'})}").reason


def test_token_signed_by_another_key_with_a_trusted_kid_is_refused(verifier: JwtVerifier) -> None:
    impostor = Signer("ES384", "es-key-1")
    _refused(verifier, f"Bearer {impostor.token()}")


def test_unknown_kid_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    assert "unknown kid" in _refused(verifier, f"Bearer {es.token(header={'kid': 'nope'})}").reason


def test_missing_kid_and_wrong_typ_are_refused(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": "k"}, es.private,
                       algorithm="ES384", headers={"typ": "JWT"})
    assert "kid" in _refused(verifier, f"Bearer {token}").reason
    assert "typ" in _refused(verifier, f"Bearer {es.token(header={'typ': 'at+jwt'})}").reason


@pytest.mark.parametrize("claim", ["jti", "exp", "iat", "aud"])
def test_required_claims_must_be_present(verifier: JwtVerifier, es: Signer, claim: str) -> None:
    _refused(verifier, f"Bearer {es.token(drop=(claim,))}")


def test_replayed_jti_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    token = es.token()
    verifier.verify(f"Bearer {token}", AUD)
    assert "replayed" in _refused(verifier, f"Bearer {token}").reason


def test_replay_is_refused_across_verifiers_sharing_the_store(store: Store, es: Signer) -> None:
    """Two gunicorn workers each hold a verifier; the jti cache lives in the shared database."""
    worker_a = JwtVerifier({ISS: {"jwks": {"keys": [es.jwk]}}}, store)
    worker_b = JwtVerifier({ISS: {"jwks": {"keys": [es.jwk]}}}, store)
    token = es.token()
    worker_a.verify(f"Bearer {token}", AUD)
    _refused(worker_b, f"Bearer {token}")


def test_overlong_lifetime_is_refused(verifier: JwtVerifier, es: Signer) -> None:
    now = int(time.time())
    _refused(verifier, f"Bearer {es.token(claims={'iat': now, 'exp': now + 7 * 86400})}")


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt"])
def test_missing_or_malformed_header_is_refused(verifier: JwtVerifier, header: str | None) -> None:
    _refused(verifier, header)


def test_tenant_restriction(store: Store, es: Signer) -> None:
    v = JwtVerifier([TrustedIssuer(ISS, jwks={"keys": [es.jwk]}, tenants=("hospital-a",))], store)
    v.verify(f"Bearer {es.token(claims={'tenant': 'hospital-a'})}", AUD)
    _refused(v, f"Bearer {es.token(claims={'tenant': 'hospital-b'})}")
    _refused(v, f"Bearer {es.token()}")


def test_jwks_url_is_fetched_once_and_refreshed_on_rotation(store: Store, jwks_server: JwksServer,
                                                            es: Signer) -> None:
    jwks_server.jwks = {"keys": [es.jwk]}
    v = JwtVerifier({ISS: jwks_server.url}, store, jwks_cache=JwksCache(min_refresh_interval_s=0))
    v.verify(f"Bearer {es.token()}", AUD)
    v.verify(f"Bearer {es.token()}", AUD)
    assert jwks_server.hits == 1  # cached
    rotated = Signer("ES384", "es-key-2")
    jwks_server.jwks = {"keys": [es.jwk, rotated.jwk]}
    v.verify(f"Bearer {rotated.token()}", AUD)  # unknown kid -> refresh
    assert jwks_server.hits == 2


def test_unknown_kid_refreshes_are_rate_limited(store: Store, jwks_server: JwksServer, es: Signer) -> None:
    jwks_server.jwks = {"keys": [es.jwk]}
    v = JwtVerifier({ISS: jwks_server.url}, store, jwks_cache=JwksCache(min_refresh_interval_s=60))
    v.verify(f"Bearer {es.token()}", AUD)
    for i in range(5):
        _refused(v, f"Bearer {es.token(header={'kid': f'random-{i}'})}")
    assert jwks_server.hits == 1


def test_unreachable_jwks_is_a_401_not_a_crash(store: Store, es: Signer) -> None:
    v = JwtVerifier({ISS: "http://127.0.0.1:1/jwks.json"}, store)
    _refused(v, f"Bearer {es.token()}")


def test_jku_is_honoured_only_when_allow_listed(store: Store, jwks_server: JwksServer, es: Signer) -> None:
    jwks_server.jwks = {"keys": [es.jwk]}
    v = JwtVerifier({ISS: {"jku_allowlist": [jwks_server.url]}}, store)
    v.verify(f"Bearer {es.token(header={'jku': jwks_server.url})}", AUD)
    hits = jwks_server.hits
    attacker_url = jwks_server.url.replace("jwks.json", "attacker.json")
    assert "jku" in _refused(v, f"Bearer {es.token(header={'jku': attacker_url})}").reason
    assert jwks_server.hits == hits  # the service never fetched the attacker's URL


def test_key_of_the_wrong_type_for_the_alg_is_refused(store: Store, es: Signer, rs: Signer) -> None:
    # The RSA key published under the EC key's kid: an ES384 token must not verify against it.
    mislabeled = dict(rs.jwk, kid=es.kid)
    mislabeled.pop("alg")
    v = JwtVerifier({ISS: {"jwks": {"keys": [mislabeled]}}}, store)
    _refused(v, f"Bearer {es.token()}")


def test_token_never_reaches_the_log(verifier: JwtVerifier, es: Signer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = es.token(claims={"aud": "https://wrong"})
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(f"Bearer {token}", AUD)
    signature = token.rsplit(".", 1)[1]
    assert signature not in info.value.reason and token.split(".")[1] not in info.value.reason
    assert all(signature not in r.getMessage() for r in caplog.records)


def test_key_published_for_another_alg_is_refused(store: Store, es: Signer) -> None:
    v = JwtVerifier({ISS: {"jwks": {"keys": [dict(es.jwk, alg="ES256")]}}}, store, algorithms=("ES384", "ES256"))
    assert "not a ES384 signing key" in _refused(v, f"Bearer {es.token()}").reason


def test_jku_equal_to_the_configured_jwks_url_is_accepted(store: Store, jwks_server: JwksServer,
                                                          es: Signer) -> None:
    """The Sandbox puts its JWKS URL in jku; configuring that URL as jwks_url is enough to trust it."""
    jwks_server.jwks = {"keys": [es.jwk]}
    v = JwtVerifier({ISS: jwks_server.url}, store)
    v.verify(f"Bearer {es.token(header={'jku': jwks_server.url})}", AUD)
    other = jwks_server.url + "?other"
    assert "jku" in _refused(v, f"Bearer {es.token(header={'jku': other})}").reason
