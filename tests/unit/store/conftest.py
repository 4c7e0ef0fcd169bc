"""Store test fixtures: every store test runs on SQLite and on the PostgreSQL server (own schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_service.store.db import Store

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_test_store(backend: str, tmp_path: Path) -> Store:
    """A fresh, empty store with every table created; PostgreSQL gets a schema unique to the caller."""
    if backend == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    else:
        store = Store(POSTGRES_URL, schema=f"t_{uuid.uuid4().hex[:16]}")
    store.create_all()
    return store


def release_test_store(store: Store) -> None:
    if store.dialect == "postgresql":
        store.drop_schema()
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each backend."""
    s = make_test_store(request.param, tmp_path)
    try:
        yield s
    finally:
        release_test_store(s)
