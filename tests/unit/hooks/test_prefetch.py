"""Prefetch resolution: what counts as data, what gets fetched, where the token goes, when it is a 412."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fhir_stub_server import StubFhir, searchset, stub_fhir
from werkzeug.wrappers import Request, Response

from cds_service.errors import PreconditionFailedError
from cds_service.fhir.client import is_under_base, make_session
from cds_service.hooks.prefetch import FhirAccessPolicy, PrefetchResolver, render_template
from cds_service.wire.request import HookRequest, parse_hook_request

TOKEN = "tok-abc-123"
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "encounter": "Encounter/{{context.encounterId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
}
REQUIRED = frozenset({"patient", "conditions"})
PATIENT = {"resourceType": "Patient", "id": "va-pat-1", "gender": "female"}
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/va-pat-1"}}


@pytest.fixture(scope="module")
def resolver() -> Iterator[PrefetchResolver]:
    pool = ThreadPoolExecutor(max_workers=8)
    yield PrefetchResolver(make_session(), pool)
    pool.shutdown(wait=False, cancel_futures=True)


def hook_request(fhir_server: str | None = None, prefetch: dict[str, Any] | None = None, *,
                 token: bool = True, encounter: bool = False) -> HookRequest:
    body: dict[str, Any] = {
        "hook": "order-select", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/dr-1", "patientId": "va-pat-1",
                    "draftOrders": {"resourceType": "Bundle", "entry": []}},
    }
    if encounter:
        body["context"]["encounterId"] = "enc-1"
    if fhir_server:
        body["fhirServer"] = fhir_server
        if token:
            body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 30,
                                         "scope": "user/*.read", "subject": "va-cds"}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return parse_hook_request(body)


POLICY = FhirAccessPolicy(read_timeout=2.0, deadline_seconds=3.0, page_cap=3)


def test_tokens_are_rendered_and_a_template_without_its_context_field_does_not_apply() -> None:
    request = hook_request()
    assert render_template("Patient/{{context.patientId}}", request) == "Patient/va-pat-1"
    assert render_template("Practitioner/{{userPractitionerId}}", request) == "Practitioner/dr-1"
    assert render_template("{{context.userId}}", request) == "Practitioner/dr-1"
    assert render_template("Encounter/{{context.encounterId}}", request) is None


def test_complete_prefetch_needs_no_fhir_server(resolver: PrefetchResolver) -> None:
    prefetch = {"patient": PATIENT, "conditions": searchset([CONDITION]), "observations": None}
    gathered = resolver.resolve(hook_request(prefetch=prefetch), TEMPLATES, REQUIRED, POLICY)
    assert gathered.source == "prefetch"
    assert {r["id"] for r in gathered.resources} == {"va-pat-1", "c1"}
    assert gathered.unavailable == frozenset()


def test_null_and_empty_bundle_mean_no_data_not_a_412(resolver: PrefetchResolver) -> None:
    prefetch = {"patient": PATIENT, "conditions": {"resourceType": "Bundle", "type": "searchset"},
                "observations": None}
    gathered = resolver.resolve(hook_request(prefetch=prefetch), TEMPLATES, REQUIRED, POLICY)
    assert [r["id"] for r in gathered.resources] == ["va-pat-1"]


def test_missing_required_key_without_fhir_server_is_412(resolver: PrefetchResolver) -> None:
    with pytest.raises(PreconditionFailedError) as caught:
        resolver.resolve(hook_request(prefetch={"patient": PATIENT}), TEMPLATES, REQUIRED, POLICY)
    assert caught.value.status == 412
    assert "conditions" in caught.value.message
    assert caught.value.operation_outcome()["issue"][0]["expression"] == ["prefetch.conditions"]


def test_missing_optional_key_without_fhir_server_degrades(resolver: PrefetchResolver) -> None:
    prefetch = {"patient": PATIENT, "conditions": searchset([])}
    gathered = resolver.resolve(hook_request(prefetch=prefetch), TEMPLATES, REQUIRED, POLICY)
    assert gathered.unavailable == frozenset({"observations"})
    assert any("observations" in p for p in gathered.problems)


def test_operation_outcome_in_prefetch_is_fetched_with_the_token(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(searchset([CONDITION]))
        fhir.routes["/fhir/Observation?patient=va-pat-1"] = fhir.json(searchset([]))
        prefetch = {"patient": PATIENT, "conditions": {"resourceType": "OperationOutcome", "issue": []}}
        gathered = resolver.resolve(hook_request(fhir.base, prefetch), TEMPLATES, REQUIRED, POLICY)
    assert gathered.source == "mixed"
    assert {r["id"] for r in gathered.resources} == {"va-pat-1", "c1"}
    assert ("/fhir/Condition?patient=va-pat-1", f"Bearer {TOKEN}") in fhir.seen
    assert not any(path.startswith("/fhir/Patient") for path, _ in fhir.seen)  # present keys are not refetched


def test_unusable_prefetch_value_is_treated_as_missing(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Patient/va-pat-1"] = fhir.json(PATIENT)
        prefetch = {"patient": "123", "conditions": searchset([]), "observations": None}
        gathered = resolver.resolve(hook_request(fhir.base, prefetch), TEMPLATES, REQUIRED, POLICY)
    assert gathered.resources == [PATIENT]
    assert any("'patient' was not a FHIR resource" in p for p in gathered.problems)


def test_fhir_fallback_pages_through_next_links_up_to_the_cap(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Patient/va-pat-1"] = fhir.json(PATIENT)
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(searchset([]))
        for page in range(1, 6):  # 5 pages offered, cap is 3
            obs = {"resourceType": "Observation", "id": f"o{page}"}
            nxt = f"{fhir.base}/page?n={page + 1}" if page < 5 else None
            key = "/fhir/Observation?patient=va-pat-1" if page == 1 else f"/fhir/page?n={page}"
            fhir.routes[key] = fhir.json(searchset([obs], nxt))
        gathered = resolver.resolve(hook_request(fhir.base, {}, encounter=False), TEMPLATES, REQUIRED, POLICY)
    assert gathered.source == "fhir"
    assert sorted(r["id"] for r in gathered.resources if r["resourceType"] == "Observation") == ["o1", "o2", "o3"]
    assert any("page cap (3)" in p for p in gathered.problems)
    assert all(auth == f"Bearer {TOKEN}" for _, auth in fhir.seen)


def test_next_link_to_another_server_is_not_followed_and_gets_no_token(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir, stub_fhir() as elsewhere:
        fhir.routes["/fhir/Patient/va-pat-1"] = fhir.json(PATIENT)
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(
            searchset([CONDITION], f"{elsewhere.base}/Condition?page=2"))
        fhir.routes["/fhir/Observation?patient=va-pat-1"] = fhir.json(searchset([]))
        gathered = resolver.resolve(hook_request(fhir.base, {}), TEMPLATES, REQUIRED, POLICY)
    assert elsewhere.seen == []
    assert any("outside the fhirServer base" in p for p in gathered.problems)
    assert {r["id"] for r in gathered.resources} == {"va-pat-1", "c1"}


def test_redirects_are_not_followed(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir, stub_fhir() as elsewhere:
        def redirect(_: Request) -> Response:
            return Response(status=302, headers={"Location": f"{elsewhere.base}/Patient/va-pat-1"})
        fhir.routes["/fhir/Patient/va-pat-1"] = redirect
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(searchset([]))
        with pytest.raises(PreconditionFailedError, match="redirect"):
            resolver.resolve(hook_request(fhir.base, {"observations": None}), TEMPLATES, REQUIRED, POLICY)
    assert elsewhere.seen == []


def test_server_outside_the_allow_list_is_never_called(resolver: PrefetchResolver) -> None:
    deny_all = FhirAccessPolicy(permits=lambda url: False)
    with stub_fhir() as fhir:
        with pytest.raises(PreconditionFailedError):
            resolver.resolve(hook_request(fhir.base, {}), TEMPLATES, REQUIRED, deny_all)
    assert fhir.seen == []


def test_401_on_required_data_is_412_and_on_optional_data_degrades(resolver: PrefetchResolver) -> None:
    denied = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(denied, status=401)
        fhir.routes["/fhir/Observation?patient=va-pat-1"] = fhir.json(denied, status=401)
        with pytest.raises(PreconditionFailedError, match="refused the access token"):
            resolver.resolve(hook_request(fhir.base, {"patient": PATIENT}), TEMPLATES, REQUIRED, POLICY)
        prefetch = {"patient": PATIENT, "conditions": searchset([])}
        gathered = resolver.resolve(hook_request(fhir.base, prefetch), TEMPLATES, REQUIRED, POLICY)
    assert gathered.unavailable == frozenset({"observations"})


def test_slow_server_is_cut_off_at_the_deadline(resolver: PrefetchResolver) -> None:
    policy = FhirAccessPolicy(read_timeout=5.0, deadline_seconds=1.0)
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Observation?patient=va-pat-1"] = fhir.json(searchset([]), delay=2.5)
        prefetch = {"patient": PATIENT, "conditions": searchset([])}
        started = time.monotonic()
        gathered = resolver.resolve(hook_request(fhir.base, prefetch), TEMPLATES, REQUIRED, policy)
        elapsed = time.monotonic() - started
    assert elapsed < 1.8
    assert gathered.unavailable == frozenset({"observations"})


def test_fetches_run_concurrently(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Patient/va-pat-1"] = fhir.json(PATIENT, delay=0.5)
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(searchset([]), delay=0.5)
        fhir.routes["/fhir/Observation?patient=va-pat-1"] = fhir.json(searchset([]), delay=0.5)
        fhir.routes["/fhir/Encounter/enc-1"] = fhir.json({"resourceType": "Encounter", "id": "enc-1"}, delay=0.5)
        started = time.monotonic()
        gathered = resolver.resolve(hook_request(fhir.base, {}, encounter=True), TEMPLATES, REQUIRED, POLICY)
        elapsed = time.monotonic() - started
    assert len(gathered.resources) == 2
    assert elapsed < 1.2  # four 0.5 s calls in sequence would take 2 s


def test_open_server_without_authorization_gets_no_authorization_header(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Patient/va-pat-1"] = fhir.json(PATIENT)
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(searchset([]))
        fhir.routes["/fhir/Observation?patient=va-pat-1"] = fhir.json(searchset([]))
        resolver.resolve(hook_request(fhir.base, {}, token=False), TEMPLATES, REQUIRED, POLICY)
    assert fhir.seen and all(auth is None for _, auth in fhir.seen)


def test_read_of_a_missing_resource_is_no_data(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir:  # unknown paths answer 404 OperationOutcome
        fhir.routes["/fhir/Condition?patient=va-pat-1"] = fhir.json(searchset([]))
        gathered = resolver.resolve(hook_request(fhir.base, {"observations": None}), TEMPLATES, REQUIRED, POLICY)
    assert gathered.resources == [] and gathered.unavailable == frozenset()


def test_server_error_on_required_data_is_412(resolver: PrefetchResolver) -> None:
    with stub_fhir() as fhir:
        fhir.routes["/fhir/Patient/va-pat-1"] = fhir.json({"resourceType": "OperationOutcome"}, status=503)
        with pytest.raises(PreconditionFailedError, match="patient"):
            resolver.resolve(hook_request(fhir.base, {"conditions": None, "observations": None}),
                             TEMPLATES, REQUIRED, POLICY)


@pytest.mark.parametrize("url,under", [
    ("http://127.0.0.1:8080/fhir/Observation?x=1", True),
    ("http://127.0.0.1:8080/fhir", True),
    ("http://127.0.0.1:8080/fhir-evil/Observation", False),   # a sibling path is not under the base
    ("http://127.0.0.1:8081/fhir/Observation", False),        # another port is another server
    ("https://127.0.0.1:8080/fhir/Observation", False),       # scheme change
    ("http://evil.example/fhir/Observation", False),
])
def test_token_scope_is_the_fhir_server_base(url: str, under: bool) -> None:
    assert is_under_base(url, "http://127.0.0.1:8080/fhir") is under


def test_resources_about_another_patient_are_left_out(resolver: PrefetchResolver) -> None:
    other = {"resourceType": "Condition", "id": "c-other", "subject": {"reference": "Patient/someone-else"}}
    prefetch = {"patient": {"resourceType": "Patient", "id": "someone-else"},
                "conditions": searchset([CONDITION, other]), "observations": None}
    gathered = resolver.resolve(hook_request(prefetch=prefetch), TEMPLATES, REQUIRED, POLICY)
    assert [r["id"] for r in gathered.resources] == ["c1"]
    assert any("another patient" in p for p in gathered.problems)
