"""Integration-test infrastructure: a real FHIR R4 server (sekmet-fhir), the real service as a subprocess, prefetch execution.

Used through the fixtures in tests/integration/conftest.py, or directly (the fixtures engineer's tools and the
demo scripts). Everything binds to 127.0.0.1 on a free port and is stopped by its owner; logs go to files in the
owner's temporary directory and their tail is shown when a start fails.

- `FhirServer.start(workdir)`: sekmet-fhir from .fhir-venv (installed by scripts/fhir_server_setup.sh) with a
  random bearer token, the workflow simulator and inbound logging off, in-memory database; `load_bundle()`
  posts transaction Bundles.
- `ServiceProcess.start(workdir, ...)`: `cds-service serve` with a temporary CDS_DATA_DIR, optional
  configuration file, CDS_DATABASE_URL and extra CDS_* environment; waits for /healthz.
- `EhrClient`: a CDS client key pair signing CDS Hooks JWTs (ES384 like the Sandbox, or RS384).
- `execute_prefetch(...)`: what an EHR does with a discovery prefetch template: substitute the context
  tokens, GET it with the token, follow `next` links, return the resource or the merged searchset Bundle.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

REPO_ROOT = Path(__file__).resolve().parents[2]
FHIR_VENV = Path(os.environ.get("CDS_FHIR_VENV", REPO_ROOT / ".fhir-venv"))
SETUP_SCRIPT = REPO_ROOT / "scripts" / "fhir_server_setup.sh"
LOOPBACK = "127.0.0.1"
EHR_ISSUER = "https://ehr.integration.test"
_ENGINE_BUILD_ENV = frozenset({"CDS_CQL_ACCEL", "CDS_CQL_ACCEL_DIR"})

# Test-only services with predictable cards (tests/protocol_services.py): ids protocol-echo-select/-sign.
PROTOCOL_SERVICES = "protocol_services"


class StartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def ensure_fhir_server_installed() -> Path:
    """The python of .fhir-venv, running scripts/fhir_server_setup.sh first if sekmet-fhir is missing."""
    python = FHIR_VENV / "bin" / "python"
    probe = [str(python), "-c", "import sekmet.main, uvicorn"] if python.exists() else None
    if probe is None or subprocess.run(probe, capture_output=True).returncode != 0:
        done = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise StartError(f"scripts/fhir_server_setup.sh failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return python


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_http_ok(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"process exited with {process.returncode} before {url} answered:\n{_tail(log_path)}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise StartError(f"{url} did not answer 200 within {timeout_s:.0f}s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    # Each server runs in its own process group (start_new_session), so gunicorn workers go with the master.
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


@dataclass
class FhirServer:
    """A running sekmet-fhir instance. `base_url` ends in /fhir; every call but /metadata needs `token`."""

    base_url: str
    token: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @classmethod
    def start(cls, workdir: Path, *, token: str | None = None, port: int | None = None,
              validation: str = "strict", timeout_s: float = 60.0) -> FhirServer:
        """Start on a free loopback port and wait for GET /fhir/metadata; `validation` = strict | warn | off."""
        python = ensure_fhir_server_installed()
        workdir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        token = token or secrets.token_urlsafe(24)
        base_url = f"http://{LOOPBACK}:{port}/fhir"
        settings = {
            "base_url": base_url, "host": LOOPBACK, "port": port, "db_path": ":memory:",
            "data_dir": str(workdir / "data"), "own_private_key_path": str(workdir / "keys" / "sekmet_private.pem"),
            # The simulator rewrites data within seconds and inbound logging grows without bound: both off.
            "log_inbound": False, "simulator": {"enabled": False},
            "server_auth": {"types": ["bearer"], "tokens": [token]},
            "validation": {"inbound": validation},
        }
        settings_path = workdir / "sekmet-settings.yaml"
        settings_path.write_text(json.dumps(settings, indent=2))  # JSON is YAML
        log_path = workdir / "sekmet.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEKMET_", "CDS_"))}
        env["SEKMET_CONFIG"] = str(settings_path)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [str(python), "-m", "uvicorn", "sekmet.main:app_factory", "--factory", "--host", LOOPBACK,
                 "--port", str(port), "--no-access-log"],
                cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        server = cls(base_url=base_url, token=token, port=port, workdir=workdir, process=process)
        try:
            _wait_http_ok(f"{base_url}/metadata", process, log_path, timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/fhir+json"}

    @property
    def fhir_authorization(self) -> dict[str, Any]:
        """The `fhirAuthorization` object an EHR would put in a hook request for this server."""
        return {"access_token": self.token, "token_type": "Bearer", "expires_in": 300,
                "scope": "patient/*.read", "subject": "cds-service"}

    def load_bundle(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """POST a transaction (or batch) Bundle; returns the response Bundle, raises on any non-2xx."""
        response = self.session.post(
            self.base_url, json=bundle, timeout=60,
            headers={**self.auth_headers, "Content-Type": "application/fhir+json"},
        )
        if response.status_code >= 300:
            raise AssertionError(f"loading bundle failed: HTTP {response.status_code}: {response.text[:2000]}")
        result: dict[str, Any] = response.json()
        return result

    def load_bundle_file(self, path: Path) -> dict[str, Any]:
        """Load a transaction Bundle from a JSON file (e.g. one of fhir_fixtures/)."""
        return self.load_bundle(json.loads(Path(path).read_text()))

    def get(self, path_or_url: str, **params: Any) -> requests.Response:
        """GET a relative path (`Patient/x`, `Observation?...`) or an absolute URL with the token."""
        url = path_or_url if path_or_url.startswith("http") else f"{self.base_url}/{path_or_url.lstrip('/')}"
        return self.session.get(url, params=params or None, headers=self.auth_headers, timeout=30)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        _stop(self.process)
        self.session.close()


@dataclass
class ServiceProcess:
    """The real CDS service (`cds-service serve`) running as a subprocess on loopback."""

    base_url: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # The console script's code path (`cds-service serve`), run with this interpreter so no install is needed.
    command: ClassVar[tuple[str, ...]] = (sys.executable, "-m", "cds_service.cli", "serve")

    @classmethod
    def start(cls, workdir: Path, *, config_file: Path | None = None, database_url: str | None = None,
              env: Mapping[str, str] | None = None, workers: int = 1, threads: int = 4,
              service_modules: str | None = None, port: int | None = None,
              timeout_s: float = 90.0) -> ServiceProcess:
        """Start the service with a fresh CDS_DATA_DIR under `workdir` and wait for GET /healthz == 200.

        `env` adds CDS_* variables (CDS_TRUSTED_ISSUERS, CDS_PUBLIC_BASE_URL, CDS_FHIR_SERVER_ALLOWLIST...);
        the caller's own CDS_* environment is not inherited, so tests never depend on the shell they run in.
        `service_modules` sets CDS_SERVICE_MODULES: `PROTOCOL_SERVICES` (tests/protocol_services.py, cards that
        do not depend on the clinical logic) for protocol tests; default = the vertebral augmentation services.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        data_dir = workdir / "data"
        data_dir.mkdir(exist_ok=True)
        # Which build of the CQL engine runs (cds_service/accel.py) is the one CDS_* setting passed on: the
        # suite runs on the compiled engine when scripts/test.sh built it, and CDS_CQL_ACCEL=off runs it pure.
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_") or k in _ENGINE_BUILD_ENV}
        # tests/ on the path so CDS_SERVICE_MODULES can name the test-only protocol_services module.
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), str(REPO_ROOT / "tests"), child_env.get("PYTHONPATH")) if p)
        child_env.update({"CDS_DATA_DIR": str(data_dir), "CDS_HOST": LOOPBACK, "CDS_PORT": str(port),
                          "CDS_WORKERS": str(workers), "CDS_THREADS": str(threads)})
        if config_file is not None:
            child_env["CDS_CONFIG"] = str(config_file)
        if database_url is not None:
            child_env["CDS_DATABASE_URL"] = database_url
        if service_modules is not None:
            child_env["CDS_SERVICE_MODULES"] = service_modules
        child_env.update(env or {})
        log_path = workdir / "service.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                list(cls.command),
                cwd=workdir, env=child_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        service = cls(base_url=f"http://{LOOPBACK}:{port}", port=port, data_dir=data_dir, log_path=log_path,
                      process=process)
        try:
            _wait_http_ok(f"{service.base_url}/healthz", process, log_path, timeout_s)
        except BaseException:
            service.stop()
            raise
        return service

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def log_text(self) -> str:
        """Everything the service logged so far (to assert that no token or PHI was logged)."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the service and its workers (idempotent)."""
        _stop(self.process)


