"""ENGINE libraries: LibraryManager (load + compile once), CompiledLibrary.evaluate, EvaluationContext, evaluate_expression."""
from __future__ import annotations

import datetime as _dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from cds_service.cql import ast as A
from cds_service.cql.builder import parse_expression, parse_library
from cds_service.cql.compiler import LibraryCompiler, Runtime, Scope, value_is
from cds_service.cql.datasource import DataSource, EmptyDataSource, EmptyValueSetResolver, ValueSetResolver
from cds_service.cql.errors import CqlError, CqlEvaluationError, CqlSemanticError
from cds_service.cql.types import DEFAULT_OFFSET, Date, DateTime, Long, Tuple

Loader = Callable[[str, "str | None"], str]

# Located through the package, not __file__: this module may be the compiled build (cds_service/accel.py).
FHIRHELPERS_SOURCE = Path(str(resources.files("cds_service.cql").joinpath("fhirhelpers.cql")))


@dataclass
class EvaluationContext:
    """Everything one evaluation needs; `now` fixes Now()/Today() and the default timezone offset."""

    data: DataSource = field(default_factory=EmptyDataSource)
    valuesets: ValueSetResolver = field(default_factory=EmptyValueSetResolver)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    now: _dt.datetime | None = None

    def clock(self) -> _dt.datetime:
        now = self.now or _dt.datetime.now(_dt.timezone.utc)
        if now.tzinfo is None:
            raise CqlEvaluationError("EvaluationContext.now must be timezone-aware")
        return now


@dataclass(frozen=True)
class CompiledFunction:
    """A user function as compiled (kept for introspection: name, operand types, fluent)."""

    name: str
    operand_types: tuple[str, ...]
    fluent: bool


def _default_model() -> Any:
    try:
        from cds_service.cql.fhirmodel import FHIR_MODEL
    except ImportError:  # the FHIR model module is optional for System-only expressions
        return None
    return FHIR_MODEL


class CompiledLibrary:
    """A parsed, resolved and compiled library; `evaluate` runs its defines over one context."""

    def __init__(self, ast: A.Library, key: str, includes: Mapping[str, "CompiledLibrary"], model: Any) -> None:
        self.ast = ast
        self.name = ast.name or "Anonymous"
        self.version = ast.version
        self.key = key
        self.model = model
        self.includes = dict(includes)
        self.compiler = LibraryCompiler(ast, key, includes, model)
        self.compiler.compile_all()
        self.parameter_names = tuple(self.compiler.parameters)
        self.define_names = tuple(n for n, d in self.compiler.defines.items())
        self.functions = tuple(
            CompiledFunction(f.name, tuple(str(o.type_specifier) for o in f.operands), f.fluent)
            for overloads in self.compiler.functions.values() for f in overloads
        )

    def _all_parameter_names(self) -> set[str]:
        names = set(self.parameter_names)
        for inc in self.includes.values():
            names |= inc._all_parameter_names()
        return names

    def _parameter_types(self) -> dict[str, A.TypeSpecifier | None]:
        # Fixed once the library is compiled: worked out on first use, not on every evaluation.
        found: dict[str, A.TypeSpecifier | None] | None = self.__dict__.get("_declared_parameters")
        if found is not None:
            return found
        types: dict[str, A.TypeSpecifier | None] = {}
        for inc in self.includes.values():
            types.update(inc._parameter_types())
        types.update({p.name: p.type_specifier for p in self.ast.parameters})
        self.__dict__["_declared_parameters"] = types
        return types

    def runtime(self, ctx: EvaluationContext) -> Runtime:
        declared = self._parameter_types()
        unknown = sorted(set(ctx.parameters) - set(declared))
        if unknown:
            raise CqlEvaluationError(f"unknown parameter(s) {', '.join(unknown)} for library {self.name}", self.name)
        coerced = {k: _coerce_parameter(k, v, declared[k]) for k, v in ctx.parameters.items()}
        return Runtime(ctx.data, ctx.valuesets, coerced, ctx.clock(), self.model)

    def evaluate(self, ctx: EvaluationContext, defines: Iterable[str] | None = None) -> dict[str, Any]:
        """Evaluate the public defines (or the named ones) and return define name -> CQL value."""
        names = list(defines) if defines is not None else [
            n for n in self.define_names if self.compiler.defines[n].access != "private"
        ]
        return self.start(ctx).evaluate(names)

    def evaluate_define(self, name: str, ctx: EvaluationContext) -> Any:
        return self.evaluate(ctx, [name])[name]

    def start(self, ctx: EvaluationContext) -> "Evaluation":
        """One evaluation over `ctx` whose defines can be asked for in several steps: what is computed for
        the first names (shared defines, conversions, memoised calls) is reused by the later ones, so a host
        can ask for an expensive define only once it knows it needs it."""
        return Evaluation(self, self.runtime(ctx))


