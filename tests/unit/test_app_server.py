"""`cds-service serve`: settings from the environment, fail-fast start-up, gunicorn options for a small host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.errors import SettingsError
from cds_service.server import GC_THRESHOLDS, gunicorn_options
from cds_service.settings import Settings


def test_defaults_work_without_any_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({})
    assert settings.host == "127.0.0.1" and settings.port == 8080
    assert settings.store_url.startswith("sqlite:///") and settings.store_url.endswith("cds-service.sqlite3")
    assert Settings.from_env({"CDS_DATA_DIR": str(tmp_path)}).store_url == \
        f"sqlite:///{(tmp_path / 'cds-service.sqlite3').resolve()}"


def test_environment_and_flags_override_in_that_order(tmp_path: Path) -> None:
    env = {"CDS_PORT": "9001", "CDS_WORKERS": "3", "CDS_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/test",
           "CDS_SERVICE_MODULES": "a.b, c.d"}
    settings = Settings.from_env(env, port=9100)
    assert settings.port == 9100 and settings.workers == 3
    assert settings.store_url == "postgresql+psycopg://u@127.0.0.1/test"
    assert settings.service_modules == ("a.b", "c.d")


@pytest.mark.parametrize("env,message", [
    ({"CDS_PORT": "eighty"}, "invalid CDS_"),
    ({"CDS_PORT": "70000"}, "out of range"),
    ({"CDS_WORKERS": "0"}, "workers"),
    ({"CDS_LOG_LEVEL": "chatty"}, "log level"),
    ({"CDS_CONFIG": "/nonexistent/config.toml"}, "does not exist"),
    ({"CDS_DATABASE_URL": "localhost/db"}, "SQLAlchemy URL"),
])
def test_invalid_settings_are_refused_with_a_reason(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_gunicorn_runs_threaded_workers_built_once_in_the_master() -> None:
    options = gunicorn_options(Settings(workers=2, threads=4, port=8123))
    assert options["bind"] == "127.0.0.1:8123"
    assert options["worker_class"] == "gthread" and options["workers"] == 2 and options["threads"] == 4
    assert options["preload_app"] is True


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["CDS_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run([sys.executable, "-m", "cds_service.cli", "serve", "--port", "1", *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_serve_fails_fast_on_an_invalid_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[security]\nmax_body_bytes = "huge"\ncors_origins = ["not an origin"]\n')
    result = _serve(tmp_path, "--config", str(config))
    assert result.returncode == 2
    assert "cannot start" in result.stderr
    assert "security.max_body_bytes" in result.stderr and "security.cors_origins" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_fails_fast_on_a_missing_configuration_file(tmp_path: Path) -> None:
    result = _serve(tmp_path, "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_serve_freezes_the_start_up_heap_and_raises_the_young_gc_threshold_before_forking(tmp_path: Path) -> None:
    """Workers inherit both: no full collection walks the compiled libraries (the old p99), and a hook request's
    few thousand short-lived objects set off no collection (measured in benchmarks/gc_thresholds.py)."""
    probe = (
        "import argparse, gc, sys\nfrom pathlib import Path\n"
        "from cds_service import server\n"
        "server._Gunicorn.run = lambda self: print(gc.get_threshold(), gc.get_freeze_count() > 0)\n"
        f"sys.exit(server.run(argparse.Namespace(host=None, port=18998, config=None, workers=1, threads=1, "
        f"data_dir=Path({str(tmp_path / 'data')!r}))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{GC_THRESHOLDS} True"
