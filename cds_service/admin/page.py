"""Admin layer: the server-rendered admin page (/admin/): login, thresholds by profile, edit/preview/save, history, rollback."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from cds_service.admin.api import admin, new_csrf_token
from cds_service.admin.auth import tokens_equal
from cds_service.admin.config import ProfileParams, config_to_data

bp = Blueprint("admin_page", __name__, url_prefix="/admin", template_folder="templates", static_folder="static",
               static_url_path="/static")


def _evidence(description: str) -> str:
    labels = [label for label in ("[V]", "[V3]", "[M]", "[SEED]", "[DESIGN]") if label in description]
    return " ".join(labels)


def _field_rows(params: dict[str, Any], profile: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, info in ProfileParams.model_fields.items():
        if name == "description":
            continue
        description = info.description or ""
        value = params.get(name)
        base_key = f"clinical.profiles.{profile}.{name}"
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                rows.append({"key": f"{base_key}.{sub}", "label": f"{name}.{sub}", "value": sub_value,
                             "kind": "number", "description": description, "evidence": _evidence(description)})
        else:
            kind = "list" if isinstance(value, list) else "number"
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            rows.append({"key": base_key, "label": name, "value": shown, "kind": kind,
                         "description": description, "evidence": _evidence(description)})
    return rows


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                                   "frame-ancestors 'none'")
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        if not tokens_equal(request.form.get("csrf_token"), session.get("csrf")):
            error = "The form expired; please try again."
        else:
            user = admin().users.authenticate(request.form.get("username", ""), request.form.get("password", ""))
            if user is None:
                error = "Unknown user or wrong password."
            else:
                session.clear()
                session["user"] = user.username
                session.permanent = True
                new_csrf_token()
                return redirect(url_for("admin_page.index"))
    return render_template("admin/login.html", csrf_token=new_csrf_token(), error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    if tokens_equal(request.form.get("csrf_token"), session.get("csrf")):
        session.clear()
    return redirect(url_for("admin_page.login"))


def _user() -> Any:
    username = session.get("user")
    return admin().users.get(username) if username else None


@bp.get("/")
def index() -> Any:
    user = _user()
    if user is None:
        return redirect(url_for("admin_page.login"))
    raw, version = admin().provider.current_raw()
    data = config_to_data(raw)
    profiles = [{"name": name, "description": params.get("description", ""), "active": name == raw.clinical.profile,
                 "rows": _field_rows(params, name)} for name, params in data["clinical"]["profiles"].items()]
    return render_template("admin/index.html", user=user, version=version, profiles=profiles,
                           active_profile=raw.clinical.profile, csrf_token=new_csrf_token(),
                           rules=sorted(data["rules"].items()))


@bp.get("/history")
def history() -> Any:
    user = _user()
    if user is None:
        return redirect(url_for("admin_page.login"))
    context = admin()
    _, active = context.provider.current_raw()
    rows = context.manager.versions.history(limit=100)
    return render_template("admin/history.html", user=user, active=active, base=context.provider.base[1],
                           versions=rows, csrf_token=new_csrf_token())
