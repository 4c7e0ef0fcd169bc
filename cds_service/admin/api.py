"""Admin layer: the admin HTTP API (blueprint `bp`, /admin/api/...): read, propose, apply, history, rollback; and `init_admin(app)`."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import tomli_w
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, session

from cds_service.admin.auth import AdminUser, UserStore, session_secret, tokens_equal
from cds_service.admin.config import ConfigError, ProfileParams, config_to_data, parse_toml_text
from cds_service.admin.provider import ConfigManager, ConfigProvider, Proposal, changes_to_document, provider_for
from cds_service.store.config_versions import VersionConflictError, parse_version_label
from cds_service.store.db import StoreError

log = logging.getLogger(__name__)

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")

ADMIN_EXTENSION_KEY = "cds_service_admin"
F = TypeVar("F", bound=Callable[..., Any])


class AdminContext:
    """What the admin views need: the provider (with its store), the manager and the user store."""

    def __init__(self, provider: ConfigProvider) -> None:
        self.provider = provider
        self.manager = ConfigManager(provider)
        self.users = UserStore(self.manager.versions)


def init_admin(app: Flask, provider: ConfigProvider | None = None) -> AdminContext:
    """Mount the admin API and page on `app` (call once from create_app).

    Uses the app state's ConfigProvider; if the app still holds a static provider, a versioned one over the
    same store and configuration file replaces it so admin changes go live on every worker.
    """
    from cds_service.admin import page  # the page's blueprint lives next to the API

    if provider is None:
        from cds_service.hooks.state import EXTENSION_KEY

        state = app.extensions[EXTENSION_KEY]
        provider = state.config_provider
        if not isinstance(provider, ConfigProvider):
            provider = provider_for(state.store, state.settings.config_file)
            state.config_provider = provider
    context = AdminContext(provider)
    context.users.bootstrap()
    app.extensions[ADMIN_EXTENSION_KEY] = context
    if not app.secret_key:
        app.secret_key = session_secret(context.manager.versions)
    minutes = provider.current().config.admin.session_minutes
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_PATH="/admin", PERMANENT_SESSION_LIFETIME=timedelta(minutes=minutes))
    app.register_blueprint(bp)
    app.register_blueprint(page.bp)
    return context


def admin() -> AdminContext:
    return cast(AdminContext, current_app.extensions[ADMIN_EXTENSION_KEY])


# ---------------------------------------------------------------------------------------------------------------
# Responses


def outcome(status: int, issues: list[tuple[str, str]], code: str = "invalid") -> tuple[Response, int]:
    """An OperationOutcome with one issue per (key path, reason); `expression` carries the key path."""
    body = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": code, "expression": [key], "details": {"text": f"{key}: {reason}"}}
        for key, reason in issues]}
    response = jsonify(body)
    response.mimetype = "application/fhir+json"
    return response, status


def _config_errors(exc: ConfigError) -> tuple[Response, int]:
    return outcome(400, exc.errors)


# ---------------------------------------------------------------------------------------------------------------
# Authentication: session cookie (page, CSRF-checked) or HTTP Basic (scripts)


def new_csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return cast(str, token)


def current_user() -> AdminUser | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, password = decoded.partition(":")
        user = admin().users.authenticate(username, password)
        g.admin_auth = "basic"
        return user
    session_user = session.get("user")
    if not isinstance(session_user, str) or not session_user:
        return None
    username = session_user
    g.admin_auth = "session"
    return admin().users.get(username)


def require(role: str) -> Callable[[F], F]:
    """Guard a view: authenticated, with `editor` for changes; cookie sessions must send the CSRF token."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                user = current_user()
            except StoreError:
                return outcome(503, [("(store)", "the configuration store is unavailable")], "transient")
            if user is None:
                response, status = outcome(401, [("Authorization", "log in or send HTTP Basic credentials")],
                                           "login")
                response.headers["WWW-Authenticate"] = 'Basic realm="cds-admin"'
                return response, status
            if role == "editor" and not user.can_edit:
                return outcome(403, [("role", f"user {user.username!r} is a reader; editing needs role editor")],
                               "forbidden")
            if request.method not in ("GET", "HEAD", "OPTIONS") and g.get("admin_auth") == "session":
                sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
                if not tokens_equal(sent, session.get("csrf")):
                    return outcome(403, [("X-CSRF-Token", "missing or wrong CSRF token")], "forbidden")
            g.admin_user = user
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ConfigError([("(body)", "expected a JSON object")])
    return body


def _override_from(body: dict[str, Any]) -> dict[str, Any]:
    """The change in a request: `changes` (dotted key -> value) and/or `toml` (override document)."""
    changes, toml_text = body.get("changes"), body.get("toml")
    if changes is None and toml_text is None:
        raise ConfigError([("changes", "give `changes` (dotted key -> value) or `toml`")])
    document: dict[str, Any] = {}
    if toml_text is not None:
        if not isinstance(toml_text, str):
            raise ConfigError([("toml", "must be a string of TOML")])
        document = parse_toml_text(toml_text)
    if changes is not None:
        if not isinstance(changes, dict):
            raise ConfigError([("changes", "must be an object of dotted key -> value")])
        from cds_service.admin.config import deep_merge

        document = deep_merge(document, changes_to_document(changes))
    return document


