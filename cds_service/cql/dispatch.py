"""ENGINE dispatch: maps ELM operator nodes to operator functions, choosing list/interval/point forms by operand type."""
from __future__ import annotations

from typing import Any, Callable

from cds_service.cql import logic
from cds_service.cql.errors import CqlEvaluationError, CqlSemanticError
from cds_service.cql.operators import arithmetic as ar
from cds_service.cql.operators import comparison as cmp
from cds_service.cql.operators import intervals as iv
from cds_service.cql.operators import list as lst
from cds_service.cql.operators import nullological as nul
from cds_service.cql.operators import temporal as tm
from cds_service.cql.types import Date, DateTime, Interval, Time
from cds_service.cql.types import uncertainty as unc
from cds_service.cql.types.equality import equivalent

Impl = Callable[..., Any]
TEMPORAL = (Date, DateTime, Time)


UNARY: dict[str, tuple[Callable[[Any], Any], str | None]] = {
    "Negate": (ar.negate, None),
    "Not": (logic.not_, "Boolean"),
    "Exists": (lambda v: lst.exists(v) if isinstance(v, list) or v is None else _not_list("exists", v), "Boolean"),
    "IsNull": (nul.is_null, "Boolean"),
    "IsTrue": (nul.is_true, "Boolean"),
    "IsFalse": (nul.is_false, "Boolean"),
    "Start": (iv.start, None),
    "End": (iv.end, None),
    "Width": (iv.width, None),
    "Size": (iv.size, None),
    "Successor": (ar.successor, None),
    "Predecessor": (ar.predecessor, None),
    "SingletonFrom": (lst.singleton_from, None),
    "PointFrom": (iv.point_from, None),
    "Distinct": (lst.distinct, None),
    "Flatten": (lst.flatten, None),
    "DateFrom": (tm.date_from, "Date"),
    "TimeFrom": (tm.time_from, "Time"),
    "TimezoneOffsetFrom": (tm.timezone_offset_from, "Decimal"),
}


def _not_list(op: str, value: Any) -> Any:
    raise CqlEvaluationError(f"{op} expects a list")


def _concatenate(a: Any, b: Any) -> Any:
    # `&` treats null as the empty string.
    return ("" if a is None else a) + ("" if b is None else b)


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return ar.add(a, b)


