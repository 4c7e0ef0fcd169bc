"""Protocol layer: the CDS Hooks HTTP routes (discovery, service invocation), client auth and CORS wiring."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from cds_service.errors import PayloadTooLargeError, UnauthorizedError
from cds_service.hooks import auth
from cds_service.hooks.cors import apply_cors
from cds_service.hooks.feedback import handle_feedback
from cds_service.hooks.invoke import decode_body, invoke, lookup_service, now_utc, parse_request
from cds_service.hooks.state import EXTENSION_KEY, ServiceState
from cds_service.wire import DiscoveryResponse

log = logging.getLogger(__name__)

bp = Blueprint("hooks", __name__)


def state() -> ServiceState:
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def _security() -> Any:
    return state().config_provider.current().config.security


@bp.before_request
def _authenticate() -> None:
    if request.method == "OPTIONS":
        return  # preflights never carry credentials (Fetch spec)
    active = state().config_provider.current()
    verifier = state().verifier(active)
    if verifier is None:
        return
    # aud comes from the configured public URL: behind a proxy the Host header is not what the EHR signed.
    # Without one (development), the request's own URL is the best available guess.
    base = active.config.security.public_base_url or request.host_url
    view_args = request.view_args or {}
    audiences = auth.endpoint_audiences(str(base), view_args.get("service_id"),
                                        feedback=request.path.rstrip("/").endswith("/feedback"))
    try:
        verifier.verify(request.headers.get("Authorization"), audiences)
    except auth.AuthenticationError as exc:
        log.warning("client authentication refused path=%s reason=%s", request.path, exc.reason)
        raise UnauthorizedError() from None


@bp.after_request
def _cors(response: Response) -> Response:
    return apply_cors(response, request.headers.get("Origin"), _security().cors_origins,
                      preflight=request.method == "OPTIONS")


@bp.route("/cds-services", methods=["GET", "OPTIONS"], strict_slashes=False)
def discovery() -> Response:
    if request.method == "OPTIONS":
        return Response(status=204)
    services = [service.descriptor() for service in state().registry]
    return jsonify(DiscoveryResponse(services=services).to_json())


@bp.route("/cds-services/<service_id>", methods=["POST", "OPTIONS"])
def call_service(service_id: str) -> Response | tuple[Response, int]:
    received_at = now_utc()
    if request.method == "OPTIONS":
        return Response(status=204)
    current = state()
    service = lookup_service(current, service_id)
    hook_request = parse_request(service, decode_body(_read_body()))
    g.hook_instance = hook_request.hook_instance
    outcome = invoke(current, service, hook_request, received_at)
    # orjson: the card response is the largest thing this service writes (compact, key order kept, UTF-8);
    # anything that is not plain JSON goes through Flask's own conversion, as jsonify would.
    try:
        body = orjson.dumps(outcome.body, default=current_app.json.default,  # type: ignore[attr-defined]
                            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits echoed from the request: Flask's json
        return jsonify(outcome.body), outcome.status
    return Response(body, status=outcome.status, mimetype="application/json")


@bp.route("/cds-services/<service_id>/feedback", methods=["POST", "OPTIONS"])
def feedback(service_id: str) -> Response:
    if request.method == "OPTIONS":
        return Response(status=204)
    current = state()
    lookup_service(current, service_id)
    summary = handle_feedback(current.store, service_id, decode_body(_read_body()))
    return jsonify(summary.to_json())


def _read_body() -> bytes:
    """The raw body, refused with 413 beyond the configured limit (also for chunked bodies)."""
    limit = int(_security().max_body_bytes)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the request body exceeds the limit of {limit} bytes", field="(body)")
    request.max_content_length = limit
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise PayloadTooLargeError(f"the request body exceeds the limit of {limit} bytes", field="(body)") from None