class Evaluation:
    """The state of one evaluation of a library (see `CompiledLibrary.start`). Not thread-safe."""

    def __init__(self, library: CompiledLibrary, rt: Runtime) -> None:
        self.library = library
        self._rt = rt
        offset = rt.now.utcoffset() or _dt.timedelta(0)
        self._offset = Decimal(int(offset.total_seconds())) / Decimal(3600)

    def evaluate(self, names: Iterable[str]) -> dict[str, Any]:
        """define name -> CQL value for these defines (each computed at most once per evaluation)."""
        names = list(names)
        fns = self.library.compiler.define_fns
        for n in names:
            if n not in fns:
                raise CqlEvaluationError(f"library {self.library.name} has no define {n!r}", self.library.name, n)
        token = DEFAULT_OFFSET.set(self._offset)
        try:
            return {n: fns[n](self._rt) for n in names}
        finally:
            DEFAULT_OFFSET.reset(token)


def _coerce_parameter(name: str, value: Any, spec: A.TypeSpecifier | None) -> Any:
    """A parameter override as the CQL value its declared type needs; a clear error when it cannot be.

    Hospital configuration arrives as JSON/TOML values: floats become Decimals (never binary floats),
    Python dates/datetimes become CQL Date/DateTime, tuples become Lists.
    """
    if value is None:
        return None
    if _already_declared_type(value, spec):
        return value
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, _dt.datetime):
        value = DateTime.from_python(value)
    elif isinstance(value, _dt.date):
        value = Date.from_python(value)
    if spec is None:
        return [_coerce_parameter(name, v, None) for v in value] if isinstance(value, list) else value
    if isinstance(spec, A.ListTypeSpecifier):
        if not isinstance(value, list):
            raise _parameter_error(name, spec, value)
        return [_coerce_parameter(name, v, spec.element_type) for v in value]
    if isinstance(spec, A.NamedTypeSpecifier) and spec.namespace in (None, "System"):
        expected = spec.name
        if expected == "Decimal" and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:
                return Decimal(value)
            except ArithmeticError:
                raise _parameter_error(name, spec, value) from None
        if expected == "Long" and isinstance(value, int) and not isinstance(value, bool):
            return Long(value)
        if expected == "DateTime" and isinstance(value, Date):
            return value.to_datetime()
        if expected in _PARAMETER_CLASSES and not value_is(value, spec, None):
            raise _parameter_error(name, spec, value)
    return value


def _already_declared_type(value: Any, spec: A.TypeSpecifier | None) -> bool:
    """True when `_coerce_parameter` would return `value` itself after its checks: a Tuple for a Tuple type, or
    a String/Boolean/Integer/Decimal of exactly that class for that System type (decided by class alone)."""
    kind = type(value)
    if kind is Tuple:
        return type(spec) is A.TupleTypeSpecifier
    return type(spec) is A.NamedTypeSpecifier and _PLAIN_CLASSES.get(kind) == spec.name \
        and spec.namespace in (None, "System")


# Exact Python classes that are, as they stand, the System type named (bool is not an Integer here).
_PLAIN_CLASSES: dict[type, str] = {str: "String", bool: "Boolean", int: "Integer", Decimal: "Decimal"}

_PARAMETER_CLASSES = frozenset({"Boolean", "Integer", "Long", "Decimal", "String", "Date", "DateTime", "Time",
                                "Quantity", "Ratio", "Code", "Concept"})


