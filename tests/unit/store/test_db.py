"""Tests for store/db.py: engine settings, sessions, idempotent and race-safe schema creation."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from cds_service.store.db import Store, StoreError, database_url_from_env, default_database_url, make_engine
from cds_service.store.protocol import InvocationRow

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_sqlite_engine_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'db.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()
    assert (tmp_path / "a" / "db.sqlite3").exists()


def test_default_url_lives_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_DATABASE_URL", raising=False)
    url = database_url_from_env(tmp_path / "data")
    assert url == default_database_url(tmp_path / "data")
    assert url.startswith("sqlite:///") and str((tmp_path / "data").resolve()) in url
    monkeypatch.setenv("CDS_DATABASE_URL", POSTGRES_URL)
    assert database_url_from_env(tmp_path) == POSTGRES_URL


def test_libpq_style_url_is_driven_by_psycopg3() -> None:
    store = Store("postgresql://postgres@127.0.0.1:5432/test")
    assert store.engine.dialect.driver == "psycopg"
    assert store.ping()
    store.dispose()


def test_unsupported_backend_and_bad_schema_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://x@localhost/db")
    with pytest.raises(ValueError, match="invalid schema"):
        Store(POSTGRES_URL, schema='x"; drop table y; --')
    with pytest.raises(ValueError, match="only supported on PostgreSQL"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}", schema="s")


def test_create_all_is_idempotent(store: Store) -> None:
    store.create_all()
    store.create_all()
    assert "cds_invocation" in inspect(store.engine).get_table_names()


def test_session_commits_on_success_and_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.session() as session:
            session.execute(text("DELETE FROM cds_feedback"))
            session.add(_row("rolled-back"))
            session.flush()
            raise RuntimeError("boom")
    with store.session() as session:
        session.add(_row("kept"))
    with store.session() as session:
        kept = [r.hook_instance for r in session.query(InvocationRow)]
    assert kept == ["kept"]


def test_database_failure_surfaces_as_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        with store.session() as session:
            session.execute(text("SELECT * FROM no_such_table"))


def test_ping_reports_an_unreachable_database() -> None:
    dead = Store("postgresql+psycopg://postgres@127.0.0.1:1/test")
    assert dead.ping() is False


def _row(hook_instance: str) -> InvocationRow:
    from datetime import UTC, datetime

    return InvocationRow(
        hook_instance=hook_instance, service_id="s", hook="order-select", received_at=datetime.now(UTC),
        status_code=200, data_source="none", latency_ms=1.0,
    )


def _create_schema_in_child(url: str, schema: str | None, barrier: "multiprocessing.synchronize.Barrier") -> None:
    store = Store(url, schema=schema)
    barrier.wait(timeout=60)
    store.create_all()
    store.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_several_processes_creating_the_schema_at_once_all_succeed(backend: str, tmp_path: Path) -> None:
    """Gunicorn workers all call create_all at start-up; none may crash on 'table already exists'."""
    if backend == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'race.sqlite3'}", None
    else:
        url, schema = POSTGRES_URL, f"t_{uuid.uuid4().hex[:16]}"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_create_schema_in_child, args=(url, schema, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    try:
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        check = Store(url, schema=schema)
        assert {"cds_invocation", "cds_issued_card", "cds_feedback", "cds_jwt_jti"} <= set(
            inspect(check.engine).get_table_names()
        )
    finally:
        if schema is not None:
            Store(url, schema=schema).drop_schema()
