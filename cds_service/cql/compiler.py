"""ENGINE compiler: resolves names and compiles the AST to Python closures once; closures then run per evaluation."""
from __future__ import annotations

import itertools
import operator
import weakref
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

from cds_service.cql import ast as A
from cds_service.cql import fhirmodel, logic
from cds_service.cql.errors import (
    CqlError,
    CqlEvaluationError,
    CqlMessageError,
    CqlSemanticError,
    CqlUnsupportedError,
)
from cds_service.cql.functions import valueset_contains
from cds_service.cql.operators import arithmetic as ar
from cds_service.cql.operators import comparison as cmp
from cds_service.cql.operators import conversion as conv
from cds_service.cql.operators import intervals as iv
from cds_service.cql.operators import string as st
from cds_service.cql.operators import temporal as tm
from cds_service.cql.types import Code, Concept, Date, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple
from cds_service.cql.types.equality import compare, equal, equivalent

Fn = Callable[["Runtime"], Any]


class Runtime:
    """Per-evaluation state: the data, value sets, parameter values, clock and the define cache."""

    __slots__ = ("data", "valuesets", "parameters", "now", "cache", "vars", "model", "library", "define",
                 "conversions")

    def __init__(self, data: Any, valuesets: Any, parameters: dict[str, Any], now: Any, model: Any) -> None:
        self.data = data
        self.valuesets = valuesets
        self.parameters = parameters  # CQL parameter name -> override value
        self.now = now
        self.cache: dict[Any, Any] = {}
        # id(FHIR JSON object) -> (the object, its System value): conversions done once per evaluation.
        self.conversions: dict[int, tuple[Any, Any]] = {}
        self.vars: dict[int, Any] = {}
        self.model = model
        self.library: str | None = None
        self.define: str | None = None


_IN_PROGRESS = object()
_ABSENT = object()
_slot_counter = itertools.count(1)

TEMPORAL = (Date, DateTime, Time)


# --- scopes ---------------------------------------------------------------------------------------------


@dataclass
class Scope:
    """Compile-time name scope: aliases/lets/operands -> variable slots; `implicit` for sort-by items."""

    names: dict[str, int] = field(default_factory=dict)
    types: dict[str, str | None] = field(default_factory=dict)
    parent: Scope | None = None
    implicit: int | None = None

    def lookup(self, name: str) -> tuple[int, str | None] | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name], scope.types.get(name)
            scope = scope.parent
        return None

    def find_implicit(self) -> int | None:
        scope: Scope | None = self
        while scope is not None:
            if scope.implicit is not None:
                return scope.implicit
            scope = scope.parent
        return None

    def child(self) -> Scope:
        return Scope(parent=self)


# --- helpers --------------------------------------------------------------------------------------------


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def type_name_of(spec: A.TypeSpecifier) -> str:
    """The canonical name of a type specifier, without the System namespace."""
    if isinstance(spec, A.NamedTypeSpecifier):
        if spec.namespace in (None, "System"):
            return spec.name
        return f"{spec.namespace}.{spec.name}"
    return str(spec)


def value_is(value: Any, spec: A.TypeSpecifier, model: Any) -> bool:
    """Runtime `is`: System types by class, FHIR types by resourceType (or the model's answer)."""
    if value is None:
        return False
    if isinstance(spec, A.ListTypeSpecifier):
        return isinstance(value, list) and all(v is None or value_is(v, spec.element_type, model) for v in value)
    if isinstance(spec, A.IntervalTypeSpecifier):
        if not isinstance(value, Interval):
            return False
        pt = type_name_of(spec.point_type)
        return value.point_type in (None, pt) or pt == "Any"
    if isinstance(spec, A.TupleTypeSpecifier):
        return isinstance(value, Tuple)
    if isinstance(spec, A.ChoiceTypeSpecifier):
        return any(value_is(value, c, model) for c in spec.choices)
    assert isinstance(spec, A.NamedTypeSpecifier)
    name = spec.name
    if spec.namespace in (None, "System"):
        if name == "Any":
            return True
        if name == "Vocabulary":
            return isinstance(value, Tuple) and value.get("__type") in ("ValueSet", "CodeSystem")
        if name in ("ValueSet", "CodeSystem") and isinstance(value, Tuple):
            return value.get("__type") == name  # type: ignore[no-any-return]
        actual = conv.system_type_name(value)
        if actual == name:
            return True
        if spec.namespace is None and name not in conv.SYSTEM_TYPES:
            # An unqualified model type (`Observation`, `dateTime`): the model decides.
            return _fhir_is(value, name, model)
        return False
    return _fhir_is(value, f"{spec.namespace}.{name}" if spec.namespace else name, model)


def _fhir_is(value: Any, name: str, model: Any) -> bool:
    if model is not None:
        return bool(model.is_type(value, name))
    return isinstance(value, dict) and value.get("resourceType") == name.split(".")[-1]


# --- the compiler ---------------------------------------------------------------------------------------


