"""Protocol layer: prefetch resolution: check each template key, fetch what is missing from fhirServer, or 412.

Per key: a present `null` or empty Bundle means "no data"; an OperationOutcome (or any unusable value)
means "the client could not", so the key is fetched; an absent key is fetched. Fetches run concurrently
on a shared thread pool under an overall deadline. The bearer token goes only to an allow-listed
fhirServer, and only to URLs under it. A required key that can be had neither way is a 412.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests

from cds_service.errors import PreconditionFailedError
from cds_service.fhir.client import FhirClient, FhirClientError, bundle_resources, next_link
from cds_service.wire.request import HookRequest

log = logging.getLogger(__name__)

DataSourceKind = Literal["prefetch", "fhir", "mixed", "none"]
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
_TOKEN_RE = re.compile(r"\{\{(.*?)\}\}")


def _loopback_only(url: str) -> bool:
    return _is_loopback((urlsplit(url).hostname or "").lower())


@dataclass(frozen=True)
class FhirAccessPolicy:
    """Where the service may call with the client's token, and how patiently.

    `permits(fhir_server)` is the hospital's allow-list (configuration: security.fhir_server_allowlist);
    the default permits loopback only.
    """

    permits: Callable[[str], bool] = _loopback_only
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    deadline_seconds: float = 8.0
    page_cap: int = 10


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class GatheredData:
    """Everything the protocol layer could gather for one call."""

    resources: list[dict[str, Any]]
    source: DataSourceKind
    unavailable: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)
    fetched_keys: frozenset[str] = frozenset()


def render_template(template: str, request: HookRequest) -> str | None:
    """Fill a template's tokens from the request context; None when a token has no value (key not applicable)."""
    context = request.context
    values: dict[str, str | None] = {
        "context.patientId": context.patient_id,
        "context.encounterId": context.encounter_id,
        "context.userId": context.user_id,
    }
    user_type, _, user_id = (context.user_id or "").partition("/")
    for token, resource_type in _USER_TOKENS.items():
        values[token] = user_id if user_type == resource_type and user_id else None

    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        token = match.group(1).strip()
        value = values.get(token)
        if not value:
            missing = True
            return ""
        # userId is itself a reference ("Practitioner/123"): keep its slash; quote everything else.
        return quote(value, safe="/" if token == "context.userId" else "")

    rendered = _TOKEN_RE.sub(substitute, template)
    return None if missing else rendered


def _prefetch_value(value: Any) -> tuple[str, list[dict[str, Any]], str | None]:
    """Classify one prefetch value: ("data", resources, next_url) or ("missing", [], reason)."""
    if value is None:
        return "data", [], None
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return "missing", [], "was not a FHIR resource"
    if value["resourceType"] == "OperationOutcome":
        return "missing", [], "was an OperationOutcome"
    if value["resourceType"] == "Bundle":
        entries = value.get("entry")
        if entries is not None and not isinstance(entries, list):
            return "missing", [], "was a Bundle whose entry is not an array"
        return "data", bundle_resources(value), next_link(value)
    return "data", [value], None


