"""Live configuration reload: two real `cds-service serve` processes sharing one database (PostgreSQL, SQLite file).

A change applied through the admin API of one process is in force on the other within 5 s, without restart;
a bad change is refused with its key path and both keep serving the previous configuration.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from cds_service.store.db import Store
from tests.integration.fhir_server import ServiceProcess

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EDITOR = ("it-admin", "reload-test-password")
ENV = {"CDS_ADMIN_BOOTSTRAP_USER": EDITOR[0], "CDS_ADMIN_BOOTSTRAP_PASSWORD": EDITOR[1]}
INR = "clinical.profiles.cms-lcd.inr_hard_stop"
LIVE_WITHIN_SECONDS = 5.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One database URL both services use: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        return
    schema = f"reload_{uuid.uuid4().hex[:12]}"
    store = Store(POSTGRES_URL, schema=schema)
    store.create_all()
    try:
        # libpq `options` puts every connection of the service processes in the test's own schema.
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        store.drop_schema()
        store.dispose()


def config_of(service: ServiceProcess) -> dict:
    response = requests.get(service.url("/admin/api/config"), auth=EDITOR, timeout=10)
    if response.status_code == 404:
        pytest.fail("the admin API is not mounted: app.py must call cds_service.admin.api.init_admin(app)")
    assert response.status_code == 200, response.text
    return response.json()


def inr_of(body: dict) -> float:
    return body["config"]["clinical"]["profiles"]["cms-lcd"]["inr_hard_stop"]


def test_change_on_one_process_is_live_on_the_other(shared_database: str,
                                                    start_service: Callable[..., ServiceProcess]) -> None:
    first = start_service(database_url=shared_database, env=ENV)
    second = start_service(database_url=shared_database, env=ENV)
    before = config_of(second)
    assert before["version"] == config_of(first)["version"]
    assert inr_of(before) == 1.8

    applied = requests.post(first.url("/admin/api/config/versions"), auth=EDITOR, timeout=10, json={
        "changes": {INR: 2.2}, "reason": "integration: raise INR hard stop", "baseVersion": before["version"]})
    assert applied.status_code == 201, applied.text
    new_version = applied.json()["version"]

    started = time.monotonic()
    while True:
        seen = config_of(second)
        if seen["version"] == new_version:
            break
        assert time.monotonic() - started < LIVE_WITHIN_SECONDS, f"second process still on {seen['version']}"
        time.sleep(0.2)
    assert inr_of(seen) == 2.2
    ready = requests.get(second.url("/readyz"), timeout=10).json()
    assert new_version in ready["checks"]["config"]

    refused = requests.post(second.url("/admin/api/config/versions"), auth=EDITOR, timeout=10, json={
        "changes": {INR: 1.0}, "reason": "below the warning threshold", "baseVersion": new_version})
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == [INR]
    time.sleep(1.5)  # longer than the re-check interval: a refused change must not appear anywhere
    for service in (first, second):
        body = config_of(service)
        assert (body["version"], inr_of(body)) == (new_version, 2.2)
        assert requests.get(service.url("/healthz"), timeout=10).status_code == 200
    history = requests.get(first.url("/admin/api/config/versions"), auth=EDITOR, timeout=10).json()
    assert [v["version"] for v in history["versions"]] == [new_version]
    assert EDITOR[1] not in first.log_text() + second.log_text()