class LibraryCompiler:
    """Compiles one library's AST; `resolver` gives included libraries (already compiled)."""

    def __init__(self, library: A.Library, key: str, includes: Mapping[str, Any], model: Any) -> None:
        self.lib = library
        self.key = key
        self.name = library.name or "Anonymous"
        self.includes = dict(includes)  # alias -> CompiledLibrary
        self.model = model
        self.defines: dict[str, A.ExpressionDef] = {}
        self.functions: dict[str, list[A.FunctionDef]] = {}
        for stmt in library.statements:
            if isinstance(stmt, A.ExpressionDef):
                if stmt.name in self.defines:
                    raise CqlSemanticError(f"define {stmt.name!r} is declared twice", self.name, stmt.name)
                self.defines[stmt.name] = stmt
            else:
                self.functions.setdefault(stmt.name, []).append(stmt)
        self.parameters = {p.name: p for p in library.parameters}
        seen: set[str] = set()
        for kind, names in (("define", list(self.defines)), ("parameter", [p.name for p in library.parameters]),
                            ("code system", [c.name for c in library.codesystems]),
                            ("value set", [v.name for v in library.valuesets]),
                            ("code", [c.name for c in library.codes]), ("concept", [c.name for c in library.concepts])):
            for n in names:
                if n in seen:
                    raise CqlSemanticError(f"{kind} {n!r} reuses a name already declared in the library", self.name)
                seen.add(n)
        self.codesystems = {c.name: c for c in library.codesystems}
        self.valuesets = {v.name: v for v in library.valuesets}
        self.codes = {c.name: c for c in library.codes}
        self.concepts = {c.name: c for c in library.concepts}
        self.contexts = {s.context for s in library.statements} | ({"Patient"} if library.usings else set())
        self.define_fns: dict[str, Fn] = {}
        self.define_types: dict[str, str | None] = {}
        self.function_fns: dict[int, Fn] = {}
        self._slot_map: dict[int, list[int]] = {}  # id(FunctionDef) -> variable slots of its operands
        self._compiling_functions: set[int] = set()
        self.current_define: str | None = None
        self._compiling: set[str] = set()

    # -- entry points ------------------------------------------------------------------------------------

    def compile_all(self) -> None:
        for name in self.defines:
            self.compile_define(name)
        for overloads in self.functions.values():
            for fdef in overloads:
                self.function_body(fdef)

    def compile_define(self, name: str) -> Fn:
        if name in self.define_fns:
            return self.define_fns[name]
        d = self.defines[name]
        if name in self._compiling:
            raise CqlSemanticError(f"define {name!r} refers to itself (directly or through other defines)",
                                   self.name, self.current_define)
        self._compiling.add(name)
        outer = self.current_define
        self.current_define = name
        try:
            fn, typ = self.expr(d.expression, Scope())
        except RecursionError:
            raise CqlSemanticError("expression nested too deeply to compile", self.name, name) from None
        except CqlSemanticError as exc:
            if exc.library is None:
                raise CqlSemanticError(exc.message, self.name, name) from None
            raise
        finally:
            self.current_define = outer
            self._compiling.discard(name)
        self.define_types[name] = typ
        self.define_fns[name] = self._wrap_define(name, d.text or name, fn)
        return self.define_fns[name]

    def _wrap_define(self, name: str, text: str, fn: Fn) -> Fn:
        key = (self.key, name)
        lib_name = self.name

        def run(rt: Runtime) -> Any:
            cache = rt.cache
            value = cache.get(key, _ABSENT)
            if value is not _ABSENT:
                if value is _IN_PROGRESS:
                    raise CqlEvaluationError("define refers to itself", lib_name, name, text)
                return value
            cache[key] = _IN_PROGRESS
            outer_lib, outer_def = rt.library, rt.define
            rt.library, rt.define = lib_name, name
            try:
                value = fn(rt)
            except CqlEvaluationError as exc:
                cache.pop(key, None)
                if exc.define is None:
                    exc.library, exc.define = lib_name, name
                    exc.expression = exc.expression or text
                    at = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
                    exc.args = (f"{exc.message}; library {lib_name}; define {name!r}; "
                                f"expression {exc.expression!r}{at}",)
                raise
            except CqlError:
                cache.pop(key, None)
                raise
            except RecursionError:
                cache.pop(key, None)
                raise CqlEvaluationError("evaluation nested too deeply", lib_name, name, text) from None
            except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                # Python's message can quote operand values (patient data): only the error type is kept.
                cache.pop(key, None)
                raise CqlEvaluationError(f"operation failed ({type(exc).__name__})", lib_name, name, text) from exc
            finally:
                rt.library, rt.define = outer_lib, outer_def
            cache[key] = value
            return value

        return run

    def error(self, message: str) -> CqlSemanticError:
        return CqlSemanticError(message, self.name, self.current_define)

    # -- expressions -------------------------------------------------------------------------------------

    def expr(self, node: A.Expression, scope: Scope) -> tuple[Fn, str | None]:
        if (scope.names or scope.parent is not None or scope.implicit is not None) \
                and not isinstance(node, _LEAVES) and _is_closed(node, scope):
            # Inside a query or function, a sub-expression that reads no alias, let or operand has one
            # value per evaluation (`"Eval Time" - 30 days`): compute it once, not once per row.
            fn, typ = self._expr(node, Scope())
            key = ("invariant", id(node), id(self))

            def invariant(rt: Runtime) -> Any:
                cache = rt.cache
                value = cache.get(key, _ABSENT)
                if value is _ABSENT:
                    value = cache[key] = fn(rt)
                return value

            return invariant, typ
        return self._expr(node, scope)

    def _expr(self, node: A.Expression, scope: Scope) -> tuple[Fn, str | None]:
        method = getattr(self, "c_" + type(node).__name__, None)
        if method is not None:
            return method(node, scope)  # type: ignore[no-any-return]
        if isinstance(node, A.BinaryExpression):
            return self.binary(node, scope)
        if isinstance(node, A.UnaryExpression):
            return self.unary(node, scope)
        raise CqlUnsupportedError(f"unsupported CQL construct {type(node).__name__}", self.name, self.current_define)

    def fn(self, node: A.Expression, scope: Scope) -> Fn:
        return self.expr(node, scope)[0]

    # literals and selectors

    def c_Null(self, node: A.Null, scope: Scope) -> tuple[Fn, str | None]:
        return (lambda rt: None), None

    def c_Literal(self, node: A.Literal, scope: Scope) -> tuple[Fn, str | None]:
        value = self.literal_value(node)
        return (lambda rt: value), node.value_type

    def literal_value(self, node: A.Literal) -> Any:
        t, v = node.value_type, node.value
        try:
            if t == "Integer":
                if not ar.INT_MIN <= v <= ar.INT_MAX:
                    raise self.error(f"Integer literal {v} is outside the 32-bit range")
                return v
            if t == "Long":
                if not ar.LONG_MIN <= v <= ar.LONG_MAX:
                    raise self.error(f"Long literal {v}L is outside the 64-bit range")
                return Long(v)
            if t == "Decimal":
                if -v.as_tuple().exponent > 8:
                    raise self.error(f"Decimal literal {v} has more than 8 digits after the point")
                if abs(v) > ar.DECIMAL_MAX:
                    raise self.error(f"Decimal literal {v} is outside the CQL Decimal range")
                return v
            if t == "Quantity":
                return Quantity(v[0], v[1])
            if t == "Ratio":
                return Ratio(Quantity(*v[0]), Quantity(*v[1]))
            if t == "Date":
                d = conv.parse_date(v[1:])
                if d is None:
                    raise self.error(f"invalid Date literal {v}")
                return d
            if t == "DateTime":
                dt = conv.parse_datetime(v[1:])
                if dt is None:
                    raise self.error(f"invalid DateTime literal {v}")
                return dt
            if t == "Time":
                tt = conv.parse_time(v[2:])
                if tt is None:
                    raise self.error(f"invalid Time literal {v}")
                return tt
        except CqlEvaluationError as exc:
            raise self.error(f"invalid {t} literal: {exc.message}") from None
        return v

    def c_ListSelector(self, node: A.ListSelector, scope: Scope) -> tuple[Fn, str | None]:
        fns = [self.fn(e, scope) for e in node.elements]
        elem_type = type_name_of(node.type_specifier) if node.type_specifier else None
        return (lambda rt: [f(rt) for f in fns]), f"List<{elem_type}>" if elem_type else "List"

    def c_TupleSelector(self, node: A.TupleSelector, scope: Scope) -> tuple[Fn, str | None]:
        items = [(name, self.fn(e, scope)) for name, e in node.elements]
        return (lambda rt: Tuple.owning({n: f(rt) for n, f in items})), "Tuple"

    def c_Instance(self, node: A.Instance, scope: Scope) -> tuple[Fn, str | None]:
        type_name = type_name_of(node.class_type)
        items = [(name, self.fn(e, scope)) for name, e in node.elements]
        if type_name == "Code":
            return (lambda rt: self._code_instance({n: f(rt) for n, f in items})), "Code"
        if type_name == "Concept":

            def concept(rt: Runtime) -> Any:
                values = {n: f(rt) for n, f in items}
                codes = values.get("codes")
                if isinstance(codes, Code):
                    codes = [codes]
                return Concept(tuple(c for c in (codes or []) if c is not None), values.get("display"))

            return concept, "Concept"
        if type_name == "Quantity":

            def quantity(rt: Runtime) -> Any:
                values = {n: f(rt) for n, f in items}
                value = values.get("value")
                if value is None:
                    return None
                return Quantity(Decimal(value), values.get("unit") or "1")

            return quantity, "Quantity"
        if type_name == "Ratio":
            return (lambda rt: Ratio(**{n: f(rt) for n, f in items})), "Ratio"
        if type_name in ("ValueSet", "CodeSystem", "Vocabulary"):
            return (lambda rt: Tuple([("__type", type_name)] + [(n, f(rt)) for n, f in items])), type_name
        if type_name in ("Interval",):
            raise self.error("use Interval[low, high] to build an interval")
        # A FHIR (or other model) instance: a plain dict, as the data source delivers them.
        resource_type = node.class_type.name

        def instance(rt: Runtime) -> Any:
            out: dict[str, Any] = {"resourceType": resource_type}
            for n, f in items:
                out[n] = f(rt)
            return out

        return instance, type_name

    @staticmethod
    def _code_instance(values: dict[str, Any]) -> Code:
        for name in ("code", "system", "version", "display"):
            if values.get(name) is not None and not isinstance(values[name], str):
                raise CqlEvaluationError(f"Code.{name} must be a String")
        return Code(values.get("code"), values.get("system"), values.get("version"), values.get("display"))

    def c_IntervalSelector(self, node: A.IntervalSelector, scope: Scope) -> tuple[Fn, str | None]:
        low, lt = self.expr(node.low, scope)
        high, ht = self.expr(node.high, scope)
        point = lt or ht
        for t in (lt, ht):
            if t is not None and t not in ("Integer", "Long", "Decimal", "Quantity", "Date", "DateTime", "Time", "Any"):
                raise self.error(f"an Interval cannot have {t} bounds")
        if lt is not None and ht is not None and lt != ht:
            if {lt, ht} <= {"Integer", "Long", "Decimal"}:
                point = "Decimal" if "Decimal" in (lt, ht) else "Long"
            elif {lt, ht} <= {"Date", "DateTime"}:
                point = "DateTime"
            else:
                raise self.error(f"Interval bounds of different types: {lt} and {ht}")
        lc, hc = node.low_closed, node.high_closed
        promote = point in ("Decimal", "Long", "DateTime") and lt != ht

        def build(rt: Runtime) -> Any:
            lo, hi = low(rt), high(rt)
            if promote:
                lo, hi = _promote_point(lo, point), _promote_point(hi, point)
            return iv.interval(lo, hi, lc, hc, point)

        return build, f"Interval<{point}>" if point else "Interval"

    def c_CodeSelector(self, node: A.CodeSelector, scope: Scope) -> tuple[Fn, str | None]:
        system = self._codesystem(node.system)
        code = Code(node.code, system.id, system.version, node.display)
        return (lambda rt: code), "Code"

    def _codesystem(self, ref: A.CodeSystemRef) -> A.CodeSystemDef:
        comp = self._library_for(ref.library)
        if ref.name not in comp.codesystems:
            raise self.error(f"unknown code system {ref.name!r}")
        return comp.codesystems[ref.name]

    def _library_for(self, alias: str | None) -> "LibraryCompiler":
        if alias is None:
            return self
        if alias not in self.includes:
            raise self.error(f"unknown library {alias!r}")
        return self.includes[alias].compiler  # type: ignore[no-any-return]

    def _code_value(self, ref: A.CodeRef) -> Code:
        comp = self._library_for(ref.library)
        if ref.name not in comp.codes:
            raise self.error(f"unknown code {ref.name!r}")
        cdef = comp.codes[ref.name]
        system = comp._codesystem(cdef.system)
        return Code(cdef.id, system.id, system.version, cdef.display)

    def c_ConceptSelector(self, node: A.ConceptSelector, scope: Scope) -> tuple[Fn, str | None]:
        concept = Concept(tuple(self._code_value(c) for c in node.codes), node.display)
        return (lambda rt: concept), "Concept"

    # references

    def c_IdentifierRef(self, node: A.IdentifierRef, scope: Scope) -> tuple[Fn, str | None]:
        name = node.name
        if name.startswith("$"):
            found = scope.lookup(name)
            if found is None:
                implicit = scope.find_implicit()
                if implicit is None or name != "$this":
                    raise self.error(f"{name} is not available here")
                slot = implicit
            else:
                slot = found[0]
            return (lambda rt: rt.vars.get(slot)), None
        found = scope.lookup(name)
        if found is not None:
            slot, typ = found
            return (lambda rt: rt.vars.get(slot)), typ
        resolved = self.resolve_library_name(self, name)
        if resolved is not None:
            return resolved
        implicit = scope.find_implicit()
        if implicit is not None:
            prop = self.property_getter(name)
            return (lambda rt: prop(rt.vars.get(implicit), rt)), None
        if name in self.contexts and name != "Unfiltered":
            # `context Patient` makes `Patient` the context resource: the one Patient of the record.
            key = ("context", name)

            def context_resource(rt: Runtime) -> Any:
                cache = rt.cache
                if key not in cache:
                    rows = list(rt.data.retrieve(name))
                    if len(rows) > 1:
                        raise CqlEvaluationError(f"the record holds {len(rows)} {name} resources, expected one")
                    cache[key] = rows[0] if rows else None
                return cache[key]

            return context_resource, name
        if name in self.includes:
            raise self.error(f"library {name!r} cannot be used as a value")
        raise self.error(f"unknown identifier {name!r}")

    def resolve_library_name(self, comp: "LibraryCompiler", name: str) -> tuple[Fn, str | None] | None:
        """Define, parameter, code, concept, value set or code system `name` of library `comp`."""
        if name in comp.defines:
            if comp is not self and comp.defines[name].access == "private":
                raise self.error(f"define {name!r} of library {comp.name} is private")
            fn = comp.compile_define(name) if comp is self else comp.define_fns[name]
            return fn, comp.define_types.get(name)
        if name in comp.parameters:
            return comp.parameter_fn(name), None
        if name in comp.codes:
            code = comp._code_value(A.CodeRef(name))
            return (lambda rt: code), "Code"
        if name in comp.concepts:
            cdef = comp.concepts[name]
            concept = Concept(tuple(comp._code_value(c) for c in cdef.codes), cdef.display)
            return (lambda rt: concept), "Concept"
        if name in comp.valuesets:
            vs = comp.valuesets[name]
            ref = Tuple([("__type", "ValueSet"), ("id", vs.id), ("version", vs.version), ("name", name)])
            return (lambda rt: ref), "ValueSet"
        if name in comp.codesystems:
            cs = comp.codesystems[name]
            ref = Tuple([("__type", "CodeSystem"), ("id", cs.id), ("version", cs.version), ("name", name)])
            return (lambda rt: ref), "CodeSystem"
        return None

    def parameter_fn(self, name: str) -> Fn:
        key, pname = self.key, name
        pdef = self.parameters[name]
        default = self.fn(pdef.default, Scope()) if pdef.default is not None else (lambda rt: None)
        cache_key = ("param", key, name)

        def param(rt: Runtime) -> Any:
            values = rt.parameters
            if pname in values:
                return values[pname]
            cache = rt.cache
            if cache_key not in cache:
                cache[cache_key] = default(rt)
            return cache[cache_key]

        return param

    def c_ExternalConstant(self, node: A.ExternalConstant, scope: Scope) -> tuple[Fn, str | None]:
        raise CqlUnsupportedError(f"external constant %{node.name} is not supported", self.name, self.current_define)

    def c_Property(self, node: A.Property, scope: Scope) -> tuple[Fn, str | None]:
        src = node.source
        if isinstance(src, A.IdentifierRef) and scope.lookup(src.name) is None and src.name in self.includes \
                and src.name not in self.defines:
            comp = self.includes[src.name].compiler
            resolved = self.resolve_library_name(comp, node.path)
            if resolved is None:
                raise self.error(f"library {src.name} has no definition {node.path!r}")
            return resolved
        getter = self.property_getter(node.path)
        if isinstance(src, A.IdentifierRef) and scope.lookup(src.name) is not None and not src.name.startswith("$"):
            # `Alias.path`, the hot shape inside query clauses: read the alias slot directly.
            slot, alias_type = scope.lookup(src.name)  # type: ignore[misc]
            model, path = self.model, node.path
            if model is None:
                return (lambda rt: getter(rt.vars.get(slot), rt)), None
            typed = _typed_alias_reader(model, alias_type, path, slot, getter)
            if typed is not None:
                return typed, None

            direct = _direct_system_readers(path, with_model=True)

            def alias_property(rt: Runtime) -> Any:
                value = rt.vars.get(slot)
                kind = type(value)
                if kind is dict:
                    return model.get_property(value, path)
                reader = direct.get(kind)
                if reader is not None:
                    return reader(value)
                return getter(value, rt)

            return alias_property, None
        source = self.fn(src, scope) if src is not None else (lambda rt: None)
        return (lambda rt: getter(source(rt), rt)), None

    def property_getter(self, path: str) -> Callable[[Any, Runtime], Any]:
        quantity_field = path if path in ("value", "unit") else None
        # Exact System classes answer `path` with one call (no per-read dict of their fields); the general
        # code below stays the definition, and subclasses and unknown names still go through it.
        direct = _direct_system_readers(path, with_model=False)
        direct_model = _direct_system_readers(path, with_model=True)

        def get(value: Any, rt: Runtime) -> Any:
            if value is None:
                return None
            reader = (direct_model if rt.model is not None else direct).get(type(value))
            if reader is not None:
                return reader(value)
            if quantity_field is not None and type(value) is Quantity:
                return value.value if quantity_field == "value" else value.unit
            if isinstance(value, dict):
                model = rt.model
                if model is not None:
                    return model.get_property(value, path)
                return value.get(path)
            if isinstance(value, list):
                out: list[Any] = []
                for v in value:
                    r = get(v, rt)
                    if isinstance(r, list):
                        out.extend(r)
                    elif r is not None:
                        out.append(r)
                return out
            found = _system_property(value, path)
            if found is _NO_PROPERTY:
                model = rt.model
                if model is not None:
                    # FHIR element names on converted values: `O.code.coding`, `P.effective.start`.
                    return model.get_property(value, path)
                raise CqlEvaluationError(f"a {conv.system_type_name(value)} has no property {path!r}")
            return found

        return get

    def c_Indexer(self, node: A.Indexer, scope: Scope) -> tuple[Fn, str | None]:
        source, index = self.fn(node.source, scope), self.fn(node.index, scope)
        return (lambda rt: st.indexer(source(rt), index(rt))), None

    # function calls

    def c_FunctionRef(self, node: A.FunctionRef, scope: Scope) -> tuple[Fn, str | None]:
        fn, typ = self._function_ref(node, scope)
        if fn in _SELF_LOCATING:
            return fn, typ

        def call(rt: Runtime) -> Any:
            try:
                return fn(rt)
            except CqlEvaluationError as exc:
                locate(exc, node)
                raise

        return call, typ

    def _function_ref(self, node: A.FunctionRef, scope: Scope) -> tuple[Fn, str | None]:
        operands = list(node.operands)
        library: LibraryCompiler = self
        if node.fluent and operands and isinstance(operands[0], A.IdentifierRef):
            first = operands[0].name
            if scope.lookup(first) is None and first in self.includes and first not in self.defines:
                library = self.includes[first].compiler
                operands = operands[1:]
                return self.call_user(library, node.name, operands, scope, fluent=False, qualified=True, at=node)
        if node.name in library.functions:
            return self.call_user(library, node.name, operands, scope, fluent=node.fluent, at=node)
        if node.fluent:
            # Fluent functions of included libraries are callable without the library alias.
            for inc in self.includes.values():
                if any(f.fluent and f.access != "private" for f in inc.compiler.functions.get(node.name, [])):
                    return self.call_user(inc.compiler, node.name, operands, scope, fluent=True, at=node)
        from cds_service.cql.functions import SYSTEM_FUNCTIONS

        if node.name in SYSTEM_FUNCTIONS:
            return SYSTEM_FUNCTIONS[node.name](self, operands, scope)
        raise self.error(f"unknown function {node.name}({', '.join('_' for _ in operands)})")

    def call_user(self, comp: "LibraryCompiler", name: str, operands: Sequence[A.Expression], scope: Scope, *,
                  fluent: bool, qualified: bool = False, at: A.Expression | None = None) -> tuple[Fn, str | None]:
        candidates = [f for f in comp.functions.get(name, []) if len(f.operands) == len(operands)]
        if fluent:
            fluent_ones = [f for f in candidates if f.fluent]
            candidates = fluent_ones or candidates
        if not candidates:
            from cds_service.cql.functions import SYSTEM_FUNCTIONS

            if not qualified and name in SYSTEM_FUNCTIONS:
                return SYSTEM_FUNCTIONS[name](self, list(operands), scope)
            raise self.error(f"no overload of {name} takes {len(operands)} argument(s)")
        if qualified or comp is not self:
            candidates = [f for f in candidates if f.access != "private"] or candidates
            if all(f.access == "private" for f in comp.functions.get(name, [])) and comp is not self:
                raise self.error(f"function {name} of library {comp.name} is private")
        compiled_args = [self.expr(o, scope) for o in operands]
        arg_fns = [a[0] for a in compiled_args]
        arg_types = [a[1] for a in compiled_args]
        if len(candidates) > 1:
            exact = [f for f in candidates if all(
                t is None or _type_matches(t, o.type_specifier) for t, o in zip(arg_types, f.operands))]
            candidates = exact or candidates
        if len(candidates) == 1:
            fdef = candidates[0]
            body = comp.function_body(fdef)
            slots = comp.function_slots(fdef)
            if fdef.expression is None:
                raise CqlUnsupportedError(f"external function {name} has no implementation", self.name, self.current_define)
            return _make_call(body, slots, arg_fns, at), (type_name_of(fdef.return_type) if fdef.return_type else None)
        # Several overloads remain: choose by the runtime types of the arguments.
        options = [(f, comp.function_body(f), comp.function_slots(f)) for f in candidates]
        model = self.model

        def dispatch(rt: Runtime) -> Any:
            values = [a(rt) for a in arg_fns]
            for fdef, body, slots in options:
                if all(v is None or value_is(v, o.type_specifier, model) for v, o in zip(values, fdef.operands)):
                    return _invoke(body, slots, values, rt)
            raise CqlEvaluationError(f"no overload of {name} matches the argument types")

        return dispatch, None

    def function_slots(self, fdef: A.FunctionDef) -> list[int]:
        key = id(fdef)
        if key not in self._slot_map:
            self._slot_map[key] = [next(_slot_counter) for _ in fdef.operands]
        return self._slot_map[key]

    def function_body(self, fdef: A.FunctionDef) -> Fn:
        key = id(fdef)
        if key in self.function_fns:
            return self.function_fns[key]
        if fdef.expression is None:
            def external(rt: Runtime) -> Any:
                raise CqlUnsupportedError(f"external function {fdef.name} has no implementation")

            self.function_fns[key] = external
            return external
        slots = self.function_slots(fdef)
        scope = Scope()
        for operand, slot in zip(fdef.operands, slots):
            scope.names[operand.name] = slot
            scope.types[operand.name] = type_name_of(operand.type_specifier)
        if key in self._compiling_functions:
            # CQL has no recursion; catching it here beats a stack overflow at evaluation.
            raise CqlSemanticError(f"function {fdef.name} calls itself (directly or through other functions)",
                                   self.name, self.current_define)
        self._compiling_functions.add(key)
        outer = self.current_define
        self.current_define = f"function {fdef.name}"
        try:
            body = self.fn(fdef.expression, scope)
        finally:
            self.current_define = outer
            self._compiling_functions.discard(key)
        self.function_fns[key] = body
        return body

    # queries

    def c_Retrieve(self, node: A.Retrieve, scope: Scope) -> tuple[Fn, str | None]:
        data_type = node.data_type.name
        code_path = node.code_property
        if node.codes is not None and code_path is None:
            # `[Type: X]` without an explicit path filters on the model's primary code path.
            found = self.model.primary_code_path(data_type) if self.model is not None else None
            code_path = found or "code"
        codes_fn = self.fn(node.codes, scope) if node.codes is not None else None
        getter = self.property_getter(code_path) if code_path else None
        if getter is not None and code_path is not None and self.model is not None:
            getter = _typed_reader(self.model, data_type, code_path, getter) or getter
        cache_key = ("retrieve", id(node))

        def retrieve(rt: Runtime) -> Any:
            cache = rt.cache
            if codes_fn is None and cache_key in cache:
                return cache[cache_key]
            if codes_fn is None:
                rows = list(rt.data.retrieve(data_type))
                cache[cache_key] = rows
                return rows
            terms = codes_fn(rt)
            if terms is None:
                return []
            valueset = None
            codes: list[Code] | None = None
            if isinstance(terms, Tuple) and terms.get("__type") == "ValueSet":
                valueset = rt.valuesets.resolve(terms["id"])
            elif isinstance(terms, Code):
                codes = [terms]
            elif isinstance(terms, Concept):
                codes = list(terms.codes)
            elif isinstance(terms, list):
                codes = [c for t in terms for c in ((t,) if isinstance(t, Code) else getattr(t, "codes", ()))]
            else:
                raise CqlEvaluationError(f"cannot retrieve by a {conv.system_type_name(terms)}")
            rows = rt.data.retrieve(data_type, code_path=code_path, codes=codes, valueset=valueset)
            out = []
            if getter is not None and valueset is not None:
                # Rows share a few Concepts (see `_converted_concept`): each is matched once per retrieve.
                # (The entry keeps the Concept, so its id stays its own meanwhile.)
                matched: dict[int, tuple[Any, bool]] = {}
                for r in rows:
                    value = getter(r, rt)
                    if type(value) is Concept:
                        hit = matched.get(id(value))
                        if hit is None or hit[0] is not value:
                            hit = matched[id(value)] = (value, _terminology_match(value, codes, valueset, rt))
                        if hit[1]:
                            out.append(r)
                    elif _terminology_match(value, codes, valueset, rt):
                        out.append(r)
                return out
            for r in rows:
                value = getter(r, rt) if getter else None
                if _terminology_match(value, codes, valueset, rt):
                    out.append(r)
            return out

        return retrieve, f"List<{data_type}>"

    def c_Query(self, node: A.Query, scope: Scope) -> tuple[Fn, str | None]:
        from cds_service.cql.query import compile_query

        return compile_query(self, node, scope)

    # conditionals

    def c_If(self, node: A.If, scope: Scope) -> tuple[Fn, str | None]:
        cond, (then, tt), (other, et) = self.fn(node.condition, scope), self.expr(node.then, scope), self.expr(node.else_, scope)
        return (lambda rt: then(rt) if cond(rt) is True else other(rt)), tt or et

    def c_Case(self, node: A.Case, scope: Scope) -> tuple[Fn, str | None]:
        items = [(self.fn(i.when, scope), self.fn(i.then, scope)) for i in node.items]
        other, typ = self.expr(node.else_, scope)
        if node.comparand is None:

            def case(rt: Runtime) -> Any:
                for when, then in items:
                    if when(rt) is True:
                        return then(rt)
                return other(rt)

            return case, typ
        comparand = self.fn(node.comparand, scope)

        def selected_case(rt: Runtime) -> Any:
            value = comparand(rt)
            for when, then in items:
                if equal(value, when(rt)) is True:
                    return then(rt)
            return other(rt)

        return selected_case, typ

    # types

    def c_Is(self, node: A.Is, scope: Scope) -> tuple[Fn, str | None]:
        operand = self.fn(node.operand, scope)
        spec = node.type_specifier
        self.check_type(spec)
        model = self.model
        return (lambda rt: value_is(operand(rt), spec, model)), "Boolean"

    def c_As(self, node: A.As, scope: Scope) -> tuple[Fn, str | None]:
        operand = self.fn(node.operand, scope)
        spec = node.type_specifier
        self.check_type(spec)
        model = self.model
        strict = node.strict
        typ = type_name_of(spec)

        fast_class = _SYSTEM_CLASSES.get(typ) if isinstance(spec, A.NamedTypeSpecifier) else None
        # `O.effective as dateTime`, `O.value as CodeableConcept`: a FHIR type name against a converted
        # System value. For these exact classes the model's answer depends on the class alone (it is
        # `fhirmodel._fhir_is`), so it is asked once per class; other values take the general path.
        fhir_answers: dict[type, bool] | None = None
        if isinstance(spec, A.NamedTypeSpecifier) and spec.namespace in (None, "FHIR") \
                and spec.name not in conv.SYSTEM_TYPES and spec.name != "Any" and isinstance(model, fhirmodel.FhirModel):
            fhir_answers = {}
        fhir_name = spec.name if isinstance(spec, A.NamedTypeSpecifier) else ""

        def as_(rt: Runtime) -> Any:
            value = operand(rt)
            if value is None:
                return None
            if fast_class is not None and type(value) is fast_class:
                return value
            if fhir_answers is not None:
                kind = type(value)
                if kind in _CLASS_DECIDED:
                    answer = fhir_answers.get(kind)
                    if answer is None:
                        answer = fhir_answers[kind] = fhirmodel.fhir_type_accepts(value, fhir_name)
                    if answer:
                        return value
                    if not strict:
                        return None
            if value_is(value, spec, model):
                return value
            if isinstance(spec, A.NamedTypeSpecifier) and spec.name == "Decimal" and _is_num(value):
                return Decimal(value)
            if strict:
                raise CqlEvaluationError(f"cannot cast a {conv.system_type_name(value)} as {typ}")
            return None

        return as_, typ

    def check_type(self, spec: A.TypeSpecifier) -> None:
        if isinstance(spec, A.NamedTypeSpecifier) and spec.namespace in (None, "System"):
            if spec.namespace == "System" and spec.name not in conv.SYSTEM_TYPES:
                raise self.error(f"unknown type System.{spec.name}")

    def c_Convert(self, node: A.Convert, scope: Scope) -> tuple[Fn, str | None]:
        operand = self.fn(node.operand, scope)
        target = type_name_of(node.type_specifier)
        if target not in conv.CONVERTERS:
            raise CqlUnsupportedError(f"convert to {target} is not supported", self.name, self.current_define)
        converter = conv.CONVERTERS[target]
        return (lambda rt: converter(operand(rt))), target

    def c_ConvertQuantity(self, node: A.ConvertQuantity, scope: Scope) -> tuple[Fn, str | None]:
        from cds_service.cql.types import ucum

        operand = self.fn(node.operand, scope)
        unit = node.unit
        return (lambda rt: ucum.convert(operand(rt), unit)), "Quantity"

    def c_MinValue(self, node: A.MinValue, scope: Scope) -> tuple[Fn, str | None]:
        name = type_name_of(node.value_type)
        value = ar.min_value(name) if name in _EXTENT_TYPES else _raise_at_run(f"minimum is not defined for {name}")
        return (value if callable(value) else (lambda rt: value)), name

    def c_MaxValue(self, node: A.MaxValue, scope: Scope) -> tuple[Fn, str | None]:
        name = type_name_of(node.value_type)
        value = ar.max_value(name) if name in _EXTENT_TYPES else _raise_at_run(f"maximum is not defined for {name}")
        return (value if callable(value) else (lambda rt: value)), name

    def c_DateTimeComponentFrom(self, node: A.DateTimeComponentFrom, scope: Scope) -> tuple[Fn, str | None]:
        operand = self.fn(node.operand, scope)
        precision = node.precision
        return (lambda rt: tm.date_time_component_from(operand(rt), precision)), "Integer"

    def c_TimingPoint(self, node: A.TimingPoint, scope: Scope) -> tuple[Fn, str | None]:
        operand, typ = self.expr(node.operand, scope)
        pick = iv.start if node.boundary == "start" else iv.end

        def point(rt: Runtime) -> Any:
            value = operand(rt)
            return pick(value) if isinstance(value, Interval) else value

        return point, None

    def c_Between(self, node: A.Between, scope: Scope) -> tuple[Fn, str | None]:
        operand, low, high = self.fn(node.operand, scope), self.fn(node.low, scope), self.fn(node.high, scope)
        proper = node.proper

        def between(rt: Runtime) -> Any:
            v = operand(rt)
            lo, hi = low(rt), high(rt)
            c1 = _cmp(v, lo)
            c2 = _cmp(v, hi)
            a = None if c1 is None else (c1 > 0 if proper else c1 >= 0)
            b = None if c2 is None else (c2 < 0 if proper else c2 <= 0)
            return logic.and_(a, b)

        return between, "Boolean"

    def c_Within(self, node: A.Within, scope: Scope) -> tuple[Fn, str | None]:
        left, right, qty = self.fn(node.left, scope), self.fn(node.right, scope), self.fn(node.quantity, scope)
        proper = node.proper

        def within(rt: Runtime) -> Any:
            a, b, q = left(rt), right(rt), qty(rt)
            if a is None or b is None or q is None:
                return None
            lo_point = iv.start(b) if isinstance(b, Interval) else b
            hi_point = iv.end(b) if isinstance(b, Interval) else b
            if lo_point is None or hi_point is None:
                return None
            window = iv.interval(ar.subtract(lo_point, q), ar.add(hi_point, q), not proper, not proper)
            if isinstance(a, Interval):
                return iv.included_in(a, window)
            return iv.in_(a, window)

        return within, "Boolean"

    def c_ExpandPer(self, node: A.ExpandPer, scope: Scope) -> tuple[Fn, str | None]:
        operand = self.fn(node.operand, scope)
        per = self.fn(node.per, scope) if node.per is not None else None
        precision = node.precision
        return (lambda rt: iv.expand(operand(rt), _per_value(per, precision, rt))), "List"

    def c_CollapsePer(self, node: A.CollapsePer, scope: Scope) -> tuple[Fn, str | None]:
        operand = self.fn(node.operand, scope)
        per = self.fn(node.per, scope) if node.per is not None else None
        precision = node.precision
        return (lambda rt: iv.collapse(operand(rt), _per_value(per, precision, rt))), "List"

    # generic operators

    def unary(self, node: A.UnaryExpression, scope: Scope) -> tuple[Fn, str | None]:
        from cds_service.cql.dispatch import UNARY

        operand, typ = self.expr(node.operand, scope)
        name = type(node).__name__
        if name not in UNARY:
            raise CqlUnsupportedError(f"unsupported operator {name}", self.name, self.current_define)
        impl, result_type = UNARY[name]
        if name in ("IsNull", "IsTrue", "IsFalse", "Not"):
            fused = _null_test(node, operand, self, scope)
            if fused is not None:
                return fused, "Boolean"
        if name == "Exists" and isinstance(node.operand, A.Query):
            from cds_service.cql.query import compile_exists

            exists_fn = compile_exists(self, node.operand, scope, lambda rt: impl(operand(rt)))
            if exists_fn is not None:
                return exists_fn, "Boolean"
        if name in ("Negate",) and typ is not None and typ not in ("Integer", "Long", "Decimal", "Quantity"):
            raise self.error(f"cannot negate a {typ}")

        def unary(rt: Runtime) -> Any:
            value = operand(rt)
            try:
                return impl(value)
            except CqlEvaluationError as exc:
                locate(exc, node)
                raise

        if result_type is None and name in _TYPE_PRESERVING:
            result_type = typ
        elif name == "SingletonFrom" and typ is not None and typ.startswith("List<"):
            result_type = typ[5:-1]
        return unary, result_type

    def binary(self, node: A.BinaryExpression, scope: Scope) -> tuple[Fn, str | None]:
        from cds_service.cql.dispatch import binary_impl

        (left, lt), (right, rt_) = self.expr(node.operands[0], scope), self.expr(node.operands[1], scope)
        name = type(node).__name__
        if name == "In" and rt_ in ("ValueSet", "CodeSystem"):
            from cds_service.cql.functions import in_valueset

            def in_vs(rt: Runtime) -> Any:
                value, vs = left(rt), right(rt)
                if type(value) is Concept and type(vs) is Tuple:
                    # Records repeat their codes, and equal Concepts are one object per evaluation (see
                    # `_converted_concept`): each (Concept, value set) pair is decided once.
                    key = ("concept-in-valueset", id(value), id(vs))
                    cache = rt.cache
                    hit = cache.get(key)
                    if hit is not None and hit[0] is value and hit[1] is vs:
                        return hit[2]
                    found = in_valueset(value, vs, rt)
                    cache[key] = (value, vs, found)  # both kept, so their ids stay theirs meanwhile
                    return found
                return in_valueset(value, vs, rt)

            return in_vs, "Boolean"
        impl, result_type = binary_impl(name, node.precision, lt, rt_, self)
        strings = _string_literal_set(node.operands[1]) if name == "In" else None
        if strings is not None:
            # `X in {'final', 'amended'}`: list membership by CQL equality is, against non-null String
            # literals, a set lookup for a String and false for anything else (null included).
            def in_strings(rt: Runtime) -> Any:
                value = left(rt)
                return isinstance(value, str) and value in strings

            return in_strings, "Boolean"
        if name in ("And", "Or", "Implies"):
            # Short-circuit where three-valued logic allows it; the right side is skipped only when it
            # cannot change the answer.
            # (logic.and_ / logic.or_ inline: these run once per row of every filtering query.)
            if name == "And":
                def and_(rt: Runtime) -> Any:
                    a = left(rt)
                    if a is False:
                        return False
                    b = right(rt)
                    if b is False:
                        return False
                    if a is None or b is None:
                        return None
                    return True

                return and_, "Boolean"
            if name == "Or":
                def or_(rt: Runtime) -> Any:
                    a = left(rt)
                    if a is True:
                        return True
                    b = right(rt)
                    if b is True:
                        return True
                    if a is None or b is None:
                        return None
                    return False

                return or_, "Boolean"

            def implies(rt: Runtime) -> Any:
                a = left(rt)
                if a is False:
                    return True
                return logic.implies(a, right(rt))

            return implies, "Boolean"
        depth = tm.CALENDAR_DIFFERENCE.get(node.precision or "") if name == "DifferenceBetween" else None
        if depth is not None:
            # `difference in days between D and Now()` per row: the calendar shortcut without the dispatch
            # and guard layers; anything it does not cover goes to the operator as usual.
            def difference(rt: Runtime) -> Any:
                a, b = left(rt), right(rt)
                try:
                    if type(a) is DateTime and type(b) is DateTime:
                        try:
                            found = tm.calendar_difference(a, b, depth)
                        except (ValueError, OverflowError):
                            found = None  # the operator below says what went wrong, as it always did
                        if found is not None:
                            return found
                    return impl(a, b)
                except CqlEvaluationError as exc:
                    locate(exc, node)
                    raise

            return difference, result_type
        ordering = _NUMBER_ORDERING.get(name)
        if ordering is not None and impl is ordering[0]:
            # `NumberValue(O) > "InrWarning"`, `difference ... <= maxDays`: two Integers/Decimals are ordered
            # by Python exactly as the operator orders them (`comparison.fast_compare`); everything else,
            # and any Python failure, goes to the operator itself.
            python_op = ordering[1]

            def number_ordering(rt: Runtime) -> Any:
                a, b = left(rt), right(rt)
                ta, tb = type(a), type(b)
                if (ta is int or ta is Decimal) and (tb is int or tb is Decimal):
                    try:
                        return python_op(a, b)
                    except ArithmeticError:
                        pass
                try:
                    return impl(a, b)
                except CqlEvaluationError as exc:
                    locate(exc, node)
                    raise

            return number_ordering, result_type
        if name == "Add":
            # `'Observation/' + O.id`, the trace texts: two Strings concatenate, as `dispatch._add` does first.
            def add(rt: Runtime) -> Any:
                a, b = left(rt), right(rt)
                if type(a) is str and type(b) is str:
                    return a + b
                try:
                    return impl(a, b)
                except CqlEvaluationError as exc:
                    locate(exc, node)
                    raise

            return add, result_type
        if name == "Equal" and impl is cmp.equal_:
            # `O.status = 'final'`, `Count(X) = 1`: what `comparison.equal_` answers first, without the call.
            def equal_values(rt: Runtime) -> Any:
                a, b = left(rt), right(rt)
                ta = type(a)
                if ta is type(b) and (ta is str or ta is int):
                    return a == b
                try:
                    return impl(a, b)
                except CqlEvaluationError as exc:
                    locate(exc, node)
                    raise

            return equal_values, result_type
        if isinstance(node.operands[1], (A.Literal, A.Null)):
            # A literal right operand (`O.value > 5 'mg'`) is a constant: no closure call per row.
            const = right(None)  # type: ignore[arg-type]

            def binary_const(rt: Runtime) -> Any:
                a = left(rt)
                try:
                    return impl(a, const)
                except CqlEvaluationError as exc:
                    locate(exc, node)
                    raise

            return binary_const, result_type

        def binary(rt: Runtime) -> Any:
            a, b = left(rt), right(rt)
            try:
                return impl(a, b)
            except CqlEvaluationError as exc:
                locate(exc, node)
                raise

        return binary, result_type