def _proposal_json(proposal: Proposal, impact: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"baseVersion": proposal.base_version, "valid": True, "diff": proposal.diff}
    if impact is not None:
        out["impact"] = impact
    return out


def _impact(proposal: Proposal) -> dict[str, Any]:
    from cds_service.admin.evaluate import preview_impact

    raw, version = admin().provider.current_raw()
    return preview_impact(raw, proposal.config, raw.admin.cohort_dir)


# ---------------------------------------------------------------------------------------------------------------
# Views


@bp.errorhandler(ConfigError)
def _on_config_error(exc: ConfigError) -> tuple[Response, int]:
    return _config_errors(exc)


@bp.errorhandler(VersionConflictError)
def _on_conflict(exc: VersionConflictError) -> tuple[Response, int]:
    return outcome(409, [("baseVersion", str(exc))], "conflict")


@bp.errorhandler(StoreError)
def _on_store(exc: StoreError) -> tuple[Response, int]:
    return outcome(503, [("(store)", "the configuration store is unavailable")], "transient")


@bp.post("/login")
def login() -> Any:
    body = request.get_json(silent=True) or {}
    username, password = str(body.get("username", "")), str(body.get("password", ""))
    user = admin().users.authenticate(username, password)
    if user is None:
        log.info("admin login refused")
        return outcome(401, [("password", "unknown user or wrong password")], "login")
    session.clear()
    session["user"] = user.username
    session.permanent = True
    token = new_csrf_token()
    log.info("admin login ok role=%s", user.role)
    return jsonify({"username": user.username, "role": user.role, "csrfToken": token})


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return jsonify({"loggedOut": True})


@bp.get("/config")
@require("reader")
def get_config() -> Any:
    raw, version = admin().provider.current_raw()
    if request.args.get("format") == "toml":
        return Response(f"# version {version}\n" + tomli_w.dumps(config_to_data(raw)), mimetype="application/toml")
    return jsonify({"version": version, "config": config_to_data(raw)})


@bp.get("/schema")
@require("reader")
def get_schema() -> Any:
    """Field meanings and evidence labels of the thresholds (the page shows them next to each input)."""
    fields = {name: {"description": info.description or "", "type": str(info.annotation)}
              for name, info in ProfileParams.model_fields.items()}
    return jsonify({"profileParams": fields})


@bp.post("/config/proposals")
@require("reader")
def propose() -> Any:
    body = _json_body()
    proposal = admin().manager.propose(_override_from(body))
    impact = _impact(proposal) if body.get("impact") else None
    return jsonify(_proposal_json(proposal, impact))


@bp.post("/config/versions")
@require("editor")
def apply_change() -> Any:
    body = _json_body()
    manager = admin().manager
    proposal = manager.propose(_override_from(body))
    base_version = body.get("baseVersion")
    if base_version is not None:
        if not isinstance(base_version, str):
            raise ConfigError([("baseVersion", "must be a version id string")])
        proposal = Proposal(proposal.config, base_version, proposal.diff)
    stored = manager.apply(proposal, author=g.admin_user.username, reason=str(body.get("reason") or ""))
    log.info("configuration %s applied by an editor (%d change(s))", stored.version, len(stored.diff))
    return jsonify(stored.summary()), 201


@bp.get("/config/versions")
@require("reader")
def history() -> Any:
    try:
        limit = min(200, max(1, int(request.args.get("limit", "50"))))
    except ValueError:
        raise ConfigError([("limit", "must be an integer")]) from None
    context = admin()
    _, active = context.provider.current_raw()
    rows = context.manager.versions.history(limit=limit)
    return jsonify({"active": active, "base": context.provider.base[1], "versions": [r.summary() for r in rows]})


@bp.get("/config/versions/<version>")
@require("reader")
def get_version(version: str) -> Any:
    context = admin()
    if version == context.provider.base[1]:
        base = context.provider.base[0]
        return jsonify({"version": version, "config": config_to_data(base)})
    try:
        row = context.manager.versions.get(parse_version_label(version))
    except ValueError as exc:
        raise ConfigError([("version", str(exc))]) from None
    if row is None:
        return outcome(404, [("version", f"unknown version {version!r}")], "not-found")
    config = context.manager.document_of(version)
    return jsonify({**row.summary(), "config": config_to_data(config)})


@bp.post("/config/rollback")
@require("editor")
def rollback() -> Any:
    body = _json_body()
    target = body.get("version")
    if not isinstance(target, str) or not target:
        raise ConfigError([("version", "the version id to restore is required")])
    base_version = body.get("baseVersion")
    stored = admin().manager.rollback(target, author=g.admin_user.username, reason=str(body.get("reason") or ""),
                                      base_version=base_version if isinstance(base_version, str) else None)
    log.info("configuration rolled back to %s as %s", target, stored.version)
    return jsonify(stored.summary()), 201
