"""App layer: typed process settings (host, port, data dir, database URL, config file, workers), from CDS_* env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cds_service.errors import SettingsError

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _default_workers() -> int:
    # The service is CPU-bound on CQL evaluation and I/O-bound on FHIR fallback: one process per core
    # (capped) plus threads per process covers both without oversubscribing a small host.
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Settings:
    """Process settings. Every field has a working default; CDS_<FIELD> environment variables override them."""

    host: str = "127.0.0.1"           # CDS_HOST: loopback unless deliberately exposed
    port: int = 8080                  # CDS_PORT
    data_dir: Path = Path(".data")    # CDS_DATA_DIR: SQLite store lives here by default
    database_url: str | None = None   # CDS_DATABASE_URL: e.g. postgresql+psycopg://user@host/db
    config_file: Path | None = None   # CDS_CONFIG: TOML configuration; embedded defaults when unset
    workers: int = field(default_factory=_default_workers)  # CDS_WORKERS: gunicorn worker processes
    threads: int = 4                  # CDS_THREADS: threads per worker (gthread)
    timeout: int = 30                 # CDS_TIMEOUT: gunicorn worker timeout, seconds
    log_level: str = "INFO"           # CDS_LOG_LEVEL
    # CDS_SERVICE_MODULES (comma-separated): modules exposing SERVICES, registered in this order.
    service_modules: tuple[str, ...] = ("cds_service.services.vertebral.service",)

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store: CDS_DATABASE_URL, else SQLite under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cds-service.sqlite3').resolve()}"

    def validated(self) -> Settings:
        if not self.host:
            raise SettingsError("host must not be empty")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range 0-65535")
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"workers {self.workers} must be between 1 and 64")
        if not 1 <= self.threads <= 256:
            raise SettingsError(f"threads {self.threads} must be between 1 and 256")
        if self.timeout < 1:
            raise SettingsError("timeout must be at least 1 second")
        if self.log_level not in _LOG_LEVELS:
            raise SettingsError(f"log level {self.log_level!r} must be one of {', '.join(_LOG_LEVELS)}")
        if not self.service_modules:
            raise SettingsError("CDS_SERVICE_MODULES must name at least one module")
        if self.config_file is not None and not self.config_file.is_file():
            raise SettingsError(f"configuration file {self.config_file} does not exist")
        if self.database_url is not None and "://" not in self.database_url:
            raise SettingsError("CDS_DATABASE_URL must be a SQLAlchemy URL such as postgresql+psycopg://host/db")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults <- CDS_* environment <- explicit overrides (e.g. command-line flags); validated."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        try:
            if "CDS_HOST" in env:
                values["host"] = env["CDS_HOST"]
            if "CDS_PORT" in env:
                values["port"] = int(env["CDS_PORT"])
            if "CDS_DATA_DIR" in env:
                values["data_dir"] = Path(env["CDS_DATA_DIR"])
            if env.get("CDS_DATABASE_URL"):
                values["database_url"] = env["CDS_DATABASE_URL"]
            if env.get("CDS_CONFIG"):
                values["config_file"] = Path(env["CDS_CONFIG"])
            if "CDS_WORKERS" in env:
                values["workers"] = int(env["CDS_WORKERS"])
            if "CDS_THREADS" in env:
                values["threads"] = int(env["CDS_THREADS"])
            if "CDS_TIMEOUT" in env:
                values["timeout"] = int(env["CDS_TIMEOUT"])
            if env.get("CDS_SERVICE_MODULES"):
                values["service_modules"] = tuple(
                    m.strip() for m in env["CDS_SERVICE_MODULES"].split(",") if m.strip())
            if "CDS_LOG_LEVEL" in env:
                values["log_level"] = env["CDS_LOG_LEVEL"].upper()
        except ValueError as exc:
            raise SettingsError(f"invalid CDS_* environment variable: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values).validated()  # type: ignore[arg-type]
