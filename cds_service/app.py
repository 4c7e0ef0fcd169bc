"""App layer: create_app(): settings -> logging -> store -> configuration -> blueprints -> one error envelope."""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cds_service.admin.api import init_admin
from cds_service.admin.provider import provider_for
from cds_service.cqlapi import bp as cql_bp
from cds_service.errors import (
    CdsServiceError,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from cds_service.fhir.client import make_session
from cds_service.hooks.audit import InFlight
from cds_service.hooks.routes import bp as hooks_bp
from cds_service.hooks.state import EXTENSION_KEY, ServiceState
from cds_service.services.registry import ServiceRegistry, default_registry
from cds_service.settings import Settings
from cds_service.store.db import Store, StoreError

log = logging.getLogger("cds_service")

# Concurrent FHIR fetches per process: one hook call needs up to ~10, and a worker serves a few at once.
FHIR_POOL_SIZE = 16


def configure_logging(level: str) -> None:
    """One line per event on stderr. Only our own messages are emitted; none carries PHI or tokens."""
    root = logging.getLogger("cds_service")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def create_app(settings: Settings | None = None, config_provider: Any | None = None, *,
               registry: ServiceRegistry | None = None, store: Store | None = None) -> Flask:
    """Build the WSGI app. Everything is passed in or built from settings; nothing is read at import time."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    if store is None:
        store = Store(settings.store_url)
        store.create_all()
    provider = config_provider if config_provider is not None else _default_provider(settings, store)
    active = provider.current()  # fails fast on an invalid configuration
    state = ServiceState(
        settings=settings, config_provider=provider, store=store,
        registry=registry if registry is not None else default_registry(settings.service_modules),
        session=make_session(FHIR_POOL_SIZE),
        pool=ThreadPoolExecutor(max_workers=FHIR_POOL_SIZE, thread_name_prefix="fhir"),
    )

    # Compile every service's CQL now: a configuration whose libraries do not compile fails start-up, and
    # with gunicorn's preload the compiled libraries are shared by all workers.
    for service in state.registry:
        if service.readiness is not None:
            service.readiness(active)

    app = Flask("cds_service")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = state
    # The audit writer waits for gaps between requests (cds_service/hooks/audit.py).
    app.wsgi_app = InFlight(app.wsgi_app, state.audit)  # type: ignore[method-assign]
    app.register_blueprint(hooks_bp)
    _register_other_layers(app)
    _register_health(app)
    _register_errors(app)

    security = active.config.security
    if security.trusted_issuers and not security.public_base_url:
        log.warning("security.public_base_url is not set: JWT audiences are checked against the request URL, "
                    "which is wrong behind a proxy; set it to the URL the EHR calls.")
    if not security.trusted_issuers:
        log.warning("CLIENT AUTHENTICATION IS OFF: no trusted_issuers configured; any caller can invoke the "
                    "services. Configure [security.trusted_issuers] before exposing this service.")
    return app


def _default_provider(settings: Settings, store: Store) -> Any:
    # The file (or embedded defaults) as the base, plus the versions hospital IT applies through the admin API.
    return provider_for(store, settings.config_file)


def _register_other_layers(app: Flask) -> None:
    """The admin API/page and the $cql endpoint belong to other layers; app.py only mounts them."""
    app.register_blueprint(cql_bp)
    init_admin(app)


def _register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        state: ServiceState = app.extensions[EXTENSION_KEY]
        checks: dict[str, str] = {}
        checks["store"] = "ok" if state.store.ping() else "unreachable"
        try:
            active = state.config_provider.current()
            checks["config"] = f"ok ({active.version})"
        except Exception as exc:
            active = None
            checks["config"] = f"failed ({type(exc).__name__})"
        for service in state.registry:
            if service.readiness is None or active is None:
                continue
            try:
                service.readiness(active)
                checks[f"service:{service.id}"] = "ok"
            except Exception as exc:
                checks[f"service:{service.id}"] = f"failed ({type(exc).__name__})"
        ready = all(value.startswith("ok") for value in checks.values())
        return jsonify({"status": "ready" if ready else "not-ready", "checks": checks}), 200 if ready else 503


def _error_response(error: CdsServiceError) -> tuple[Response, int]:
    hook_instance = getattr(g, "hook_instance", None)
    level = logging.ERROR if error.status >= 500 else logging.INFO
    log.log(level, "request failed status=%s error=%s hookInstance=%s path=%s field=%s", error.status,
            type(error).__name__, hook_instance or "-", request.path, error.field or "-")
    response = jsonify(error.operation_outcome())
    response.mimetype = "application/fhir+json"
    return response, error.status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CdsServiceError)
    def _cds_error(error: CdsServiceError) -> tuple[Response, int]:
        return _error_response(error)

    @app.errorhandler(StoreError)
    def _store_error(error: StoreError) -> tuple[Response, int]:
        return _error_response(ServiceUnavailableError("the service's store is unavailable; retry later"))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        mapped: CdsServiceError
        if error.code == 404:
            mapped = NotFoundError(f"no route for {request.path}")
        elif error.code == 405:
            mapped = MethodNotAllowedError(f"method {request.method} is not allowed on {request.path}")
        elif error.code == 413:
            mapped = PayloadTooLargeError("the request body is too large", field="(body)")
        elif error.code == 503:
            mapped = ServiceUnavailableError("the service is not available")
        else:
            mapped = _GenericHttpError(error.code or 500, error.name)
        return _error_response(mapped)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.error("unexpected error type=%s hookInstance=%s path=%s", type(error).__name__,
                  getattr(g, "hook_instance", "-"), request.path, exc_info=False)
        return _error_response(InternalError())


class _GenericHttpError(CdsServiceError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]
        self.issue_code = "processing"  # type: ignore[misc]
