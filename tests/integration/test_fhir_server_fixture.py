"""Tests of the integration infrastructure itself: the sekmet-fhir fixture and the EHR-style prefetch helper."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.fhir_server import FhirServer, ServiceProcess, execute_prefetch, render_prefetch_template

PAT = "va-infra-pat-1"


def _bundle() -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{
        "fullUrl": f"urn:uuid:{PAT}",
        "resource": {"resourceType": "Patient", "id": PAT, "gender": "female", "birthDate": "1950-03-04"},
        "request": {"method": "PUT", "url": f"Patient/{PAT}"},
    }]
    for i in range(45):  # more than two default pages of 20
        entries.append({
            "resource": {
                "resourceType": "Observation", "id": f"va-infra-pain-{i}", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                "subject": {"reference": f"Patient/{PAT}"},
                "effectiveDateTime": f"2026-04-{(i % 28) + 1:02d}T10:00:00Z",
                "valueQuantity": {"value": i % 11, "unit": "{score}", "system": "http://unitsofmeasure.org",
                                  "code": "{score}"},
            },
            "request": {"method": "PUT", "url": f"Observation/va-infra-pain-{i}"},
        })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture(scope="module")
def loaded(fhir_server: FhirServer) -> FhirServer:
    fhir_server.load_bundle(_bundle())
    return fhir_server


def test_server_requires_the_bearer_token(loaded: FhirServer) -> None:
    assert requests.get(f"{loaded.base_url}/metadata", timeout=10).status_code == 200
    assert requests.get(f"{loaded.base_url}/Patient/{PAT}", timeout=10).status_code == 401
    wrong = requests.get(f"{loaded.base_url}/Patient/{PAT}", timeout=10, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert loaded.get(f"Patient/{PAT}").json()["birthDate"] == "1950-03-04"


def test_prefetch_read_template_returns_the_resource(loaded: FhirServer) -> None:
    patient = execute_prefetch(loaded.base_url, loaded.token, "Patient/{{context.patientId}}",
                               {"patientId": PAT})
    assert patient["resourceType"] == "Patient" and patient["id"] == PAT


def test_prefetch_search_follows_next_links_into_one_bundle(loaded: FhirServer) -> None:
    first_page = loaded.get(f"Observation?patient={PAT}&code=http://loinc.org|72514-3").json()
    assert any(link["relation"] == "next" for link in first_page["link"])  # the server really pages
    bundle = execute_prefetch(loaded.base_url, loaded.token,
                              "Observation?patient={{context.patientId}}&code=http://loinc.org|72514-3",
                              {"patientId": PAT})
    assert bundle["type"] == "searchset" and bundle["total"] == 45
    assert len({e["resource"]["id"] for e in bundle["entry"]}) == 45
    assert "link" not in bundle


def test_prefetch_page_cap_is_enforced(loaded: FhirServer) -> None:
    with pytest.raises(RuntimeError, match="more than 2 pages"):
        execute_prefetch(loaded.base_url, loaded.token, "Observation?patient={{context.patientId}}",
                         {"patientId": PAT}, page_cap=2)


def test_template_tokens_are_rendered_like_an_ehr() -> None:
    ctx = {"patientId": "p-1", "userId": "Practitioner/dr-7", "encounterId": "enc-3"}
    assert render_prefetch_template(
        "Encounter/{{context.encounterId}}?x={{context.userPractitionerId}}&p={{ context.patientId }}", ctx
    ) == "Encounter/enc-3?x=dr-7&p=p-1"
    with pytest.raises(KeyError, match="userPractitionerRoleId"):
        render_prefetch_template("PractitionerRole/{{context.userPractitionerRoleId}}", ctx)


def test_invalid_bundle_is_refused_with_a_clear_error(loaded: FhirServer) -> None:
    bad = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "id": "va-infra-bad", "status": "final"},  # no code
         "request": {"method": "PUT", "url": "Observation/va-infra-bad"}}]}
    with pytest.raises(AssertionError, match=r"HTTP 400.*Observation\.code"):
        loaded.load_bundle(bad)
    assert loaded.get("Observation/va-infra-bad").status_code == 404  # the transaction was rolled back


def test_service_fixture_serves_the_vertebral_services(service: ServiceProcess) -> None:
    assert requests.get(service.url("/healthz"), timeout=10).status_code == 200
    services = {s["id"]: s["hook"] for s in requests.get(service.url("/cds-services"), timeout=10).json()["services"]}
    assert services["vertebral-augmentation-select"] == "order-select"
    assert services["vertebral-augmentation-sign"] == "order-sign"
    assert (service.data_dir / "cds-service.sqlite3").exists()  # the store lives in the temporary data dir
