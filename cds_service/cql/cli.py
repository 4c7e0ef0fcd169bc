"""ENGINE command line: `cds-service cql eval EXPR [--data BUNDLE] [--param N=V]` and `cds-service cql check FILE...`.

`eval` prints the value as a CQL literal; `check` compiles libraries (includes resolved from the files' own
folders) and prints each error as `file:line:col: message`, the source line and a caret, exiting 1 on errors.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from cds_service.cql import EvaluationContext, LibraryManager, evaluate_expression
from cds_service.cql.datasource import ValueSet
from cds_service.cql.errors import CqlError, CqlSemanticError, CqlSyntaxError
from cds_service.cql.fhirmodel import FhirElement
from cds_service.cql.types import Date, DateTime, Interval, Long, Quantity, Time, Tuple
from cds_service.cql.types.values import Code, Concept, Ratio, format_decimal

_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.+)$", re.S)


class BundleSource:
    """The resources of a Bundle file as a DataSource; retrieves return the whole type and the engine
    filters (the engine layer cannot use the FHIR layer's indexed PatientRecord, and needs no index here)."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self._by_type: dict[str, list[dict[str, Any]]] = {}
        for entry in bundle.get("entry") or ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                self._by_type.setdefault(resource["resourceType"], []).append(resource)

    def retrieve(self, data_type: str, *, code_path: str | None = None, codes: Sequence[Any] | None = None,
                 valueset: ValueSet | None = None, date_path: str | None = None,
                 date_range: Any | None = None) -> Sequence[dict[str, Any]]:
        name = data_type.split("}", 1)[-1].rsplit(".", 1)[-1]
        return self._by_type.get(name, [])


def format_value(value: Any) -> str:
    """A CQL value as a CQL literal (FHIR resources and elements as JSON)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Long):
        return f"{int(value)}L"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "{" + ", ".join(format_value(item) for item in value) + "}"
    if isinstance(value, Interval):
        left = "[" if value.low_closed else "("
        right = "]" if value.high_closed else ")"
        return f"Interval{left}{format_value(value.low)}, {format_value(value.high)}{right}"
    if isinstance(value, Tuple):
        if not value:
            return "Tuple { }"
        return "Tuple { " + ", ".join(f"{key}: {format_value(item)}" for key, item in value.items()) + " }"
    if isinstance(value, (Date, DateTime, Time, Quantity, Ratio, Code, Concept)):
        return repr(value)
    if isinstance(value, FhirElement):
        return f"FHIR.{value.fhir_type} " + json.dumps(dict(value), default=str)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return repr(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cql_command", required=True)
    evaluate = sub.add_parser("eval", help="evaluate one CQL expression and print the result")
    evaluate.add_argument("expression", help="a CQL expression, e.g. \"Interval[1, 10] contains 5\"")
    evaluate.add_argument("--data", type=Path, help="a FHIR Bundle (JSON) the expression retrieves from")
    evaluate.add_argument("--param", action="append", default=[], metavar="NAME=CQL",
                          help="a parameter the expression can use, its value a CQL literal (repeatable)")
    check = sub.add_parser("check", help="compile CQL libraries and report errors with their location")
    check.add_argument("files", nargs="+", type=Path, help=".cql files")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.cql_command == "eval":
        return _eval(args, out, err)
    return _check(args.files, out, err)


# --- eval ---------------------------------------------------------------------------------------------------


def _eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    params: list[tuple[str, str]] = []
    for item in args.param:
        match = _PARAM.match(item)
        if match is None:
            print(f"--param {item!r}: expected NAME=VALUE with NAME a CQL identifier", file=err)
            return 2
        params.append((match.group(1), match.group(2)))
    data: BundleSource | None = None
    if args.data is not None:
        try:
            bundle = json.loads(args.data.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"--data {args.data}: cannot read a JSON Bundle ({type(exc).__name__})", file=err)
            return 2
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            print(f"--data {args.data}: not a FHIR Bundle", file=err)
            return 2
        data = BundleSource(bundle)
    if data is None and not params:
        # No library needed: the same compiled-and-cached path as the $cql operation and the conformance suite.
        try:
            value = evaluate_expression(args.expression)
        except CqlSyntaxError as exc:
            return _syntax(args.expression, exc.line, exc.column, exc.message, err)
        except CqlError as exc:
            print(f"error: {exc}", file=err)
            return 1
        print(format_value(value), file=out)
        return 0
    lines = ["library CommandLine"]
    if data is not None:
        lines.append("using FHIR version '4.0.1'")
    lines.extend(f'parameter "{name}" default {value}' for name, value in params)
    if data is not None:
        lines.append("context Patient")
    header_lines = len(lines) + 1
    lines.extend(['define "Result":', args.expression])
    text = "\n".join(lines) + "\n"
    try:
        library = LibraryManager(_no_includes).compile_text(text)
        context = EvaluationContext()
        if data is not None:
            context.data = data
        value = library.evaluate(context, ["Result"])["Result"]
    except CqlSyntaxError as exc:
        line = exc.line - header_lines
        if line < 1:
            print(f"--param: syntax error: {exc.message}", file=err)
            return 1
        return _syntax(args.expression, line, exc.column, exc.message, err)
    except CqlError as exc:
        print(f"error: {exc}", file=err)
        return 1
    print(format_value(value), file=out)
    return 0


def _no_includes(name: str, version: str | None) -> str:
    raise KeyError(f"an expression cannot include libraries ({name})")


def _syntax(expression: str, line: int, column: int, message: str, err: TextIO) -> int:
    print(f"expression:{line}:{column}: syntax error: {message}", file=err)
    source_lines = expression.splitlines()
    if 1 <= line <= len(source_lines):
        print(source_lines[line - 1], file=err)
        print(" " * max(column - 1, 0) + "^", file=err)
    return 1


# --- check --------------------------------------------------------------------------------------------------


def _library_name(text: str) -> str | None:
    match = re.search(r"^\s*library\s+(\"[^\"]+\"|[A-Za-z_][\w.]*)", text, re.M)
    return match.group(1).strip('"') if match else None


def _define_position(text: str, define: str | None) -> tuple[int, int]:
    """Where `define X` starts (semantic errors name the define, not a column)."""
    if define:
        pattern = re.compile(r"^(\s*)define\s+(?:(?:public|private)\s+)?(?:function\s+)?(?:\"" + re.escape(define)
                             + r"\"|" + re.escape(define) + r"\b)", re.M)
        match = pattern.search(text)
        if match:
            line = text.count("\n", 0, match.start()) + 1
            return line, len(match.group(1)) + 1
    return 1, 1


def _report(path: Path, text: str, line: int, column: int, message: str, err: TextIO) -> None:
    print(f"{path}:{line}:{column}: {message}", file=err)
    source_lines = text.splitlines()
    if 1 <= line <= len(source_lines):
        print(source_lines[line - 1], file=err)
        print(" " * max(column - 1, 0) + "^", file=err)


def _check(files: list[Path], out: TextIO, err: TextIO) -> int:
    sources: dict[Path, str] = {}
    for path in files:
        try:
            sources[path] = path.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"{path}: cannot read ({exc.strerror or type(exc).__name__})", file=err)
            return 2
    by_name = {name: path for path, text in sources.items() if (name := _library_name(text))}
    folders = list(dict.fromkeys(path.parent for path in files))

    def loader(name: str, version: str | None) -> str:
        if name in by_name:
            return sources[by_name[name]]
        for folder in folders:
            candidate = folder / f"{name}.cql"
            if candidate.exists():
                return candidate.read_text(encoding="utf-8")
        raise KeyError(f"no {name}.cql next to the checked files")

    failures = 0
    # One manager: a library included by several checked files is compiled once.
    manager = LibraryManager(loader)
    for path, text in sources.items():
        try:
            library = manager.compile_text(text)
        except CqlSyntaxError as exc:
            failures += 1
            _report(path, text, exc.line, exc.column, f"syntax error: {exc.message}", err)
            continue
        except CqlSemanticError as exc:
            failures += 1
            origin = path
            origin_text = text
            if exc.library and exc.library != _library_name(text) and exc.library.split("|")[0] in by_name:
                origin = by_name[exc.library.split("|")[0]]
                origin_text = sources[origin]
            line, column = _define_position(origin_text, exc.define)
            _report(origin, origin_text, line, column, f"error: {exc.message}", err)
            continue
        except CqlError as exc:
            failures += 1
            _report(path, text, 1, 1, f"error: {exc}", err)
            continue
        print(f"{path}: ok ({len(library.define_names)} defines, {len(library.functions)} functions)", file=out)
    return 1 if failures else 0
