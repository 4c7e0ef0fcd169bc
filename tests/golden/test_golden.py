"""Golden tests: every fhir_fixtures scenario through the real service over HTTP, with and without prefetch.

Mode `prefetch`: the EHR side executes the discovery prefetch templates (GET /cds-services) against the
FHIR server holding the scenario and sends the results, no FHIR server access. Mode `fhir-server`: no
prefetch; the request carries fhirServer + fhirAuthorization and the service queries the server itself.
Both must return exactly the findings the spec dictates (fhir_fixtures/<name>/expected.json).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from fhir_fixtures import compare, loader
from tests.integration.fhir_server import FhirServer, execute_prefetch

if TYPE_CHECKING:
    from tests.golden.conftest import ServicesByProfile

MODES = ("prefetch", "fhir-server")


def _prefetch(service_base: str, fx: loader.Fixture, fhir: FhirServer) -> dict[str, Any]:
    discovery = requests.get(f"{service_base}/cds-services", timeout=30)
    assert discovery.status_code == 200, discovery.text[:500]
    entry = next((s for s in discovery.json()["services"] if s["id"] == fx.service_id), None)
    assert entry is not None, f"discovery lists no service {fx.service_id!r}"
    prefetch: dict[str, Any] = {}
    for key, template in (entry.get("prefetch") or {}).items():
        try:
            prefetch[key] = execute_prefetch(fhir.base_url, fhir.token, template, fx.request["context"])
        except KeyError:
            continue  # a token with no value in this context: an EHR omits that key
    return prefetch


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", loader.names())
def test_fixture_gives_the_expected_findings(name: str, mode: str, fhir_server: FhirServer,
                                             service_for_profile: ServicesByProfile) -> None:
    fx = loader.load(name)  # dates shifted to now, fresh hookInstance
    fhir_server.load_bundle(fx.bundle)
    service = service_for_profile(fx.profile)
    body = dict(fx.request)
    if mode == "prefetch":
        body["prefetch"] = _prefetch(service.base_url, fx, fhir_server)
    else:
        body["fhirServer"] = fhir_server.base_url
        body["fhirAuthorization"] = {**fhir_server.fhir_authorization, "patient": fx.request["context"]["patientId"]}
    response = requests.post(service.url(f"cds-services/{fx.service_id}"), json=body, timeout=120)
    assert response.status_code == 200, f"{name} [{mode}]: HTTP {response.status_code}: {response.text[:1500]}"
    cards = response.json().get("cards")
    assert isinstance(cards, list), response.text[:500]
    problems = compare.diff(fx.findings, compare.findings_from_cards(cards))
    assert not problems, compare.report(name, fx.description, problems)