class PrefetchResolver:
    """Resolves a service's prefetch for one request. Shares a pool and a session across requests."""

    def __init__(self, session: requests.Session, pool: ThreadPoolExecutor) -> None:
        self._session = session
        self._pool = pool

    def resolve(self, request: HookRequest, templates: Mapping[str, str], required: Iterable[str],
                policy: FhirAccessPolicy) -> GatheredData:
        required = frozenset(required)
        problems: list[str] = []
        resources: list[dict[str, Any]] = []
        to_fetch: dict[str, str] = {}
        continue_paging: dict[str, str] = {}
        from_prefetch = False
        supplied = request.prefetch or {}

        rendered: dict[str, str] = {}
        for key, template in templates.items():
            url = render_template(template, request)
            if url is not None:  # e.g. no encounterId in context: the key does not apply to this call
                rendered[key] = url

        for key, url in rendered.items():
            if key in supplied:
                kind, found, extra = _prefetch_value(supplied[key])
                if kind == "data":
                    resources.extend(found)
                    from_prefetch = True
                    if extra:
                        continue_paging[key] = extra
                    continue
                problems.append(f"prefetch '{key}' {extra}; fetched from the FHIR server instead")
            to_fetch[key] = url

        client = self._client(request, policy, problems)
        unavailable: dict[str, str] = {}
        fetched: set[str] = set()
        if client is None:
            for key in to_fetch:
                unavailable[key] = "not in prefetch and no usable fhirServer"
            for key in continue_paging:
                problems.append(f"prefetch '{key}' has further pages that could not be fetched")
        elif to_fetch or continue_paging:
            futures: dict[Future[list[dict[str, Any]]], tuple[str, bool]] = {}
            for key, url in to_fetch.items():
                futures[self._pool.submit(client.fetch, url)] = (key, False)
            for key, url in continue_paging.items():
                futures[self._pool.submit(self._more_pages, client, url)] = (key, True)
            remaining = max(0.0, (client.deadline or time.monotonic()) - time.monotonic())
            done, not_done = wait(futures, timeout=remaining + 0.05)
            for future in not_done:
                future.cancel()
                key, paging = futures[future]
                if paging:
                    problems.append(f"prefetch '{key}': further pages timed out")
                else:
                    unavailable[key] = "the FHIR server did not answer in time"
            for future in done:
                key, paging = futures[future]
                try:
                    resources.extend(future.result())
                    if not paging:
                        fetched.add(key)
                except FhirClientError as exc:
                    if paging:
                        problems.append(f"prefetch '{key}': further pages failed: {exc.reason}")
                    else:
                        unavailable[key] = exc.reason
            problems.extend(client.notes)

        missing_required = sorted(k for k in unavailable if k in required)
        if missing_required:
            reasons = "; ".join(f"{k}: {unavailable[k]}" for k in missing_required)
            raise PreconditionFailedError(
                f"required data could not be obtained from prefetch or the FHIR server ({reasons})",
                field="prefetch." + missing_required[0],
            )
        for key in sorted(unavailable):
            problems.append(f"'{key}' unavailable: {unavailable[key]}")

        source: DataSourceKind
        if from_prefetch and fetched:
            source = "mixed"
        elif fetched:
            source = "fhir"
        elif from_prefetch:
            source = "prefetch"
        else:
            source = "none"
        kept, foreign = _same_patient(_dedupe(resources), request.context.patient_id)
        if foreign:
            # A client bug or a stale cache must never mix another patient's data into this decision.
            problems.append(f"{foreign} resource(s) about another patient were left out")
            log.warning("left out %d resource(s) about another patient hookInstance=%s", foreign,
                        request.hook_instance)
        return GatheredData(resources=kept, source=source, unavailable=frozenset(unavailable),
                            problems=problems, fetched_keys=frozenset(fetched))

    def _client(self, request: HookRequest, policy: FhirAccessPolicy, problems: list[str]) -> FhirClient | None:
        if request.fhir_server is None:
            return None
        if not policy.permits(request.fhir_server):
            # Never hand the token to a server the hospital did not list (token redirect / SSRF guard).
            problems.append("fhirServer is not in the configured allow-list; it was not called")
            log.warning("fhirServer not in allow-list; not called (host=%s)", urlsplit(request.fhir_server).hostname)
            return None
        token = request.fhir_authorization.access_token if request.fhir_authorization else None
        return FhirClient(
            session=self._session, base_url=request.fhir_server, token=token,
            connect_timeout=policy.connect_timeout, read_timeout=policy.read_timeout, page_cap=policy.page_cap,
            deadline=time.monotonic() + policy.deadline_seconds,
        )

    @staticmethod
    def _more_pages(client: FhirClient, url: str) -> list[dict[str, Any]]:
        # A paginated prefetch: the client already counted one page, so the cap applies to the rest.
        out: list[dict[str, Any]] = []
        pages = 1
        next_url: str | None = url
        while next_url:
            if pages >= client.page_cap:
                client.notes.append(f"paging stopped at the page cap ({client.page_cap})")
                break
            page = client.get_json(next_url)
            if page is None or page.get("resourceType") != "Bundle":
                break
            out.extend(bundle_resources(page))
            pages += 1
            next_url = next_link(page)
        return out


def _dedupe(resources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for resource in resources:
        rid = resource.get("id")
        if isinstance(rid, str):
            ident = (str(resource.get("resourceType")), rid)
            if ident in seen:
                continue
            seen.add(ident)
        out.append(resource)
    return out


def _same_patient(resources: Sequence[dict[str, Any]], patient_id: str) -> tuple[list[dict[str, Any]], int]:
    """Resources that are, or point at, the context's patient (or name no patient); and how many did not."""
    own = f"Patient/{patient_id}"
    kept: list[dict[str, Any]] = []
    foreign = 0
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            ok = resource.get("id") in (None, patient_id)
        else:
            ref = resource.get("subject") or resource.get("patient")
            target = ref.get("reference") if isinstance(ref, dict) else None
            ok = not (isinstance(target, str) and target.startswith("Patient/") and target != own
                      and not target.endswith("/" + own))
        if ok:
            kept.append(resource)
        else:
            foreign += 1
    return kept, foreign