def _uncertain_arith(op: Callable[[Any, Any], Any], uncertain: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """`op`, delegating to types.uncertainty when an operand is an uncertain Integer (an Interval)."""

    def run(a: Any, b: Any) -> Any:
        if type(a) is Interval or type(b) is Interval:
            return uncertain(a, b)
        return op(a, b)

    return run


def _coll_kind(a: Any, b: Any, lt: str | None, rt: str | None) -> str | None:
    for v in (a, b):
        if isinstance(v, Interval):
            return "interval"
        if isinstance(v, list):
            return "list"
    for t in (lt, rt):
        if t and t.startswith("Interval"):
            return "interval"
        if t and t.startswith("List"):
            return "list"
    return None


def _point_or_interval(interval_fn: Impl, point_fn: Impl | None, precision: str | None) -> Impl:
    def op(a: Any, b: Any) -> Any:
        if isinstance(a, Interval) or isinstance(b, Interval) or point_fn is None:
            return interval_fn(a, b, precision)
        if a is None or b is None:
            return None
        if isinstance(a, TEMPORAL):
            return point_fn(a, b, precision)
        return interval_fn(a, b, precision)

    return op


def _set_op(list_fn: Impl, interval_fn: Impl) -> Callable[[str | None, str | None], Impl]:
    def make(lt: str | None, rt: str | None) -> Impl:
        def op(a: Any, b: Any) -> Any:
            kind = _coll_kind(a, b, lt, rt)
            if kind == "interval":
                if a is None or b is None:
                    return None
                return interval_fn(a, b)
            if a is None and b is None:
                return None
            return list_fn(a, b)

        return op

    return make


def binary_impl(name: str, precision: str | None, lt: str | None, rt: str | None, compiler: Any) -> tuple[Impl, str | None]:
    """The function for a binary ELM operator, checking operand types where they are known statically."""
    _check_types(name, lt, rt, compiler)
    numeric = ("Integer", "Long", "Decimal")
    if name == "Add":
        return _uncertain_arith(_add, unc.add), _arith_type(lt, rt)
    if name == "Subtract":
        return _uncertain_arith(ar.subtract, unc.subtract), _arith_type(lt, rt)
    if name == "Multiply":
        return _uncertain_arith(ar.multiply, unc.multiply), _arith_type(lt, rt)
    if name == "Divide":
        return ar.divide, "Quantity" if "Quantity" in (lt, rt) else "Decimal"
    if name == "TruncatedDivide":
        return ar.truncated_divide, _arith_type(lt, rt)
    if name == "Modulo":
        return ar.modulo, _arith_type(lt, rt)
    if name == "Power":
        return ar.power, _arith_type(lt, rt) if lt in numeric and rt in numeric else None
    if name == "Concatenate":
        return _concatenate, "String"
    if name == "Equal":
        return cmp.equal_, "Boolean"
    if name == "NotEqual":
        return cmp.not_equal_, "Boolean"
    if name == "Equivalent":
        return equivalent, "Boolean"
    if name == "NotEquivalent":
        return (lambda a, b: not equivalent(a, b)), "Boolean"
    if name == "Less":
        return cmp.less, "Boolean"
    if name == "LessOrEqual":
        return cmp.less_or_equal, "Boolean"
    if name == "Greater":
        return cmp.greater, "Boolean"
    if name == "GreaterOrEqual":
        return cmp.greater_or_equal, "Boolean"
    if name == "Xor":
        return logic.xor, "Boolean"
    if name in ("And", "Or", "Implies"):
        return {"And": logic.and_, "Or": logic.or_, "Implies": logic.implies}[name], "Boolean"
    if name == "Union":
        return _set_op(lst.union, iv.union)(lt, rt), lt or rt
    if name == "Intersect":
        return _set_op(lst.intersect, iv.intersect)(lt, rt), lt or rt
    if name == "Except":
        return _set_op(lst.except_, iv.except_)(lt, rt), lt or rt
    if name == "In":
        return _membership(lst.in_, iv.in_, precision, collection_right=True, lt=lt, rt=rt), "Boolean"
    if name == "Contains":
        return _membership(lambda a, b: lst.contains(a, b), iv.contains, precision, collection_right=False, lt=lt, rt=rt), "Boolean"
    if name == "ProperIn":
        return _membership(lst.proper_in, iv.proper_in, precision, collection_right=True, lt=lt, rt=rt), "Boolean"
    if name == "ProperContains":
        return _membership(lst.proper_contains, iv.proper_contains, precision, collection_right=False, lt=lt, rt=rt), "Boolean"
    if name == "Includes":
        return _inclusion(lst.includes, iv.includes, precision, lt, rt, collection_left=True), "Boolean"
    if name == "IncludedIn":
        return _inclusion(lst.included_in, iv.included_in, precision, lt, rt, collection_left=False), "Boolean"
    if name == "ProperIncludes":
        return _inclusion(lst.proper_includes, iv.proper_includes, precision, lt, rt, collection_left=True), "Boolean"
    if name == "ProperIncludedIn":
        return _inclusion(lst.proper_included_in, iv.proper_included_in, precision, lt, rt, collection_left=False), "Boolean"
    if name == "Before":
        return _point_or_interval(iv.before, tm.before, precision), "Boolean"
    if name == "After":
        return _point_or_interval(iv.after, tm.after, precision), "Boolean"
    if name == "SameAs":
        return _point_or_interval(_interval_same_as, tm.same_as, precision), "Boolean"
    if name == "SameOrBefore":
        return _point_or_interval(iv.same_or_before, tm.same_or_before, precision), "Boolean"
    if name == "SameOrAfter":
        return _point_or_interval(iv.same_or_after, tm.same_or_after, precision), "Boolean"
    simple = {
        "Meets": iv.meets, "MeetsBefore": iv.meets_before, "MeetsAfter": iv.meets_after,
        "Overlaps": iv.overlaps, "OverlapsBefore": iv.overlaps_before, "OverlapsAfter": iv.overlaps_after,
        "Starts": iv.starts, "Ends": iv.ends,
    }
    if name in simple:
        fn = simple[name]
        return (lambda a, b: fn(a, b, precision)), "Boolean"
    if name == "DurationBetween":
        return (lambda a, b: tm.duration_between(a, b, precision)), "Integer"
    if name == "DifferenceBetween":
        return (lambda a, b: tm.difference_between(a, b, precision)), "Integer"
    if name == "Collapse":
        return iv.collapse, "List"
    if name == "Expand":
        return iv.expand, "List"
    raise CqlSemanticError(f"unsupported operator {name}", compiler.name, compiler.current_define)


def _interval_same_as(a: Any, b: Any, precision: Any = None) -> Any:
    if isinstance(a, Interval) and isinstance(b, Interval):
        if precision is None:
            return iv.equal(a, b)
        return logic.and_(tm.same_as(iv.start(a), iv.start(b), precision), tm.same_as(iv.end(a), iv.end(b), precision))
    return None


def _membership(list_fn: Impl, interval_fn: Impl, precision: str | None, *, collection_right: bool,
                lt: str | None, rt: str | None) -> Impl:
    coll_type = rt if collection_right else lt

    def op(a: Any, b: Any) -> Any:
        coll = b if collection_right else a
        if isinstance(coll, Interval) or (coll is None and coll_type and coll_type.startswith("Interval")):
            return interval_fn(a, b, precision)
        if coll is None and coll_type is None:
            # A null of unknown type: membership in an unknown collection is unknown.
            return None
        return list_fn(a, b)

    return op


def _inclusion(list_fn: Impl, interval_fn: Impl, precision: str | None, lt: str | None, rt: str | None,
               *, collection_left: bool) -> Impl:
    def op(a: Any, b: Any) -> Any:
        kind = _coll_kind(a, b, lt, rt)
        if kind == "interval":
            return interval_fn(a, b, precision)
        if kind == "list":
            return list_fn(a, b)
        return None

    return op


def _arith_type(lt: str | None, rt: str | None) -> str | None:
    if lt is None or rt is None:
        return lt or rt if (lt in ("Date", "DateTime", "Time") or rt in ("Date", "DateTime", "Time")) else None
    if lt in ("Date", "DateTime", "Time"):
        return lt
    if "Quantity" in (lt, rt):
        return "Quantity"
    if "Decimal" in (lt, rt):
        return "Decimal"
    if "Long" in (lt, rt):
        return "Long"
    if lt == rt:
        return lt
    return None


_ARITH_OK = {
    "Integer": {"Integer", "Long", "Decimal", "Quantity"},
    "Long": {"Integer", "Long", "Decimal"},
    "Decimal": {"Integer", "Long", "Decimal", "Quantity"},
    "Quantity": {"Quantity", "Integer", "Decimal"},
    "Date": {"Quantity"},
    "DateTime": {"Quantity"},
    "Time": {"Quantity"},
    "String": {"String"},
}

# Ordering families; Integer/Decimal convert implicitly to Quantity, so numbers and quantities share one.
_COMPARABLE = {
    "Integer": "num", "Long": "num", "Decimal": "num", "Quantity": "num", "String": "str",
    "Date": "dt", "DateTime": "dt", "Time": "time", "Boolean": "bool",
}


def _check_types(name: str, lt: str | None, rt: str | None, compiler: Any) -> None:
    if lt is None or rt is None:
        return
    if name in ("Add", "Subtract", "Multiply", "Divide", "TruncatedDivide", "Modulo", "Power"):
        ok = _ARITH_OK.get(lt)
        if ok is not None and rt not in ok:
            raise CqlSemanticError(f"{name} is not defined for {lt} and {rt}", compiler.name, compiler.current_define)
        if lt == "String" and name != "Add":
            raise CqlSemanticError(f"{name} is not defined for String", compiler.name, compiler.current_define)
        if lt in ("Boolean",) or rt in ("Boolean",):
            raise CqlSemanticError(f"{name} is not defined for Boolean", compiler.name, compiler.current_define)
    if name in ("Less", "LessOrEqual", "Greater", "GreaterOrEqual"):
        a, b = _COMPARABLE.get(lt), _COMPARABLE.get(rt)
        if a is not None and b is not None and a != b:
            raise CqlSemanticError(f"cannot compare {lt} with {rt}", compiler.name, compiler.current_define)
        if lt == "Boolean" or rt == "Boolean":
            raise CqlSemanticError("Booleans cannot be ordered", compiler.name, compiler.current_define)
    if name in ("And", "Or", "Xor", "Implies"):
        for t in (lt, rt):
            if t not in ("Boolean", "Any"):
                raise CqlSemanticError(f"{name} expects Boolean operands, not {t}", compiler.name, compiler.current_define)


__all__ = ["UNARY", "binary_impl"]
