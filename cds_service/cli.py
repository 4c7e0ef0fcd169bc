"""Command line: `cds-service <command>`; each command lives in the module of the layer that owns it."""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, description). Each module exposes `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("cds_service.server", "run the CDS Hooks service (gunicorn) on embedded defaults or --config"),
    "cql": ("cds_service.cql.cli", "evaluate a CQL expression or check a CQL file"),
    "config": ("cds_service.admin.cli", "show, check or diff the configuration"),
    "evaluate": ("cds_service.admin.evaluate", "what-if: the cards the service would return for a bundle or a cohort"),
    "accel": ("cds_service.accel", "build or inspect the compiled (Cython) build of the CQL engine"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