# Ordering operators -> (the operator `binary_impl` gives, the Python operator that agrees with it on two
# Integers/Decimals: `comparison.fast_compare` orders those by Python's < and >).
_NUMBER_ORDERING: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "Less": (cmp.less, operator.lt), "LessOrEqual": (cmp.less_or_equal, operator.le),
    "Greater": (cmp.greater, operator.gt), "GreaterOrEqual": (cmp.greater_or_equal, operator.ge),
}

# Unary operators whose result has the operand's type; the others' results are unknown statically.
_TYPE_PRESERVING = frozenset({"Negate", "Successor", "Predecessor", "Distinct"})

_LEAVES = (A.Literal, A.Null, A.IdentifierRef, A.CodeSelector, A.ConceptSelector, A.ExternalConstant)


def _is_closed(node: Any, scope: Scope) -> bool:
    """True when `node` reads no variable of `scope` (aliases, lets, operands, $this, implicit properties)."""
    if isinstance(node, A.IdentifierRef):
        return not node.name.startswith("$") and scope.lookup(node.name) is None and scope.find_implicit() is None
    if isinstance(node, (A.Literal, A.Null)):
        return True
    if isinstance(node, A.FunctionRef) and node.name in ("Now", "Today", "TimeOfDay") and not node.operands:
        return True
    if isinstance(node, A.Element):
        for f in node.__dataclass_fields__:
            if not _is_closed(getattr(node, f), scope):
                return False
        return True
    if isinstance(node, tuple):
        return all(_is_closed(v, scope) for v in node)
    return True


