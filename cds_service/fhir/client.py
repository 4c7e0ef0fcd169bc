"""Data layer: the FHIR REST client used when prefetch is incomplete: timeouts, paging, deadline, token scoping.

The bearer token goes only to URLs under the one `fhirServer` base it came with; redirects are never
followed; `next` links are followed up to a page cap and only under that base; every call respects an
overall deadline. Errors are status-specific so the protocol layer can choose between 412 and degrading.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


class FhirClientError(Exception):
    """A FHIR call failed; `reason` is short, log-safe text (no URL, no token, no PHI)."""

    reason: str = "FHIR request failed"

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or self.reason)
        if reason:
            self.reason = reason


class FhirAuthError(FhirClientError):
    reason = "the FHIR server refused the access token (401/403)"


class FhirTimeoutError(FhirClientError):
    reason = "the FHIR server did not answer in time"


class FhirUnavailableError(FhirClientError):
    reason = "the FHIR server could not be reached or failed (5xx)"


class FhirResponseError(FhirClientError):
    reason = "the FHIR server sent an unusable response"


def make_session(pool_size: int = 16) -> requests.Session:
    """One pooled session per process. No retries (the deadline decides), no environment credentials."""
    session = requests.Session()
    # trust_env=False: a ~/.netrc entry would otherwise replace our Authorization header, and an
    # environment proxy would receive the bearer token.
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def is_under_base(url: str, base: str) -> bool:
    """True when `url` is the base itself or a path below it (same scheme, host and port)."""
    u, b = urlsplit(url), urlsplit(base)
    if (u.scheme.lower(), u.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        return False
    base_path = b.path.rstrip("/")
    return u.path == base_path or u.path.startswith(base_path + "/")


@dataclass
class FhirClient:
    """Reads and searches one FHIR server for one hook call, within one deadline."""

    session: requests.Session
    base_url: str
    token: str | None = field(default=None, repr=False)
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    page_cap: int = 5
    deadline: float | None = None  # time.monotonic() value after which no call starts or continues
    notes: list[str] = field(default_factory=list)  # log-safe remarks (truncated paging etc.)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    def _timeout(self) -> tuple[float, float]:
        if self.deadline is None:
            return (self.connect_timeout, self.read_timeout)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0.01:
            raise FhirTimeoutError("the overall FHIR deadline passed")
        return (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))

    def get_json(self, url: str) -> dict[str, Any] | None:
        """GET one absolute URL under the base; None for 404/410 (a read of something that does not exist)."""
        if not is_under_base(url, self.base_url):
            raise FhirResponseError("refused to call a URL outside the fhirServer base")
        headers = {"Accept": FHIR_JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.session.get(url, headers=headers, timeout=self._timeout(), allow_redirects=False)
        except requests.Timeout as exc:
            raise FhirTimeoutError() from exc
        except requests.RequestException as exc:
            raise FhirUnavailableError(f"the FHIR server could not be reached ({type(exc).__name__})") from exc
        status = response.status_code
        if status in (401, 403):
            raise FhirAuthError()
        if status in (404, 410):
            return None
        if 300 <= status < 400:
            raise FhirResponseError(f"the FHIR server answered with a redirect ({status}); not followed")
        if status >= 500:
            raise FhirUnavailableError(f"the FHIR server failed ({status})")
        if status >= 400:
            raise FhirResponseError(f"the FHIR server rejected the query ({status})")
        try:
            body = response.json()
        except ValueError as exc:
            raise FhirResponseError("the FHIR server answered with something that is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FhirResponseError("the FHIR server answered with JSON that is not a FHIR resource")
        if body["resourceType"] == "OperationOutcome":
            raise FhirResponseError("the FHIR server answered with an OperationOutcome")
        return body

    def fetch(self, relative_url: str) -> list[dict[str, Any]]:
        """Resources for a relative read or search URL; a searchset is paged through `next` links."""
        url = urljoin(self.base_url + "/", relative_url.lstrip("/"))
        body = self.get_json(url)
        if body is None:
            return []
        if body["resourceType"] != "Bundle":
            return [body]
        resources = bundle_resources(body)
        pages = 1
        next_url = next_link(body)
        while next_url:
            if not is_under_base(next_url, self.base_url):
                # The token must not follow a link to another server; keep what we have.
                self.notes.append("a next link pointed outside the fhirServer base and was not followed")
                break
            if pages >= self.page_cap:
                self.notes.append(f"paging stopped at the page cap ({self.page_cap})")
                break
            page = self.get_json(next_url)
            if page is None or page.get("resourceType") != "Bundle":
                raise FhirResponseError("a next link did not return a Bundle")
            resources.extend(bundle_resources(page))
            pages += 1
            next_url = next_link(page)
        return resources


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry resources of a Bundle; OperationOutcome entries (search warnings) are left out."""
    out: list[dict[str, Any]] = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") not in (None, "OperationOutcome"):
            out.append(resource)
    return out


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
