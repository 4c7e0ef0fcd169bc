"""ENGINE functions: the System function library (Abs, Round, Count, Substring, ToString, DateTime(...), Message, ...)."""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from cds_service.cql import ast as A
from cds_service.cql.errors import CqlEvaluationError, CqlMessageError
from cds_service.cql.operators import aggregate as agg
from cds_service.cql.operators import arithmetic as ar
from cds_service.cql.operators import conversion as conv
from cds_service.cql.operators import intervals as iv
from cds_service.cql.operators import list as lst
from cds_service.cql.operators import nullological as nul
from cds_service.cql.operators import string as st
from cds_service.cql.operators import temporal as tm
from cds_service.cql.types import Code, Concept, Date, DateTime, Quantity, Time, Tuple

if TYPE_CHECKING:
    from cds_service.cql.compiler import Fn, LibraryCompiler, Runtime, Scope

CompileFn = Callable[["LibraryCompiler", list[A.Expression], "Scope"], tuple["Fn", str | None]]


def _simple(impl: Callable[..., Any], arity: int | tuple[int, int], result: str | None = None) -> CompileFn:
    low, high = (arity, arity) if isinstance(arity, int) else arity

    def compile_(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
        if not low <= len(operands) <= high:
            raise comp.error(f"{impl.__name__.strip('_')} takes {low if low == high else f'{low} to {high}'} argument(s), "
                             f"got {len(operands)}")
        fns = [comp.fn(o, scope) for o in operands]
        if len(fns) == 0:
            return (lambda rt: impl()), result
        if len(fns) == 1:
            f0 = fns[0]
            return (lambda rt: impl(f0(rt))), result
        if len(fns) == 2:
            f0, f1 = fns
            return (lambda rt: impl(f0(rt), f1(rt))), result
        return (lambda rt: impl(*[f(rt) for f in fns])), result

    return compile_


def _typed_arg(name: str, impl: Callable[..., Any], arity: int | tuple[int, int], result: str | None,
               check: Callable[[str], bool]) -> CompileFn:
    inner = _simple(impl, arity, result)

    def compile_(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
        if operands:
            _, t = comp.expr(operands[0], scope)
            if t is not None and not check(t):
                raise comp.error(f"{name} is not defined for {t}")
        return inner(comp, operands, scope)

    return compile_


def _list_arg(impl: Callable[..., Any], result: str | None = None, arity: int | tuple[int, int] = 1) -> CompileFn:
    def wrapped(*args: Any) -> Any:
        source = args[0]
        if source is not None and not isinstance(source, list):
            raise CqlEvaluationError(f"{impl.__name__.strip('_')} expects a list")
        return impl(*args)

    wrapped.__name__ = impl.__name__
    return _simple(wrapped, arity, result)


def _coalesce(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
    compiled = [comp.expr(o, scope) for o in operands]
    fns = [c[0] for c in compiled]
    # Statically typed only when every argument has the same known type.
    types = {c[1] for c in compiled}
    typ = types.pop() if len(types) == 1 else None
    if len(fns) == 1:
        f0 = fns[0]

        def coalesce_list(rt: "Runtime") -> Any:
            value = f0(rt)
            if isinstance(value, list):
                return nul.coalesce(value)
            return value

        return coalesce_list, None

    def coalesce(rt: "Runtime") -> Any:
        # Lazily: later arguments are evaluated only while the earlier ones are null (nul.coalesce, inline).
        for f in fns:
            value = f(rt)
            if value is not None:
                return value
        return None

    return coalesce, typ


def _early_stopping(general: CompileFn, fast_name: str) -> CompileFn:
    """First / Last of a query: the scan that stops at the first matching row (cds_service/cql/query.py),
    when the query has that shape; the general list operator otherwise."""

    def compile_(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
        general_fn, typ = general(comp, operands, scope)
        if len(operands) == 1 and isinstance(operands[0], A.Query):
            from cds_service.cql import query

            fast = getattr(query, fast_name)(comp, operands[0], scope, general_fn)
            if fast is not None:
                return fast, typ
        return general_fn, typ

    return compile_


def _clock(kind: str) -> CompileFn:
    def compile_(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
        if operands:
            raise comp.error(f"{kind}() takes no arguments")
        builder = {"Now": tm.now, "Today": tm.today, "TimeOfDay": tm.time_of_day}[kind]
        key = ("clock", kind)

        def clock(rt: "Runtime") -> Any:
            cache = rt.cache
            if key not in cache:
                cache[key] = builder(rt.now)
            return cache[key]

        return clock, {"Now": "DateTime", "Today": "Date", "TimeOfDay": "Time"}[kind]

    return compile_


def _date_ctor(cls: type, max_args: int) -> CompileFn:
    def build(*parts: Any) -> Any:
        if parts[0] is None:
            return None
        values = list(parts)
        # Components after the first null are dropped: DateTime(2012, null, 5) is year precision.
        for i, v in enumerate(values):
            if v is None:
                values = values[:i]
                break
        if cls is DateTime and len(parts) == 8:
            offset = parts[7]
            comps = list(parts[:7])
            for i, v in enumerate(comps):
                if v is None:
                    comps = comps[:i]
                    break
            return DateTime(*comps, offset=Decimal(offset) if offset is not None else None)  # type: ignore[misc]
        return cls(*values)

    build.__name__ = cls.__name__
    return _simple(build, (1, max_args), cls.__name__)


def _message(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
    if len(operands) != 5:
        raise comp.error("Message takes 5 arguments (source, condition, code, severity, message)")
    source, condition, code, severity, message = (comp.fn(o, scope) for o in operands)

    def run(rt: "Runtime") -> Any:
        value = source(rt)
        if condition(rt) is True:
            sev = severity(rt)
            if sev is not None and str(sev).lower() == "error":
                text = message(rt)
                raise CqlMessageError(f"{code(rt)}: {text}" if code(rt) is not None else str(text))
        return value

    return run, None


def _age(unit: str, at: bool) -> CompileFn:
    def compile_(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
        fns = [comp.fn(o, scope) for o in operands]
        precision = unit

        def birth_date(rt: "Runtime") -> Any:
            patients = rt.data.retrieve("Patient")
            if not patients:
                return None
            model = rt.model
            value = model.get_property(patients[0], "birthDate") if model is not None else patients[0].get("birthDate")
            if isinstance(value, str):
                value = conv.to_date(value)
            return value

        if at:
            if len(fns) == 1:
                def age_in_at(rt: "Runtime") -> Any:
                    return _calc_age(birth_date(rt), fns[0](rt), precision)

                return age_in_at, "Integer"
            if len(fns) == 2:
                return (lambda rt: _calc_age(fns[0](rt), fns[1](rt), precision)), "Integer"
        else:
            if len(fns) == 0:
                return (lambda rt: _calc_age(birth_date(rt), tm.today(rt.now), precision)), "Integer"
            if len(fns) == 1:
                return (lambda rt: _calc_age(fns[0](rt), tm.today(rt.now), precision)), "Integer"
        raise comp.error(f"wrong number of arguments for an age function ({len(fns)})")

    return compile_


def _calc_age(birth: Any, as_of: Any, precision: str) -> Any:
    if birth is None or as_of is None:
        return None
    if isinstance(birth, DateTime) and isinstance(as_of, Date):
        as_of = as_of.to_datetime()
    if isinstance(birth, Date) and isinstance(as_of, DateTime) and precision in ("year", "month", "week", "day"):
        as_of = as_of.date_part()
    return tm.duration_between(birth, as_of, precision)


def _interval_fn(impl: Callable[..., Any]) -> CompileFn:
    return _simple(impl, 1)


def _expand(*args: Any) -> Any:
    return iv.expand(args[0], args[1] if len(args) > 1 else None)


def _collapse(*args: Any) -> Any:
    return iv.collapse(args[0], args[1] if len(args) > 1 else None)


def _descendants(value: Any) -> Any:
    if value is None:
        return None
    out: list[Any] = []

    def walk(v: Any) -> None:
        for child in _children(v) or []:
            out.append(child)
            walk(child)

    walk(value)
    return out


def _children(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (Tuple, dict)):
        out: list[Any] = []
        for v in value.values():
            if isinstance(v, list):
                out.extend(v)
            else:
                out.append(v)
        return out
    if isinstance(value, list):
        return list(value)
    if isinstance(value, Code):
        return [value.code, value.system, value.version, value.display]
    if isinstance(value, Concept):
        return [*value.codes, value.display]
    if isinstance(value, Quantity):
        return [value.value, value.unit]
    if isinstance(value, (Date, DateTime, Time)):
        return [c for c in value.components() if c is not None]
    return []


def _to_list(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _length(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, list)):
        raise CqlEvaluationError("Length expects a String or a List")
    return st.length(value)


def _length_compile(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
    if len(operands) != 1:
        raise comp.error("Length takes 1 argument")
    fn, typ = comp.expr(operands[0], scope)
    # The length of a null List is 0; of a null String, null.
    if typ is not None and typ.startswith("List"):
        return (lambda rt: len(fn(rt) or [])), "Integer"
    return (lambda rt: _length(fn(rt))), "Integer"


def _is_string(t: str) -> bool:
    return t in ("String", "Any")


def _in_valueset(comp: "LibraryCompiler", operands: list[A.Expression], scope: "Scope") -> tuple["Fn", str | None]:
    code_fn = comp.fn(operands[0], scope)
    vs_fn = comp.fn(operands[1], scope)

    def in_vs(rt: "Runtime") -> Any:
        return in_valueset(code_fn(rt), vs_fn(rt), rt)

    return in_vs, "Boolean"


def in_valueset(value: Any, vs: Any, rt: "Runtime") -> Any:
    """`code in "ValueSet"` for a Code, Concept, String or list of them."""
    if value is None:
        return None
    if vs is None:
        return None
    resolved = rt.valuesets.resolve(vs["id"]) if isinstance(vs, Tuple) else vs
    if isinstance(value, str):
        return any(c.code == value for c in resolved.codes)
    if isinstance(value, Code):
        return valueset_contains(resolved, value, rt)
    if isinstance(value, Concept):
        for code in value.codes:
            if valueset_contains(resolved, code, rt):
                return True
        return False
    if isinstance(value, list):
        return any(in_valueset(v, vs, rt) is True for v in value)
    raise CqlEvaluationError(f"a {conv.system_type_name(value)} cannot be tested against a value set")


def valueset_contains(valueset: Any, code: Code, rt: "Runtime") -> bool:
    """`valueset.contains(code)`, asked once per value set, system and code in an evaluation: a record
    repeats its codes (every INR result has the same LOINC code), and membership depends on nothing else."""
    if type(code) is not Code:
        return bool(valueset.contains(code))
    system, value, version, display = code.system, code.code, code.version, code.display
    if not ((system is None or type(system) is str) and (value is None or type(value) is str)
            and (version is None or type(version) is str) and (display is None or type(display) is str)):
        # A malformed record value (a number where a code belongs): asked directly, never keyed, so it
        # cannot meet an 'equal' value of another type (1 == True in Python, not in CQL).
        return bool(valueset.contains(code))
    key = ("valueset-contains", id(valueset), system, value, version, display)
    cache = rt.cache
    hit = cache.get(key)
    if hit is not None and hit[0] is valueset:
        return hit[1]  # type: ignore[no-any-return]
    found = bool(valueset.contains(code))
    cache[key] = (valueset, found)  # the value set is kept, so its id is not reused meanwhile
    return found


def _numeric(t: str) -> bool:
    return t in ("Integer", "Long", "Decimal", "Quantity", "Any")


_FIRST = _list_arg(lst.first)
_LAST = _list_arg(lst.last)

SYSTEM_FUNCTIONS: dict[str, CompileFn] = {
    # arithmetic
    "Abs": _typed_arg("Abs", ar.abs_, 1, None, _numeric),
    "Ceiling": _simple(ar.ceiling, 1, "Integer"),
    "Floor": _simple(ar.floor, 1, "Integer"),
    "Truncate": _simple(ar.truncate, 1, "Integer"),
    "Round": _simple(ar.round_, (1, 2), "Decimal"),
    "Ln": _simple(ar.ln, 1, "Decimal"),
    "Exp": _simple(ar.exp, 1, "Decimal"),
    "Log": _simple(ar.log, 2, "Decimal"),
    "Power": _simple(ar.power, 2),
    "Precision": _simple(ar.precision, 1, "Integer"),
    "LowBoundary": _simple(ar.low_boundary, (1, 2)),
    "HighBoundary": _simple(ar.high_boundary, (1, 2)),
    "Successor": _simple(ar.successor, 1),
    "Predecessor": _simple(ar.predecessor, 1),
    "Negate": _simple(ar.negate, 1),
    # aggregates
    "Count": _list_arg(agg.count, "Integer"),
    "Sum": _list_arg(agg.sum_),
    "Min": _list_arg(agg.min_),
    "Max": _list_arg(agg.max_),
    "Avg": _list_arg(agg.avg),
    "Median": _list_arg(agg.median),
    "Mode": _list_arg(agg.mode),
    "StdDev": _list_arg(agg.std_dev, "Decimal"),
    "Variance": _list_arg(agg.variance, "Decimal"),
    "PopulationStdDev": _list_arg(agg.population_std_dev, "Decimal"),
    "PopulationVariance": _list_arg(agg.population_variance, "Decimal"),
    "AllTrue": _list_arg(agg.all_true, "Boolean"),
    "AnyTrue": _list_arg(agg.any_true, "Boolean"),
    "Product": _list_arg(agg.product),
    "GeometricMean": _list_arg(agg.geometric_mean, "Decimal"),
    # nullological
    "Coalesce": _coalesce,
    "IsNull": _simple(nul.is_null, 1, "Boolean"),
    "IsTrue": _simple(nul.is_true, 1, "Boolean"),
    "IsFalse": _simple(nul.is_false, 1, "Boolean"),
    # strings
    "Concatenate": _simple(st.concatenate, (2, 99), "String"),
    "Combine": _simple(st.combine, (1, 2), "String"),
    "Split": _simple(st.split, 2),
    "SplitOnMatches": _simple(st.split_on_matches, 2),
    "Length": _length_compile,
    "Upper": _typed_arg("Upper", st.upper, 1, "String", _is_string),
    "Lower": _typed_arg("Lower", st.lower, 1, "String", _is_string),
    "Indexer": _simple(st.indexer, 2),
    "PositionOf": _simple(st.position_of, 2, "Integer"),
    "LastPositionOf": _simple(st.last_position_of, 2, "Integer"),
    "Substring": _simple(st.substring, (2, 3), "String"),
    "StartsWith": _simple(st.starts_with, 2, "Boolean"),
    "EndsWith": _simple(st.ends_with, 2, "Boolean"),
    "Matches": _simple(st.matches, 2, "Boolean"),
    "ReplaceMatches": _simple(st.replace_matches, 3, "String"),
    # lists
    "Exists": _list_arg(lst.exists, "Boolean"),
    "First": _early_stopping(_FIRST, "compile_first"),
    "Last": _early_stopping(_LAST, "compile_last"),
    "IndexOf": _list_arg(lst.index_of, "Integer", 2),
    "Skip": _list_arg(lst.skip, None, 2),
    "Take": _list_arg(lst.take, None, 2),
    "Tail": _list_arg(lst.tail),
    "Slice": _list_arg(lst.slice_, None, (2, 3)),
    "Flatten": _list_arg(lst.flatten),
    "Distinct": _list_arg(lst.distinct),
    "SingletonFrom": _list_arg(lst.singleton_from),
    "ToList": _simple(_to_list, 1),
    # intervals (function forms)
    "Start": _interval_fn(iv.start),
    "End": _interval_fn(iv.end),
    "Width": _interval_fn(iv.width),
    "Size": _interval_fn(iv.size),
    "PointFrom": _interval_fn(iv.point_from),
    "Expand": _simple(_expand, (1, 2), "List"),
    "Collapse": _simple(_collapse, (1, 2), "List"),
    # types
    "ToBoolean": _simple(conv.to_boolean, 1, "Boolean"),
    "ToInteger": _simple(conv.to_integer, 1, "Integer"),
    "ToLong": _simple(conv.to_long, 1, "Long"),
    "ToDecimal": _simple(conv.to_decimal, 1, "Decimal"),
    "ToString": _simple(conv.to_string, 1, "String"),
    "ToQuantity": _simple(conv.to_quantity, 1, "Quantity"),
    "ToRatio": _simple(conv.to_ratio, 1, "Ratio"),
    "ToDate": _simple(conv.to_date, 1, "Date"),
    "ToDateTime": _simple(conv.to_datetime, 1, "DateTime"),
    "ToTime": _simple(conv.to_time, 1, "Time"),
    "ToConcept": _simple(conv.to_concept, 1, "Concept"),
    "Children": _simple(_children, 1, "List"),
    "Descendants": _simple(_descendants, 1, "List"),
    # date and time
    "Date": _date_ctor(Date, 3),
    "DateTime": _date_ctor(DateTime, 8),
    "Time": _date_ctor(Time, 4),
    "Now": _clock("Now"),
    "Today": _clock("Today"),
    "TimeOfDay": _clock("TimeOfDay"),
    "DateFrom": _simple(tm.date_from, 1, "Date"),
    "TimeFrom": _simple(tm.time_from, 1, "Time"),
    "TimezoneOffsetFrom": _simple(tm.timezone_offset_from, 1, "Decimal"),
    # clinical
    "AgeInYears": _age("year", False), "AgeInMonths": _age("month", False), "AgeInWeeks": _age("week", False),
    "AgeInDays": _age("day", False), "AgeInHours": _age("hour", False), "AgeInMinutes": _age("minute", False),
    "AgeInSeconds": _age("second", False),
    "AgeInYearsAt": _age("year", True), "AgeInMonthsAt": _age("month", True), "AgeInWeeksAt": _age("week", True),
    "AgeInDaysAt": _age("day", True), "AgeInHoursAt": _age("hour", True), "AgeInMinutesAt": _age("minute", True),
    "AgeInSecondsAt": _age("second", True),
    "CalculateAgeInYears": _age("year", False), "CalculateAgeInMonths": _age("month", False),
    "CalculateAgeInDays": _age("day", False),
    "CalculateAgeInYearsAt": _age("year", True), "CalculateAgeInMonthsAt": _age("month", True),
    "CalculateAgeInDaysAt": _age("day", True),
    "InValueSet": _in_valueset,
    # errors and messaging
    "Message": _message,
}

for _target in conv.CONVERTERS:
    SYSTEM_FUNCTIONS[f"ConvertsTo{_target}"] = _simple(
        (lambda target: (lambda v: conv.converts_to(v, target)))(_target), 1, "Boolean"
    )

__all__ = ["SYSTEM_FUNCTIONS", "in_valueset", "valueset_contains"]
