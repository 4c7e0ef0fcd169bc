"""App layer: the `cds-service serve` command: validated settings and configuration, then gunicorn in-process."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from cds_service.errors import SettingsError
from cds_service.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1, env CDS_HOST)")
    parser.add_argument("--port", type=int, help="TCP port (default 8080, env CDS_PORT)")
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: embedded defaults)")
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: CPU count, max 4)")
    parser.add_argument("--threads", type=int, help="threads per worker (default 4)")
    parser.add_argument("--data-dir", type=Path, help="directory of the SQLite store (default ./.data)")


# The young-generation threshold counts allocations minus deallocations. One hook request holds a few thousand
# objects at its peak (a 100 KiB prefetch parses into ~5,000 dicts and lists) and frees them when it answers;
# at CPython's default of 700 that peak set off ~3 young collections per request, each walking the live
# request objects (p50 3.62 -> 3.38 ms in-process with this setting, benchmarks/gc_thresholds.py). Above the
# peak, collections happen only as cyclic garbage really accumulates.
GC_THRESHOLDS = (20_000, 10, 10)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn driven from Python: no config file, no command-line parsing of its own."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._app


def _post_fork(server: Any, worker: Any) -> None:
    # The app was built in the master (preload): pooled DB connections must not be shared across processes.
    from cds_service.hooks.state import EXTENSION_KEY

    state = worker.app.callable.extensions[EXTENSION_KEY]
    state.store.engine.dispose(close=False)


def _worker_exit(server: Any, worker: Any) -> None:
    # Audit rows are written off the request path; a graceful stop writes the queued ones first.
    from cds_service.hooks.state import EXTENSION_KEY

    worker.app.callable.extensions[EXTENSION_KEY].audit.flush(timeout=5.0)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        # gthread: FHIR fallback waits on I/O, so a few threads per process keep the cores busy.
        "worker_class": "gthread",
        "threads": settings.threads,
        "timeout": settings.timeout,
        "graceful_timeout": 10,
        "keepalive": 5,
        # Built once in the master: configuration is validated and CQL compiled before any worker forks.
        "preload_app": True,
        "post_fork": _post_fork,
        "worker_exit": _worker_exit,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": "cds-service",
    }


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(host=args.host, port=args.port, config_file=args.config,
                                     workers=args.workers, threads=args.threads, data_dir=args.data_dir)
    except SettingsError as exc:
        print(f"cds-service: invalid settings: {exc}", file=sys.stderr)
        return 2
    from cds_service import accel

    try:
        accel.check_required()
    except accel.AccelError as exc:
        print(f"cds-service: cannot start: {exc}", file=sys.stderr)
        return 2
    from cds_service.app import create_app

    # Compiling the CQL libraries takes a while on a small host: say so, so a quiet console is not a hang.
    print(f"cds-service: starting (config={settings.config_file or 'embedded defaults'}, "
          f"store={settings.database_url and 'CDS_DATABASE_URL' or settings.data_dir}); compiling CQL libraries",
          file=sys.stderr, flush=True)
    try:
        app = create_app(settings)
    except Exception as exc:  # the operator needs the reason, not a traceback
        errors = getattr(exc, "errors", None)
        print(f"cds-service: cannot start: {exc}", file=sys.stderr)
        for key_path, reason in errors or ():
            print(f"  {key_path}: {reason}", file=sys.stderr)
        return 2
    print(f"cds-service: serving on http://{settings.host}:{settings.port} (workers={settings.workers}, "
          f"threads={settings.threads}, config={settings.config_file or 'embedded defaults'}; "
          f"CQL engine: {accel.status()})",
          file=sys.stderr, flush=True)
    # Everything built so far (compiled CQL, configuration, models) lives as long as the process: move it out
    # of the garbage collector's sight. Otherwise each full collection walks that whole heap, a pause of about
    # 60 ms every hundred-odd requests (the p99), and the workers' copies of it stay shared after the fork.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    _Gunicorn(app, gunicorn_options(settings)).run()
    return 0