_EXTENT_TYPES = ("Integer", "Long", "Decimal", "Date", "DateTime", "Time", "Quantity")


def _raise_at_run(message: str) -> Fn:
    def fail(rt: Runtime) -> Any:
        raise CqlEvaluationError(message)

    return fail


def _per_value(per: Fn | None, precision: str | None, rt: Runtime) -> Any:
    if per is not None:
        return per(rt)
    if precision is not None:
        return Quantity(Decimal(1), precision)
    return None


def _cmp(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    return compare(a, b)


def _promote_point(value: Any, point: str | None) -> Any:
    if value is None:
        return None
    if point == "Decimal" and _is_num(value) and not isinstance(value, Decimal):
        return Decimal(int(value))
    if point == "Long" and isinstance(value, int) and not isinstance(value, (bool, Long)):
        return Long(value)
    if point == "DateTime" and isinstance(value, Date):
        return value.to_datetime()
    return value


def _type_matches(static: str, spec: A.TypeSpecifier) -> bool:
    name = type_name_of(spec)
    if name == static or name == "Any":
        return True
    if static.split("<")[0] == name.split("<")[0]:
        return True
    return (static, name) in {("Integer", "Decimal"), ("Integer", "Long"), ("Long", "Decimal"), ("Date", "DateTime")}


# Argument types whose calls are memoised per evaluation: immutable primitives by value, FHIR resources and
# elements (dicts of the record, never mutated during an evaluation) by identity.
_MEMO_BY_VALUE = frozenset({str, int, bool})
_MEMO_BY_ID = frozenset({dict})
_CODED = frozenset({Code, Concept})
# Exact classes `_memo_key` never keys by (neither immutable primitives, Codes nor record dicts).
_UNMEMOISED = frozenset({Date, DateTime, Time, Decimal, Quantity, Ratio, Interval, Tuple, list, Long})
_SAME_OBJECT = object()  # marks a memo key by the argument's identity (the entry keeps the argument alive)


def _plain_coded(value: Any) -> bool:
    """A Code, or Concept of Codes, whose fields are all Strings or null: immutable, and Python equality
    of two such values is field-by-field String equality, so they key a memo by value
    (`HoldFor(M.medication as CodeableConcept)` on orders of the same drug is one call)."""
    if type(value) is Concept:
        return (value.display is None or type(value.display) is str) and all(_plain_coded(c) for c in value.codes)
    if type(value) is Code:
        return all(f is None or type(f) is str for f in (value.code, value.system, value.version, value.display))
    return False


def _memo_key(values: Sequence[Any]) -> tuple[Any, ...] | None:
    """A cache key for a call with these argument values, or None when a value is not memoisable."""
    key: list[Any] = []
    for v in values:
        t = type(v)
        if v is None:
            key.append(None)
        elif t in _MEMO_BY_VALUE or (t in _CODED and _plain_coded(v)):
            key.append((t, v))
        elif t in _MEMO_BY_ID or (isinstance(v, dict) and not isinstance(v, Tuple)):
            key.append(id(v))
        else:
            return None
    return tuple(key)


def _make_call(body: Fn, slots: list[int], arg_fns: list[Fn], at: A.Expression | None = None) -> Fn:
    """A call of a user-defined function.

    CQL functions are pure: their result depends only on the arguments and on what is fixed per evaluation
    (parameters, Now(), the data). Calls on the same resource (`ObservationDate(O)` from several rules) are
    therefore computed once per evaluation: the result is cached in the evaluation's cache together with
    the arguments themselves, which keeps them alive so an identity key cannot be reused by another object.
    With `at` (the call's FunctionRef), the one- and two-argument calls name it in their errors themselves
    (see `locate`), so the call site needs no wrapper of its own; `_SELF_LOCATING` lists those.
    """
    memo_id = object()
    if len(slots) == 1:
        slot, arg = slots[0], arg_fns[0]
        null_key = (memo_id, (type(None), None))  # the key `_memo_key` gives a null argument, made once

        def call1(rt: Runtime) -> Any:
            try:
                value = arg(rt)
                t = type(value)
                key: Any = None
                same: Any = None
                if t is dict or t in _MEMO_BY_VALUE or value is None:
                    key = (memo_id, id(value)) if t is dict else null_key if value is None else (memo_id, (t, value))
                    hit = rt.cache.get(key)
                    if hit is not None:
                        return hit[1]
                elif t in _CODED:
                    # A converted CodeableConcept is one object per content per evaluation (see
                    # `_converted_concept`): the same object is recognised by identity before its value
                    # (checking and hashing every Code) is looked at.
                    same = (memo_id, _SAME_OBJECT, id(value))
                    hit = rt.cache.get(same)
                    if hit is not None and hit[0] is value:
                        return hit[1]
                    if _plain_coded(value):
                        key = (memo_id, (t, value))
                        hit = rt.cache.get(key)
                        if hit is not None:
                            rt.cache[same] = (value, hit[1])
                            return hit[1]
                    else:
                        same = None
                vars_ = rt.vars
                old = vars_.get(slot)
                vars_[slot] = value
                try:
                    result = body(rt)
                finally:
                    vars_[slot] = old
                if key is not None:
                    rt.cache[key] = (value, result)
                    if same is not None:
                        rt.cache[same] = (value, result)
                return result
            except CqlEvaluationError as exc:
                if at is not None:
                    locate(exc, at)
                raise

        if at is not None:
            _SELF_LOCATING.add(call1)
        return call1

    if len(slots) == 2:
        slot0, slot1 = slots
        arg0, arg1 = arg_fns

        def call2(rt: Runtime) -> Any:
            # `call` below for two arguments, without the per-call lists and loops.
            try:
                v0, v1 = arg0(rt), arg1(rt)
                t0, t1 = type(v0), type(v1)
                # Two Strings (`LatestLocalAt('sins-total', label)`): the key `_memo_key` gives, without its loop.
                if t0 is str and t1 is str:
                    args_key: Any = ((str, v0), (str, v1))
                elif t0 in _UNMEMOISED or t1 in _UNMEMOISED:
                    args_key = None  # what `_memo_key` answers for these classes (`IsWithinDays(date, 7)`)
                else:
                    args_key = _memo_key((v0, v1))
                if args_key is not None:
                    key = (memo_id, args_key)
                    hit = rt.cache.get(key)
                    if hit is not None:
                        return hit[1]
                vars_ = rt.vars
                old0, old1 = vars_.get(slot0), vars_.get(slot1)
                vars_[slot0], vars_[slot1] = v0, v1
                try:
                    result = body(rt)
                finally:
                    vars_[slot0], vars_[slot1] = old0, old1
                if args_key is not None:
                    rt.cache[key] = ([v0, v1], result)
                return result
            except CqlEvaluationError as exc:
                if at is not None:
                    locate(exc, at)
                raise

        if at is not None:
            _SELF_LOCATING.add(call2)
        return call2

    def call(rt: Runtime) -> Any:
        values = [a(rt) for a in arg_fns]
        args_key = _memo_key(values)
        if args_key is None:
            return _invoke(body, slots, values, rt)
        key = (memo_id, args_key)
        hit = rt.cache.get(key)
        if hit is not None:
            return hit[1]
        result = _invoke(body, slots, values, rt)
        rt.cache[key] = (values, result)
        return result

    return call


# Compiled calls that locate their own errors (weakly held: they live as long as their compiled library).
_SELF_LOCATING: "weakref.WeakSet[Fn]" = weakref.WeakSet()


def _invoke(body: Fn, slots: list[int], values: list[Any], rt: Runtime) -> Any:
    vars_ = rt.vars
    old = [vars_.get(s) for s in slots]
    for s, v in zip(slots, values):
        vars_[s] = v
    try:
        return body(rt)
    finally:
        for s, v in zip(slots, old):
            vars_[s] = v


def _codes_of(value: Any) -> Iterable[Code]:
    if value is None:
        return ()
    if isinstance(value, Code):
        return (value,)
    if isinstance(value, Concept):
        return value.codes
    if isinstance(value, list):
        return [c for v in value for c in _codes_of(v)]
    if isinstance(value, str):
        return (Code(value),)
    return ()


def _terminology_match(value: Any, codes: list[Code] | None, valueset: Any, rt: Runtime) -> bool:
    if valueset is not None and type(value) is Concept:
        # The rows of a retrieve share a few Concepts (see `_converted_concept`): one answer per pair.
        key = ("retrieve-concept-in", id(value), id(valueset))
        hit = rt.cache.get(key)
        if hit is not None and hit[0] is value and hit[1] is valueset:
            return hit[2]  # type: ignore[no-any-return]
        found_in = any(valueset_contains(valueset, c, rt) for c in value.codes)
        rt.cache[key] = (value, valueset, found_in)
        return found_in
    found = _codes_of(value)
    if valueset is not None:
        for c in found:
            if valueset_contains(valueset, c, rt):
                return True
        return False
    assert codes is not None
    return any(equivalent(c, want) for c in found for want in codes)


_NO_PROPERTY = object()


def _null_test(node: A.UnaryExpression, operand: Fn, comp: LibraryCompiler, scope: Scope) -> Fn | None:
    """`X is null`, `X is true`, `X is false`, `not B` and `X is not null` as one closure each (the
    nullological and logic operators, inline; they never fail, and an operand's error is located here as
    the general unary closure would)."""
    test: Callable[[Any], Any]
    if isinstance(node, A.IsNull):
        test = _IS_NULL
    elif isinstance(node, A.IsTrue):
        test = _IS_TRUE
    elif isinstance(node, A.IsFalse):
        test = _IS_FALSE
    elif isinstance(node.operand, A.IsNull):
        inner_node = node.operand
        inner = comp.fn(inner_node.operand, scope)

        def is_not_null(rt: Runtime) -> Any:
            try:
                return inner(rt) is not None
            except CqlEvaluationError as exc:
                locate(exc, inner_node)
                raise

        return is_not_null
    else:
        test = logic.not_

    if test is _IS_NULL:
        def is_null(rt: Runtime) -> Any:
            try:
                return operand(rt) is None
            except CqlEvaluationError as exc:
                locate(exc, node)
                raise

        return is_null

    def one_test(rt: Runtime) -> Any:
        try:
            return test(operand(rt))
        except CqlEvaluationError as exc:
            locate(exc, node)
            raise

    return one_test


def _IS_NULL(value: Any) -> bool:
    return value is None


def _IS_TRUE(value: Any) -> bool:
    return value is True


def _IS_FALSE(value: Any) -> bool:
    return value is False


def _string_literal_set(node: A.Expression) -> frozenset[str] | None:
    """The values of a list selector made only of String literals (`{'a', 'b'}`), else None."""
    if not isinstance(node, A.ListSelector) or not node.elements:
        return None
    values: list[str] = []
    for element in node.elements:
        if not (isinstance(element, A.Literal) and element.value_type == "String" and isinstance(element.value, str)):
            return None
        values.append(element.value)
    return frozenset(values)


def _typed_alias_reader(model: Any, alias_type: str | None, path: str, slot: int,
                        general: Callable[[Any, Runtime], Any]) -> Fn | None:
    """`Alias.path` for an alias statically typed as a FHIR resource (`O.status` over `[Observation] O`).

    For a dict of that resourceType it applies the element's JSON key(s) and converter directly, as the
    model's `get_property` would; a CodeableConcept is converted once per JSON object per evaluation (the
    Runtime keeps the object, so its id stays its own). Anything else goes through the general reader."""
    keys_of = getattr(model, "element_keys", None)
    found = keys_of(alias_type, path) if keys_of is not None and alias_type else None
    if found is None:
        return None
    resource_type, keys, is_list = found
    if is_list:
        return None
    if len(keys) == 1:
        key, convert = keys[0]
        plain_string = convert is fhirmodel.STRING_CONVERTER
        concept = convert is fhirmodel.to_concept

        def typed_property(rt: Runtime) -> Any:
            value = rt.vars.get(slot)
            if type(value) is dict and value.get("resourceType") == resource_type:
                raw = value.get(key)
                if raw is None:
                    return None
                kind = type(raw)
                if kind is str and plain_string:
                    return raw
                if kind is dict and concept:
                    hit = rt.conversions.get(id(raw))  # `_converted_concept`'s memo, read inline
                    if hit is not None and hit[0] is raw:
                        return hit[1]
                    return _converted_concept(raw, rt)
                if kind is not list:
                    return convert(raw)
            return general(value, rt)

        return typed_property

    def typed_choice(rt: Runtime) -> Any:
        value = rt.vars.get(slot)
        if type(value) is dict and value.get("resourceType") == resource_type:
            for key, convert in keys:
                raw = value.get(key)
                if raw is not None:
                    kind = type(raw)
                    if kind is dict and convert is fhirmodel.to_concept:
                        return _converted_concept(raw, rt)
                    if kind is not list:
                        return convert(raw)
                    return general(value, rt)
            return None
        return general(value, rt)

    return typed_choice


def _typed_reader(model: Any, type_name: str, path: str,
                  general: Callable[[Any, Runtime], Any]) -> Callable[[Any, Runtime], Any] | None:
    """`value.path` for values statically typed `type_name` (a FHIR resource type) whose element is one
    CodeableConcept (`code` of a retrieved Condition): the Concept is converted once per evaluation."""
    keys_of = getattr(model, "element_keys", None)
    found = keys_of(type_name, path) if keys_of is not None else None
    if found is None:
        return None
    resource_type, keys, is_list = found
    if is_list or len(keys) != 1 or keys[0][1] is not fhirmodel.to_concept:
        return None
    key = keys[0][0]

    def read(value: Any, rt: Runtime) -> Any:
        if type(value) is dict and value.get("resourceType") == resource_type:
            raw = value.get(key)
            if raw is None:
                return None
            if type(raw) is dict:
                return _converted_concept(raw, rt)
        return general(value, rt)

    return read


def _converted_concept(raw: dict[str, Any], rt: Runtime) -> Any:
    """FHIRHelpers.ToConcept of a CodeableConcept JSON object, once per object per evaluation."""
    memo = rt.conversions
    hit = memo.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    content = _concept_content(raw)
    if content is None:
        concept = fhirmodel.to_concept(raw)
    else:
        # Equal content converts to an equal (immutable) Concept: a record repeats its codes (every INR
        # result carries the same coding), so one Concept serves all of them in this evaluation.
        key = ("concept", content)
        concept = rt.cache.get(key)
        if concept is None:
            concept = rt.cache[key] = fhirmodel.to_concept(raw)
    memo[id(raw)] = (raw, concept)
    return concept


_STR_OR_NONE = (str, type(None))


def _concept_content(raw: dict[str, Any]) -> tuple[Any, ...] | None:
    """What `to_concept(raw)` depends on, when every part is a plain String (or absent): else None, and the
    caller converts without sharing (a malformed record value must not meet an 'equal' one of another type)."""
    text = raw.get("text")
    if type(text) not in _STR_OR_NONE:
        return None
    codings = raw.get("coding")
    if not codings:
        return (text,)
    if type(codings) is not list:
        return None
    parts: list[Any] = [text]
    for c in codings:
        if type(c) is not dict:
            return None
        code, system, version, display = c.get("code"), c.get("system"), c.get("version"), c.get("display")
        if type(code) not in _STR_OR_NONE or type(system) not in _STR_OR_NONE \
                or type(version) not in _STR_OR_NONE or type(display) not in _STR_OR_NONE:
            return None
        parts.append((code, system, version, display))
    return tuple(parts)


def _direct_system_readers(path: str, *, with_model: bool) -> dict[type, Callable[[Any], Any]]:
    """Readers of `path` on exact System classes, giving what `_system_property` (and, with a model, the
    model's navigation of FHIR names on converted values: `C.coding`, `Q.code`, `P.start`) gives."""
    readers: dict[type, Callable[[Any], Any]] = {Tuple: lambda v: v._items.get(path)}
    if path in ("code", "system", "version", "display"):
        readers[Code] = _ATTR[path]
    if path == "codes" or (with_model and path == "coding"):
        readers[Concept] = lambda v: list(v.codes)
    elif path == "display" or (with_model and path == "text"):
        readers[Concept] = lambda v: v.display
    if path == "value":
        readers[Quantity] = lambda v: v.value
    elif path == "unit" or (with_model and path == "code"):
        readers[Quantity] = lambda v: v.unit
    interval_field = {"low": "low", "high": "high", "lowClosed": "low_closed", "highClosed": "high_closed"}
    if with_model:
        interval_field.update(start="low", end="high")
    if path in interval_field:
        readers[Interval] = _ATTR[interval_field[path]]
    return readers


_ATTR: dict[str, Callable[[Any], Any]] = {
    name: operator.attrgetter(name)
    for name in ("code", "system", "version", "display", "low", "high", "low_closed", "high_closed")
}


def locate(exc: CqlEvaluationError, node: A.Expression) -> None:
    """Name the innermost failing expression (the define wrapper adds library and define)."""
    if exc.expression is None and node.origin is not None:
        exc.expression, exc.line, exc.column = node.origin

# Exact classes of converted values whose FHIR type membership (`x as dateTime`) depends on the class alone.
_CLASS_DECIDED = frozenset({bool, Long, int, Decimal, str, DateTime, Date, Time, Quantity, Ratio, Code, Concept})

# Exact classes for `as`/`is` fast paths (Integer excludes bool and Long, so only exact type matches count).
_SYSTEM_CLASSES: dict[str | None, type] = {
    "Quantity": Quantity, "Decimal": Decimal, "String": str, "Boolean": bool, "Integer": int, "Long": Long,
    "Date": Date, "DateTime": DateTime, "Time": Time, "Code": Code, "Concept": Concept, "Ratio": Ratio,
}


def _system_property(value: Any, path: str) -> Any:
    """A System type's own element (Interval.low, Code.system, Concept.codes...), or _NO_PROPERTY."""
    if isinstance(value, Tuple):
        return value.get(path)
    if isinstance(value, Interval):
        return {"low": value.low, "high": value.high, "lowClosed": value.low_closed,
                "highClosed": value.high_closed}.get(path, _NO_PROPERTY)
    if isinstance(value, Quantity):
        return {"value": value.value, "unit": value.unit}.get(path, _NO_PROPERTY)
    if isinstance(value, Ratio):
        return {"numerator": value.numerator, "denominator": value.denominator}.get(path, _NO_PROPERTY)
    if isinstance(value, Code):
        return {"code": value.code, "system": value.system, "version": value.version,
                "display": value.display}.get(path, _NO_PROPERTY)
    if isinstance(value, Concept):
        return {"codes": list(value.codes), "display": value.display}.get(path, _NO_PROPERTY)
    if isinstance(value, (Date, DateTime, Time)) and path in (
            "year", "month", "day", "hour", "minute", "second", "millisecond"):
        return tm.date_time_component_from(value, path)
    return _NO_PROPERTY