def _parameter_error(name: str, spec: A.TypeSpecifier, value: Any) -> CqlEvaluationError:
    return CqlEvaluationError(f"parameter {name} expects a {spec}, got a {type(value).__name__}")


class LibraryManager:
    """Loads libraries through `loader(name, version)`, compiling each (name, version) once; thread-safe."""

    def __init__(self, loader: Loader, model: Any = None) -> None:
        self.loader = loader
        self.model = model if model is not None else _default_model()
        self._compiled: dict[tuple[str, str | None], CompiledLibrary] = {}
        self._lock = threading.RLock()

    def load(self, name: str, version: str | None = None) -> CompiledLibrary:
        with self._lock:
            return self._load(name, version, ())

    def _load(self, name: str, version: str | None, chain: tuple[str, ...]) -> CompiledLibrary:
        key = (name, version)
        if key in self._compiled:
            return self._compiled[key]
        if name in chain:
            raise CqlSemanticError(f"circular include: {' -> '.join(chain + (name,))}", name)
        try:
            text = self.loader(name, version)
        except (KeyError, FileNotFoundError, OSError) as exc:
            if name == "FHIRHelpers" and version in (None, "4.0.1"):
                # The built-in FHIRHelpers: conversions are implicit in the FHIR model already.
                text = FHIRHELPERS_SOURCE.read_text(encoding="utf-8")
            else:
                raise CqlSemanticError(f"library {name!r} version {version!r} cannot be loaded: {exc}", name) from None
        ast = parse_library(text)
        if ast.name is not None and ast.name.split(".")[-1] != name.split(".")[-1]:
            raise CqlSemanticError(f"the loader returned library {ast.name!r} for {name!r}", name)
        if version is not None and ast.version is not None and ast.version != version:
            raise CqlSemanticError(f"library {name} has version {ast.version}, not {version}", name)
        includes = {inc.alias: self._load(inc.name, inc.version, chain + (name,)) for inc in ast.includes}
        compiled = CompiledLibrary(ast, f"{name}|{version or ast.version or ''}", includes, self.model)
        self._compiled[key] = compiled
        return compiled

    def compile_text(self, text: str) -> CompiledLibrary:
        """Compile library source given directly (its includes still come from the loader)."""
        with self._lock:
            ast = parse_library(text)
            includes = {inc.alias: self._load(inc.name, inc.version, (ast.name or "",)) for inc in ast.includes}
            return CompiledLibrary(ast, f"{ast.name}|{ast.version or ''}|text", includes, self.model)


_EXPRESSION_CACHE: "OrderedDict[str, CompiledLibrary]" = OrderedDict()
_EXPRESSION_LOCK = threading.Lock()
_EXPRESSION_CACHE_SIZE = 256


def compile_expression(text: str) -> CompiledLibrary:
    """Compile one expression as the only define (`expression`) of an anonymous library; cached by text."""
    with _EXPRESSION_LOCK:
        found = _EXPRESSION_CACHE.get(text)
        if found is not None:
            _EXPRESSION_CACHE.move_to_end(text)
            return found
    node = parse_expression(text)
    first_line = text.strip().split("\n", 1)[0][:200]
    ast = A.Library(None, None, statements=(A.ExpressionDef("expression", node, "Unfiltered", "public", first_line),))
    compiled = CompiledLibrary(ast, f"expression|{id(ast)}", {}, _expression_model())
    with _EXPRESSION_LOCK:
        _EXPRESSION_CACHE[text] = compiled
        while len(_EXPRESSION_CACHE) > _EXPRESSION_CACHE_SIZE:
            _EXPRESSION_CACHE.popitem(last=False)
    return compiled


_MODEL: list[Any] = []


def _expression_model() -> Any:
    if not _MODEL:
        _MODEL.append(_default_model())
    return _MODEL[0]


def evaluate_expression(text: str, ctx: EvaluationContext | None = None) -> Any:
    """Parse, compile and evaluate one CQL expression (no library): conformance, $cql, the CLI."""
    compiled = compile_expression(text)
    return compiled.evaluate(ctx or EvaluationContext(), ["expression"])["expression"]


__all__ = [
    "LibraryManager", "CompiledLibrary", "EvaluationContext", "evaluate_expression", "compile_expression",
    "CqlError", "Scope",
]
