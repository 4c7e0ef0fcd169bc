"""Admin layer: `cds-service config show|check|diff|history|rollback|add-admin` for hospital IT."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import tomli_w

from cds_service.admin.config import (
    ConfigError,
    ServiceConfig,
    build_config,
    config_to_data,
    default_config,
    load_config_file,
    parse_toml_text,
)
from cds_service.admin.diff import config_diff, data_diff, format_diff


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_command", required=True)
    show = sub.add_parser("show", help="print the effective configuration as complete TOML (defaults included)")
    show.add_argument("--config", type=Path, help="TOML file to apply over the defaults (default: CDS_CONFIG)")
    show.add_argument("--running", action="store_true",
                      help="show the newest stored version (database of CDS_DATABASE_URL / CDS_DATA_DIR)")
    show.add_argument("--format", choices=("toml", "json"), default="toml")

    check = sub.add_parser("check", help="validate a TOML file; exit 0 when valid, 1 listing every error")
    check.add_argument("file", type=Path)

    diff = sub.add_parser("diff", help="what a TOML file changes against the defaults or the running configuration")
    diff.add_argument("file", type=Path)
    diff.add_argument("--against", choices=("defaults", "running"), default="defaults")
    diff.add_argument("--format", choices=("text", "json"), default="text")

    history = sub.add_parser("history", help="list stored configuration versions (newest first)")
    history.add_argument("--limit", type=int, default=20)

    apply = sub.add_parser("apply", help="validate a TOML file and store it as a new version (live within 5 s)")
    apply.add_argument("file", type=Path)
    apply.add_argument("--reason", required=True)
    apply.add_argument("--author", default=os.environ.get("USER", "cli"))

    rollback = sub.add_parser("rollback", help="make an earlier version current again (stored as a new version)")
    rollback.add_argument("version", help="v<n>, or the base version id shown by `history`")
    rollback.add_argument("--reason", required=True)
    rollback.add_argument("--author", default=os.environ.get("USER", "cli"))

    add_admin = sub.add_parser("add-admin", help="create or reset an admin page user (password asked, or "
                                                 "CDS_ADMIN_PASSWORD)")
    add_admin.add_argument("username")
    add_admin.add_argument("--role", choices=("reader", "editor"), default="editor")


def _print_errors(errors: list[tuple[str, str]], source: str) -> None:
    print(f"{source}: {len(errors)} error(s)", file=sys.stderr)
    for key, reason in errors:
        print(f"  {key}: {reason}", file=sys.stderr)


def _dump(config: ServiceConfig, fmt: str) -> str:
    data = config_to_data(config)
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    return tomli_w.dumps(data)


def _provider() -> Any:
    # Imported here: `config check` must work on a machine with no database driver or data directory.
    from cds_service.admin.provider import provider_for
    from cds_service.settings import Settings
    from cds_service.store.db import Store

    settings = Settings.from_env()
    store = Store(settings.store_url)
    store.create_all()
    return provider_for(store, settings.config_file)


def run(args: argparse.Namespace) -> int:
    command = args.config_command
    try:
        if command == "check":
            config = load_config_file(args.file)
            active = config.clinical.profile
            print(f"{args.file}: valid (profile {active}, fingerprint {config.fingerprint()})")
            return 0
        if command == "show":
            if args.running:
                raw, version = _provider().current_raw()
                print(f"# version {version}")
                print(_dump(raw, args.format))
                return 0
            path = args.config or (Path(os.environ["CDS_CONFIG"]) if os.environ.get("CDS_CONFIG") else None)
            config = load_config_file(path) if path else default_config()
            print(_dump(config, args.format))
            return 0
        if command == "diff":
            document = parse_toml_text(args.file.read_text(encoding="utf-8"))
            if args.against == "running":
                base, version = _provider().current_raw()
            else:
                base, version = default_config(), "defaults"
            candidate = build_config(document, base=base)
            entries = config_diff(base, candidate)
            if args.format == "json":
                print(json.dumps({"against": version, "changes": entries}, indent=2, default=str))
            else:
                print(f"# {args.file} against {version}: {len(entries)} change(s)")
                print(format_diff(entries))
            return 0
        if command == "history":
            provider = _provider()
            assert provider.versions is not None
            _, active = provider.current_raw()
            rows = provider.versions.history(limit=args.limit)
            print(f"active: {active}   base: {provider.base[1]}")
            for row in rows:
                print(f"{row.version:>6}  {row.created_at:%Y-%m-%d %H:%M:%S}Z  {row.action:8}  {row.author:16}  "
                      f"{len(row.diff)} change(s)  {row.reason}")
            return 0
        if command in ("apply", "rollback"):
            from cds_service.admin.provider import ConfigManager
            from cds_service.store.config_versions import VersionConflictError

            manager = ConfigManager(_provider())
            try:
                if command == "apply":
                    document = parse_toml_text(args.file.read_text(encoding="utf-8"))
                    proposal = manager.propose(document)
                    stored = manager.apply(proposal, author=args.author, reason=args.reason)
                else:
                    stored = manager.rollback(args.version, author=args.author, reason=args.reason)
            except VersionConflictError as exc:
                print(f"cds-service config {command}: {exc}", file=sys.stderr)
                return 1
            print(f"stored {stored.version} ({len(stored.diff)} change(s))")
            print(format_diff(stored.diff))
            return 0
        if command == "add-admin":
            from cds_service.admin.auth import UserStore

            password = os.environ.get("CDS_ADMIN_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
            provider = _provider()
            assert provider.versions is not None
            UserStore(provider.versions).set_user(args.username, password, args.role)
            print(f"admin user {args.username!r} saved with role {args.role}")
            return 0
    except ConfigError as exc:
        _print_errors(exc.errors, str(getattr(args, "file", None) or "configuration"))
        return 1
    except OSError as exc:
        print(f"cds-service config {command}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"cds-service config {command}: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled config command {command}")


__all__ = ["add_arguments", "run", "data_diff"]
