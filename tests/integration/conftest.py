"""Integration fixtures: a real FHIR server (sekmet-fhir), the real service over HTTP, and JWT-signing EHR clients.

Fixtures (see tests/integration/fhir_server.py for the classes they return):
- `fhir_server` (session): FhirServer on a free loopback port with a random bearer token; data persists for
  the session, so load bundles with patient ids unique to your test (`va-<test>-pat-1`).
- `start_service` (function): factory `start_service(config_file=None, database_url=None, env=None,
  workers=1) -> ServiceProcess`; every service it started is stopped at the end of the test.
- `service` (module): one service with embedded defaults (no client auth) on SQLite, for read-only tests.
- `ehr_client` (session): an `EhrClient` with a fresh ES384 key: `.trusted_issuers_env()` gives the
  CDS_TRUSTED_ISSUERS value that trusts it, `.authorization(aud)` a signed `Bearer` header.
- `execute_prefetch(fhir_base, token, template, context)`: imported from fhir_server, not a fixture.
All tests under tests/integration are marked `integration`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fhir_server import EhrClient, FhirServer, ServiceProcess

INTEGRATION_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """A running sekmet-fhir for the whole session (installed on first use by scripts/fhir_server_setup.sh)."""
    server = FhirServer.start(tmp_path_factory.mktemp("fhir-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory starting `cds-service serve` subprocesses; all are stopped when the test ends."""
    started: list[ServiceProcess] = []

    def start(**kwargs: Any) -> ServiceProcess:
        service = ServiceProcess.start(tmp_path / f"service-{len(started)}", **kwargs)
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in started:
            service.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service on embedded defaults (client auth off, loopback FHIR servers allowed), shared by a module."""
    proc = ServiceProcess.start(tmp_path_factory.mktemp("service"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def ehr_client() -> EhrClient:
    return EhrClient()
