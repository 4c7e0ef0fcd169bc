"""Protocol layer: CORS for browser-based CDS clients (e.g. the CDS Hooks Sandbox): configured origins only."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Response

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"


def origin_allowed(origin: str, allowed: Sequence[str]) -> bool:
    return "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}


def apply_cors(response: Response, origin: str | None, allowed: Sequence[str], *, preflight: bool) -> Response:
    """Add CORS headers when the request's Origin is allowed; otherwise leave the response untouched."""
    response.vary.add("Origin")
    if not origin or not origin_allowed(origin, allowed):
        return response
    # Echo the origin rather than "*": the Authorization header makes these credentialed-style calls.
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Content-Type"
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
