"""Store layer: the SQLAlchemy `Base`, engine construction (SQLite/PostgreSQL) and the `Store` session owner."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from cds_service.errors import ServiceUnavailableError

SQLITE_FILENAME = "cds-service.sqlite3"
# Long enough for a burst of gunicorn workers writing audit rows; short enough to surface a stuck lock.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Modules whose tables belong to the one schema; imported by `create_all` so every table exists even when
# the caller never imported them itself. Missing modules are skipped (areas land at different times).
TABLE_MODULES: tuple[str, ...] = ("cds_service.store.protocol", "cds_service.store.config_versions")
# Arbitrary constant: the PostgreSQL advisory lock that serialises schema creation across processes.
_SCHEMA_LOCK_KEY = 0x0CD5_5C4E
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Base(DeclarativeBase):
    """Declarative base shared by every table of the service."""


class StoreError(ServiceUnavailableError):
    """The database could not be reached or refused an operation (503 at the edge; no SQL in the message)."""


def default_database_url(data_dir: str | os.PathLike[str]) -> str:
    """The SQLite URL under the data directory (created if missing)."""
    path = Path(data_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / SQLITE_FILENAME}"


def database_url_from_env(data_dir: str | os.PathLike[str]) -> str:
    """`CDS_DATABASE_URL` when set, else SQLite under `data_dir`."""
    configured = os.environ.get("CDS_DATABASE_URL", "").strip()
    return configured or default_database_url(data_dir)


def _normalise_url(url: str) -> str:
    # Operators write the libpq form; SQLAlchemy would pick psycopg2, which is not installed.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """Build an engine: SQLite with WAL, busy timeout and real transactions; PostgreSQL through psycopg 3.

    `schema` (PostgreSQL only) puts every table in that schema through `search_path`, so parallel test
    runs or several deployments can share one database without colliding.
    """
    url = _normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("schema is only supported on PostgreSQL")
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        connect_args: dict[str, Any] = {"connect_timeout": 10}
        if schema is not None:
            connect_args["options"] = f"-csearch_path={schema}"
        engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)
        return engine
    raise ValueError(f"unsupported database backend {backend!r} (use sqlite or postgresql+psycopg)")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite, whose implicit BEGIN skips DDL and starts
        # transactions as DEFERRED (a reader upgrading to writer then fails with SQLITE_BUSY at once).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if engine.url.database not in (None, "", ":memory:"):
                _enter_wal(cursor)
            # WAL + NORMAL is durable against process crashes (the failure mode of a worker), fast enough.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so concurrent writers queue on busy_timeout instead
        # of failing; request volume is low enough that serialising transactions costs nothing visible.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _enter_wal(cursor: Any) -> None:
    """Switch the database file to WAL, waiting out other processes doing the same.

    Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked" at once,
    without its busy handler, while another connection holds the file mid-switch (gunicorn workers all
    connect at start-up). Retry for up to the busy timeout; once a file is in WAL the pragma is a no-op.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if ("locked" not in message and "busy" not in message) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _ensure_pg_schema(url: str, schema: str) -> None:
    # Must exist before the first connection that uses it: SQLAlchemy reads current_schema() once,
    # on first connect, and a missing schema there would leave the dialect without a default schema.
    bootstrap = make_engine(url)
    try:
        with bootstrap.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except DBAPIError as exc:
        raise StoreError(f"could not create schema ({type(exc.orig).__name__})") from exc
    finally:
        bootstrap.dispose()


class Store:
    """The database behind one small interface: `session()`, `create_all()`, `ping()`.

    Thread-safe and cheap to share: make one per process (per gunicorn worker) and pass it around.
    """

    def __init__(self, url: str, *, schema: str | None = None, echo: bool = False) -> None:
        self.url = _normalise_url(url)
        self.schema = schema
        # make_engine validates the schema name before it is ever spliced into DDL; it connects lazily.
        self.engine: Engine = make_engine(self.url, schema=schema, echo=echo)
        if schema is not None:
            _ensure_pg_schema(self.url, schema)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for logs and the health page."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends normally, rolls back on any exception.

        The commit happens before the block's caller continues, so a write is durable before the
        service answers. Database failures surface as `StoreError`.
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except DBAPIError as exc:
            session.rollback()
            raise StoreError(f"database error ({type(exc.orig).__name__})") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def create_all(self) -> None:
        """Create every table that does not exist yet; idempotent and safe when processes race.

        PostgreSQL: an advisory lock held for the transaction
        serialises concurrent creators (DDL is transactional there). SQLite: the `BEGIN IMMEDIATE` of
        every transaction serialises them; a loser that still trips over "already exists" retries once
        the winner committed.
        """
        for module_name in TABLE_MODULES:
            if importlib.util.find_spec(module_name) is not None:
                importlib.import_module(module_name)
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    if self.dialect == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                    Base.metadata.create_all(conn, checkfirst=True)
                return
            except (OperationalError, ProgrammingError) as exc:
                if "already exists" not in str(exc.orig) or attempt == 4:
                    raise StoreError(f"could not create the schema ({type(exc.orig).__name__})") from exc
                time.sleep(0.05 * (attempt + 1))

    def drop_schema(self) -> None:
        """Drop the PostgreSQL schema this store lives in (test clean-up); refuses on SQLite."""
        if self.dialect != "postgresql" or self.schema is None:
            raise ValueError("drop_schema needs a PostgreSQL store with an explicit schema")
        with self.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))

    def ping(self) -> bool:
        """True when the database answers a trivial query (for /healthz)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            return False

    def dispose(self) -> None:
        """Close pooled connections (at worker exit, or after fork)."""
        self.engine.dispose()