_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")
_USER_TOKENS = {"userPractitionerId": "Practitioner", "userPractitionerRoleId": "PractitionerRole",
                "userPatientId": "Patient", "userRelatedPersonId": "RelatedPerson"}


def render_prefetch_template(template: str, context: Mapping[str, Any]) -> str:
    """Substitute the prefetch tokens as an EHR does (`{{context.patientId}}`, `{{context.userPractitionerId}}`...).

    `userXxxId` tokens come from `context.userId` (`Practitioner/123` -> `123`) when the type matches.
    A token with no value raises KeyError: an EHR would not send that prefetch at all.
    """
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in context and context[name] is not None:
            return quote(str(context[name]), safe="/,|:")
        user = str(context.get("userId") or "")
        rtype = _USER_TOKENS.get(name)
        if rtype and user.startswith(f"{rtype}/"):
            return quote(user.split("/", 1)[1], safe="")
        raise KeyError(f"prefetch token context.{name} has no value in the context")

    return _TOKEN.sub(value, template)


def execute_prefetch(fhir_base: str, token: str, template: str, context: Mapping[str, Any], *,
                     page_cap: int = 50, session: requests.Session | None = None) -> dict[str, Any]:
    """Run one prefetch template against a FHIR server as an EHR would; return the resource or searchset Bundle.

    Search results are merged across `next` pages (followed as opaque URLs, up to `page_cap`) into one
    Bundle whose `total` is the number of matches, with no `next` link left, so it can go in `prefetch`.
    """
    http = session or requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    url = f"{fhir_base.rstrip('/')}/{render_prefetch_template(template, context).lstrip('/')}"
    response = http.get(url, headers=headers, timeout=30)
    response.raise_for_status()
    first: dict[str, Any] = response.json()
    if first.get("resourceType") != "Bundle" or first.get("type") != "searchset":
        return first
    entries = list(first.get("entry") or [])
    nxt = _next_link(first)
    pages = 1
    while nxt and pages < page_cap:
        response = http.get(nxt, headers=headers, timeout=30)
        response.raise_for_status()
        page = response.json()
        entries.extend(page.get("entry") or [])
        nxt = _next_link(page)
        pages += 1
    if nxt:
        raise RuntimeError(f"prefetch {template!r} has more than {page_cap} pages")
    merged = {k: v for k, v in first.items() if k not in ("link", "entry", "total")}
    # total counts matches only; _include'd resources ride along without being counted (FHIR search rules).
    merged["total"] = sum(1 for e in entries if (e.get("search") or {}).get("mode", "match") == "match")
    if entries:
        merged["entry"] = entries
    return merged


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


