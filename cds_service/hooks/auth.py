"""Protocol layer: CDS Hooks client authentication (JWT signed by the EHR, verified against trusted issuers' JWKS)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
import requests

from cds_service.errors import UnauthorizedError
from cds_service.store.db import Store
from cds_service.store.protocol import JtiCache

log = logging.getLogger("cds_service.auth")

DEFAULT_ALGORITHMS: tuple[str, ...] = ("ES384", "RS384")
# Asymmetric algorithms PyJWT can verify; anything else (none, HS*) is refused whatever the configuration says.
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
_JWKS_MAX_BYTES = 256 * 1024
_JWKS_TIMEOUT = (3.05, 5.0)  # connect, read: a slow key server must not hold a request thread for long


class AuthenticationError(UnauthorizedError):
    """The client JWT was refused: 401 with no detail in the body; `reason` is for the log only (no token)."""

    def __init__(self, reason: str) -> None:
        super().__init__("unauthorized")
        self.reason = reason


@dataclass(frozen=True)
class TrustedIssuer:
    """One EHR allowed to call the service, and where its public keys come from.

    Exactly one key source is usual: `jwks_url` (fetched, cached, refreshed on an unknown kid) or inline
    `jwks` (a JWK Set exchanged out of band). `jku_allowlist` lists the JWK Set URLs this issuer may name
    in a token's `jku` header besides `jwks_url` itself; any other `jku` is refused (it would let a token choose
    its own key and make the service fetch arbitrary URLs). `tenants`, when non-empty, restricts the optional `tenant` claim.
    """

    issuer: str
    jwks_url: str | None = None
    jwks: Mapping[str, Any] | None = None
    jku_allowlist: tuple[str, ...] = ()
    algorithms: tuple[str, ...] | None = None
    tenants: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ValueError("trusted issuer: issuer must not be empty")
        if self.jwks_url is None and self.jwks is None and not self.jku_allowlist:
            raise ValueError(f"trusted issuer {self.issuer!r}: give jwks_url, jwks or jku_allowlist")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError(f"trusted issuer {self.issuer!r}: jwks must be a JWK Set ({{'keys': [...]}})")
        for alg in self.algorithms or ():
            _check_algorithm_allowed(alg)

    @classmethod
    def from_config(cls, issuer: str, value: Any) -> TrustedIssuer:
        """Build from configuration: a JWKS URL string, a mapping, or a model with the same field names."""
        if isinstance(value, TrustedIssuer):
            return value
        if isinstance(value, str):
            return cls(issuer=issuer, jwks_url=value)
        if hasattr(value, "model_dump"):
            value = value.model_dump()
        if not isinstance(value, Mapping):
            raise ValueError(f"trusted issuer {issuer!r}: expected a JWKS URL or a table, got {type(value).__name__}")
        jwks = value.get("jwks")
        if isinstance(jwks, str):
            jwks = json.loads(jwks)
        algorithms = value.get("algorithms")
        return cls(
            issuer=issuer,
            jwks_url=value.get("jwks_url"),
            jwks=jwks,
            jku_allowlist=tuple(value.get("jku_allowlist") or ()),
            algorithms=tuple(algorithms) if algorithms else None,
            tenants=tuple(value.get("tenants") or ()),
        )


def _check_algorithm_allowed(alg: str) -> None:
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise ValueError(f"algorithm {alg!r} is not allowed: only asymmetric JWS algorithms (none and HS* never)")


def endpoint_audiences(public_base_url: str, service_id: str | None = None, *, feedback: bool = False) -> list[str]:
    """The `aud` values accepted for an endpoint, built from the configured public base URL (never the Host header).

    Discovery: `{base}/cds-services`; service: `{base}/cds-services/{id}`; feedback: the feedback URL and,
    because the spec leaves the feedback `aud` unstated, also the service URL.
    """
    base = public_base_url.rstrip("/") + "/cds-services"
    if service_id is None:
        return [base]
    service_url = f"{base}/{service_id}"
    return [f"{service_url}/feedback", service_url] if feedback else [service_url]


@dataclass
class _CachedJwks:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None        # last successful fetch
    attempted_at: float | None = None      # last attempt, successful or not (rate limit)


class JwksCache:
    """JWK Sets by URL: fetched with requests, cached, refreshed on an unknown kid at most once per interval."""

    def __init__(
        self,
        http: requests.Session | None = None,
        *,
        ttl_s: float = 3600.0,
        min_refresh_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http or requests.Session()
        self._ttl_s = ttl_s
        self._min_refresh_interval_s = min_refresh_interval_s
        self._clock = clock
        self._entries: dict[str, _CachedJwks] = {}
        self._lock = threading.Lock()
        self.fetch_count = 0

    def key(self, url: str, kid: str) -> dict[str, Any] | None:
        """The JWK with this kid from the set at `url`, fetching or refreshing as the rules allow."""
        with self._lock:
            entry = self._entries.setdefault(url, _CachedJwks())
            now = self._clock()
            stale = entry.fetched_at is None or now - entry.fetched_at > self._ttl_s
            unknown = kid not in entry.keys
            may_fetch = entry.attempted_at is None or now - entry.attempted_at >= self._min_refresh_interval_s
            if (stale or unknown) and may_fetch:
                entry.attempted_at = now
                try:
                    entry.keys = self._fetch(url)
                    entry.fetched_at = now
                except (requests.RequestException, ValueError) as exc:
                    # Keep serving the last good keys: a key server blip must not lock every EHR out.
                    log.warning("JWKS fetch failed url=%s error=%s", url, type(exc).__name__)
            return entry.keys.get(kid)

    def _fetch(self, url: str) -> dict[str, dict[str, Any]]:
        self.fetch_count += 1
        response = self._http.get(
            url, timeout=_JWKS_TIMEOUT, allow_redirects=False, headers={"Accept": "application/json"}, stream=True
        )
        try:
            if response.status_code != 200:
                raise ValueError(f"JWKS answered HTTP {response.status_code}")
            body = response.raw.read(_JWKS_MAX_BYTES + 1, decode_content=True)
        finally:
            response.close()
        if len(body) > _JWKS_MAX_BYTES:
            raise ValueError("JWKS document too large")
        return _keys_by_kid(json.loads(body))


def _keys_by_kid(jwks: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ValueError("not a JWK Set")
    # Keys without a kid cannot be selected (the spec requires kid in the JWT header), so they are dropped.
    return {k["kid"]: dict(k) for k in jwks["keys"] if isinstance(k, Mapping) and isinstance(k.get("kid"), str)}


class JwtVerifier:
    """Verifies the `Authorization: Bearer <JWT>` of CDS Hooks calls (CDS Hooks 2.0 'Trusting CDS Clients').

    `verify()` returns the claims or raises `AuthenticationError`. Checks: trusted `iss`; header `typ` JWT,
    `kid` present, `alg` in the asymmetric allow-list; signature with the issuer's key for that kid
    (`jku` only if allow-listed for the issuer); `aud` one of the endpoint URLs; `exp`, `iat` (not in the
    future) and `nbf` with `leeway_s`; lifetime at most `max_lifetime_s`; `jti` never seen before (kept in
    the store until `exp`, so all workers and replicas share it); `tenant` if the issuer restricts it.
    """

    def __init__(
        self,
        trusted_issuers: Mapping[str, Any] | Iterable[TrustedIssuer],
        store: Store | JtiCache,
        *,
        leeway_s: float = 5.0,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        max_lifetime_s: float = 3600.0,
        jwks_cache: JwksCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(trusted_issuers, Mapping):
            issuers = [TrustedIssuer.from_config(iss, v) for iss, v in trusted_issuers.items()]
        else:
            issuers = list(trusted_issuers)
        self.issuers: dict[str, TrustedIssuer] = {i.issuer: i for i in issuers}
        # Inline JWK Sets indexed once, not per request.
        self._inline_keys = {i.issuer: _keys_by_kid(i.jwks) for i in issuers if i.jwks is not None}
        for alg in algorithms:
            _check_algorithm_allowed(alg)
        self.algorithms = tuple(algorithms)
        self.leeway_s = leeway_s
        self.max_lifetime_s = max_lifetime_s
        self.jti_cache = store if isinstance(store, JtiCache) else JtiCache(store)
        self.jwks_cache = jwks_cache or JwksCache()
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """False when no issuer is trusted (then every token is refused; the app decides whether to require auth)."""
        return bool(self.issuers)

    def verify(self, authorization_header: str | None, audience: str | Sequence[str]) -> dict[str, Any]:
        """Verify the header's JWT for an endpoint whose accepted `aud` values are `audience`; return its claims."""
        token = _bearer_token(authorization_header)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"malformed token ({type(exc).__name__})") from None
        alg = header.get("alg")
        kid = header.get("kid")
        issuer_name = unverified.get("iss")
        context = f"iss={_short(issuer_name)} kid={_short(kid)} jti={_short(unverified.get('jti'))}"
        if not isinstance(alg, str) or alg not in self._algorithms_for(issuer_name):
            raise AuthenticationError(f"algorithm {_short(alg)} not allowed; {context}")
        if not isinstance(header.get("typ"), str) or header["typ"].upper() != "JWT":
            raise AuthenticationError(f"typ must be JWT; {context}")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError(f"kid missing; {context}")
        issuer = self.issuers.get(issuer_name) if isinstance(issuer_name, str) else None
        if issuer is None:
            raise AuthenticationError(f"untrusted issuer; {context}")

        jwk = self._find_key(issuer, header, kid, context)
        # A key published for another algorithm or for encryption must not verify this token.
        if jwk.get("alg") not in (None, alg) or jwk.get("use") not in (None, "sig"):
            raise AuthenticationError(f"key {_short(kid)} is not a {alg} signing key; {context}")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise AuthenticationError(f"key unusable for {alg} ({type(exc).__name__}); {context}") from None
        audiences = [audience] if isinstance(audience, str) else list(audience)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audiences,
                issuer=issuer.issuer,
                leeway=self.leeway_s,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"{type(exc).__name__}; {context}") from None

        now = self._clock()
        # PyJWT checked these against its own clock; re-check against ours so tests and skew handling agree.
        if float(claims["exp"]) < now - self.leeway_s:
            raise AuthenticationError(f"expired; {context}")
        if float(claims["iat"]) > now + self.leeway_s:
            raise AuthenticationError(f"iat in the future; {context}")
        if "nbf" in claims and float(claims["nbf"]) > now + self.leeway_s:
            raise AuthenticationError(f"not yet valid (nbf); {context}")
        if float(claims["exp"]) - float(claims["iat"]) > self.max_lifetime_s:
            raise AuthenticationError(f"lifetime over {self.max_lifetime_s:.0f}s; {context}")
        if issuer.tenants and claims.get("tenant") not in issuer.tenants:
            raise AuthenticationError(f"tenant not allowed; {context}")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthenticationError(f"jti must be a non-empty string; {context}")
        expires = datetime.fromtimestamp(float(claims["exp"]) + self.leeway_s, tz=UTC)
        if not self.jti_cache.claim(issuer.issuer, jti, expires, now=datetime.fromtimestamp(now, tz=UTC)):
            raise AuthenticationError(f"replayed jti; {context}")
        return claims

    def _algorithms_for(self, issuer_name: Any) -> tuple[str, ...]:
        issuer = self.issuers.get(issuer_name) if isinstance(issuer_name, str) else None
        return issuer.algorithms if issuer is not None and issuer.algorithms else self.algorithms

    def _find_key(self, issuer: TrustedIssuer, header: Mapping[str, Any], kid: str, context: str) -> dict[str, Any]:
        jku = header.get("jku")
        if jku is not None:
            # The issuer's own configured jwks_url is trusted already; the Sandbox names it in every token's jku.
            if jku not in issuer.jku_allowlist and jku != issuer.jwks_url:
                raise AuthenticationError(f"jku not allow-listed for issuer; {context}")
            jwk = self.jwks_cache.key(jku, kid)
        elif kid in self._inline_keys.get(issuer.issuer, {}):
            jwk = self._inline_keys[issuer.issuer][kid]
        elif issuer.jwks_url is not None:
            jwk = self.jwks_cache.key(issuer.jwks_url, kid)
        elif len(issuer.jku_allowlist) == 1:
            # An issuer known only by its allow-listed jku (the Sandbox sends jku) whose token omits it.
            jwk = self.jwks_cache.key(issuer.jku_allowlist[0], kid)
        else:
            jwk = None
        if jwk is None:
            raise AuthenticationError(f"unknown kid; {context}")
        return jwk


def _bearer_token(authorization_header: str | None) -> str:
    if not authorization_header:
        raise AuthenticationError("missing Authorization header")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("Authorization header is not a Bearer token")
    return token


def _short(value: Any) -> str:
    # Claims come from an unverified token: bound and flatten them before they reach a log line.
    text = str(value) if value is not None else "-"
    return text[:120].replace("\n", " ").replace("\r", " ")
