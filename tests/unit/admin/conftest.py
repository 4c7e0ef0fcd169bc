"""Admin test fixtures: a real store on SQLite and PostgreSQL, a provider over it, an admin Flask app."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.admin.api import AdminContext, init_admin
from cds_service.admin.provider import ConfigProvider
from cds_service.store.db import Store
from tests.unit.store.conftest import make_test_store, release_test_store

EDITOR = ("edna", "editor-password-1")
READER = ("rudi", "reader-password-1")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_test_store(request.param, tmp_path)
    try:
        yield s
    finally:
        release_test_store(s)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = make_test_store("sqlite", tmp_path)
    try:
        yield s
    finally:
        release_test_store(s)


@pytest.fixture
def provider(sqlite_store: Store) -> ConfigProvider:
    return ConfigProvider(sqlite_store, check_interval=0.0)


@pytest.fixture
def admin_app(provider: ConfigProvider, tmp_path: Path) -> tuple[Flask, AdminContext]:
    app = Flask("admin-test")
    app.config["TESTING"] = True
    context = init_admin(app, provider)
    context.users.set_user(*EDITOR, role="editor")
    context.users.set_user(*READER, role="reader")
    return app, context


@pytest.fixture
def client(admin_app: tuple[Flask, AdminContext]) -> FlaskClient:
    return admin_app[0].test_client()


def basic(user: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()}