class EhrClient:
    """A CDS client (EHR) that signs CDS Hooks JWTs, as the Sandbox does (ES384 by default, or RS384)."""

    def __init__(self, issuer: str = EHR_ISSUER, alg: str = "ES384", kid: str | None = None) -> None:
        self.issuer, self.alg, self.kid = issuer, alg, kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg.startswith("ES"):
            self.private_key: Any = ec.generate_private_key(ec.SECP384R1())
            public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        else:
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        self.jwk: dict[str, Any] = {**public_jwk, "kid": self.kid, "alg": alg, "use": "sig"}

    def trusted_issuers_env(self) -> str:
        """CDS_TRUSTED_ISSUERS value trusting this client with an inline JWK Set."""
        return json.dumps({self.issuer: {"jwks": {"keys": [self.jwk]}}})

    def token(self, aud: str | list[str], *, lifetime_s: int = 300, iat_offset_s: float = 0,
              jti: str | None = None, **extra: Any) -> str:
        now = int(time.time() + iat_offset_s)
        claims = {"iss": self.issuer, "aud": aud, "iat": now, "exp": now + lifetime_s,
                  "jti": jti or str(uuid.uuid4()), **extra}
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT"})

    def authorization(self, aud: str | list[str], **kwargs: Any) -> dict[str, str]:
        """`{"Authorization": "Bearer <fresh JWT>"}` for one call to the endpoint `aud`."""
        return {"Authorization": f"Bearer {self.token(aud, **kwargs)}"}
