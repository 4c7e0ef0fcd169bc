"""ENGINE operators: CQL Interval operators over Integer, Long, Decimal, Quantity, Date, DateTime and Time points.

Pure functions over `cds_service.cql.types.Interval`; results are True / False / None (unknown) or values.
`precision` (a `Precision` or CQL word such as 'day') applies to date/time points as in `same day as`.

Bounds: a closed null bound is unbounded (the minimum/maximum of the point type; `Interval.point_type`
names the type, so the engine must set it for `Interval[null as Integer, null as Integer]`); an open
null bound is unknown. An unknown start is still known to be at most the end (and an unknown end at
least the start), and the operators use that, so `Interval(null, 5] meets after Interval[11, null)` is
false rather than null. An interval with no point type and no bounds (`Interval[null, null]`) contains
nothing, makes the overlap/meet/set operators null, and in the inclusion operators takes the other
operand's point type (the unbounded interval), as the translator's implicit cast would.

Construction:
    interval(low, high, low_closed=True, high_closed=True, point_type=None) -> Interval | None
        the Interval selector: raises CqlEvaluationError when low > high (e.g. Interval[5, 5)).
Boundaries:
    start(i), end(i), point_from(i), width(i), size(i)
Membership and inclusion (`x` may be a point or an Interval where CQL allows both):
    contains(i, point, precision=None), in_(point, i, precision=None)
    includes(a, b, precision=None), included_in(a, b, precision=None)
    proper_contains(i, point, precision=None), proper_in(point, i, precision=None)
    proper_includes(a, b, precision=None), proper_included_in(a, b, precision=None)
Relations:
    equal(a, b), equivalent(a, b), not_equal(a, b)
    before(a, b, precision=None), after(a, b, precision=None)              (points or intervals)
    same_or_before / on_or_before(a, b, precision=None), same_or_after / on_or_after(...)
    overlaps(a, b, precision=None), overlaps_before(...), overlaps_after(...)
    meets(a, b, precision=None), meets_before(...), meets_after(...)
    starts(a, b, precision=None), ends(a, b, precision=None)
Set operations:
    union(a, b), intersect(a, b), except_(a, b)        (None when the result is not one interval)
    collapse(intervals, per=None) -> list[Interval]
    expand(interval_or_list, per=None) -> list        a single Interval expands to its points; a list of
                                                      Intervals to unit intervals (CQL 1.5 both forms)
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cmp_to_key
from typing import Any, Union

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.operators import temporal
from cds_service.cql.types import equality, ucum
from cds_service.cql.types.guard import guard_module
from cds_service.cql.types.values import Date, DateTime, Interval, Long, Precision, Quantity, Time, point_type_of

__all__ = [
    "interval", "start", "end", "point_from", "width", "size",
    "contains", "in_", "includes", "included_in", "proper_contains", "proper_in",
    "proper_includes", "proper_included_in",
    "equal", "equivalent", "not_equal", "before", "after", "same_or_before", "same_or_after",
    "on_or_before", "on_or_after", "overlaps", "overlaps_before", "overlaps_after",
    "meets", "meets_before", "meets_after", "starts", "ends",
    "union", "intersect", "except_", "collapse", "expand",
]

PrecisionArg = Union[Precision, str, None]
# A boundary as a range of possible values: (lowest, highest); None ends are -inf / +inf.
Range = tuple[Any, Any]


def _and(*values: bool | None) -> bool | None:
    if any(value is False for value in values):
        return False
    if any(value is None for value in values):
        return None
    return True


def _or(*values: bool | None) -> bool | None:
    if any(value is True for value in values):
        return True
    if any(value is None for value in values):
        return None
    return False


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


# --------------------------------------------------------------------------------------------------
# construction and boundaries


def interval(low: Any, high: Any, low_closed: bool = True, high_closed: bool = True,
             point_type: str | None = None) -> Interval:
    """The Interval selector; a start after the end is a run-time error."""
    result = Interval(low, high, low_closed, high_closed, point_type)
    if low is not None and high is not None:
        s, e = start(result), end(result)
        if s is not None and e is not None:
            order = equality.compare(s, e)
            if order is not None and order > 0:
                raise CqlEvaluationError(f"invalid interval: start {s!r} is after end {e!r}")
    return result


def _typed(i: Interval) -> bool:
    return i.point_type is not None


def start(i: Interval | None) -> Any:
    """Start: low, or the successor of an open low; the type minimum for a closed null low; else null."""
    if i is None:
        return None
    if i.low is None:
        if i.low_closed and i.point_type is not None:
            return temporal.min_value(i.point_type)
        return None
    return i.low if i.low_closed else temporal.successor(i.low)


def end(i: Interval | None) -> Any:
    """End: high, or the predecessor of an open high; the type maximum for a closed null high; else null."""
    if i is None:
        return None
    if i.high is None:
        if i.high_closed and i.point_type is not None:
            return temporal.max_value(i.point_type)
        return None
    return i.high if i.high_closed else temporal.predecessor(i.high)


def _start_range(i: Interval) -> Range:
    point = _start_point(i)
    if point is not _UNKNOWN:
        return (point, point)
    e = _end_point(i)
    return (None, None if e is _UNKNOWN else e)


def _end_range(i: Interval) -> Range:
    point = _end_point(i)
    if point is not _UNKNOWN:
        return (point, point)
    s = _start_point(i)
    return (None if s is _UNKNOWN else s, None)


_UNKNOWN = object()


def _start_point(i: Interval) -> Any:
    if i.low is None:
        if i.low_closed and i.point_type is not None:
            if isinstance(i.high, Quantity):
                return Quantity(temporal.DECIMAL_MIN, i.high.unit)
            return temporal.min_value(i.point_type)
        return _UNKNOWN
    return i.low if i.low_closed else temporal.successor(i.low)


def _end_point(i: Interval) -> Any:
    if i.high is None:
        if i.high_closed and i.point_type is not None:
            if isinstance(i.low, Quantity):
                return Quantity(temporal.DECIMAL_MAX, i.low.unit)
            return temporal.max_value(i.point_type)
        return _UNKNOWN
    return i.high if i.high_closed else temporal.predecessor(i.high)


def _point_range(value: Any) -> Range:
    return (value, value)


def _cmp(x: Any, y: Any, precision: PrecisionArg) -> int | None:
    if isinstance(x, (Date, DateTime, Time)) or isinstance(y, (Date, DateTime, Time)):
        return temporal.compare(x, y, precision)
    return equality.compare(x, y)


def _signs(r1: Range, r2: Range, precision: PrecisionArg) -> set[int]:
    """The possible orderings of a value in r1 against a value in r2."""
    everything = {-1, 0, 1}
    lo1, hi1 = r1
    lo2, hi2 = r2
    if lo1 is not None and lo1 is hi1 and lo2 is not None and lo2 is hi2:
        result = _cmp(lo1, lo2, precision)
        return everything if result is None else {result}
    if hi1 is not None and lo2 is not None:
        c = _cmp(hi1, lo2, precision)
        if c is not None and c < 0:
            return {-1}
        if c == 0:
            return {-1, 0}
    if lo1 is not None and hi2 is not None:
        c = _cmp(lo1, hi2, precision)
        if c is not None and c > 0:
            return {1}
        if c == 0:
            return {0, 1}
    return everything


def _lt(r1: Range, r2: Range, precision: PrecisionArg) -> bool | None:
    signs = _signs(r1, r2, precision)
    return True if signs == {-1} else False if -1 not in signs else None


def _le(r1: Range, r2: Range, precision: PrecisionArg) -> bool | None:
    signs = _signs(r1, r2, precision)
    return True if signs <= {-1, 0} else False if not signs & {-1, 0} else None


def _eq(r1: Range, r2: Range, precision: PrecisionArg) -> bool | None:
    signs = _signs(r1, r2, precision)
    return True if signs == {0} else False if 0 not in signs else None


def point_from(i: Interval | None) -> Any:
    """PointFrom: the single point of a unit interval; a run-time error otherwise."""
    if i is None:
        return None
    s, e = start(i), end(i)
    if s is None or e is None or equality.equal(s, e) is not True:
        raise CqlEvaluationError("point from requires a unit interval")
    return s


def width(i: Interval | None) -> Any:
    """Width: end - start for Integer, Long, Decimal and Quantity intervals (error for dates and times)."""
    if i is None:
        return None
    if i.point_type in ("Date", "DateTime", "Time") or isinstance(i.low, (Date, DateTime, Time)) or isinstance(i.high, (Date, DateTime, Time)):
        raise CqlEvaluationError("width is not defined for date/time intervals")
    s, e = start(i), end(i)
    if s is None or e is None:
        return None
    if isinstance(s, Quantity):
        return ucum.subtract(e, s)
    result = e - s
    return Long(result) if isinstance(s, Long) else result


def size(i: Interval | None) -> Any:
    """Size: the number of points (width plus one step) for numeric and Quantity intervals."""
    w = width(i)
    if w is None:
        return None
    if isinstance(w, Quantity):
        return Quantity(temporal.successor(w.value), w.unit)
    return temporal.successor(w)


# --------------------------------------------------------------------------------------------------
# membership and inclusion


def _is_empty_untyped(i: Interval) -> bool:
    return i.point_type is None and i.low is None and i.high is None


def contains(i: Interval | None, point: Any, precision: PrecisionArg = None) -> bool | None:
    """`i contains point`: false for a null interval, null for a null point."""
    if i is None:
        return False
    if point is None:
        return None
    if _is_empty_untyped(i):
        return False
    p = _point_range(point)
    return _and(_le(_start_range(i), p, precision), _le(p, _end_range(i), precision))


def in_(point: Any, i: Interval | None, precision: PrecisionArg = None) -> bool | None:
    """`point in i`."""
    return contains(i, point, precision)


def proper_contains(i: Interval | None, point: Any, precision: PrecisionArg = None) -> bool | None:
    """`i properly includes point`: strictly after the start and strictly before the end."""
    if i is None:
        return False
    if point is None:
        return None
    if _is_empty_untyped(i):
        return False
    p = _point_range(point)
    return _and(_lt(_start_range(i), p, precision), _lt(p, _end_range(i), precision))


def proper_in(point: Any, i: Interval | None, precision: PrecisionArg = None) -> bool | None:
    return proper_contains(i, point, precision)


def _adopt_type(a: Interval, b: Interval) -> Interval:
    """`Interval[null, null]` against a typed interval in an inclusion test: the translator would cast
    the null bounds to the other operand's point type, making it the unbounded interval of that type."""
    if _is_empty_untyped(a) and a.low_closed and a.high_closed and b.point_type is not None:
        return Interval(None, None, True, True, b.point_type)
    return a


def includes(a: Interval | None, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a includes b` (b an Interval, or a point meaning `contains`)."""
    if a is None or b is None:
        return None
    if not isinstance(b, Interval):
        return contains(a, b, precision)
    a, b = _adopt_type(a, b), _adopt_type(b, a)
    return _and(_le(_start_range(a), _start_range(b), precision), _le(_end_range(b), _end_range(a), precision))


def included_in(a: Any, b: Interval | None, precision: PrecisionArg = None) -> bool | None:
    """`a included in b` (a an Interval, or a point meaning `in`)."""
    if a is None or b is None:
        return None
    if not isinstance(a, Interval):
        return in_(a, b, precision)
    return includes(b, a, precision)


def proper_includes(a: Interval | None, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a properly includes b`: includes and is not equal (b may be a point)."""
    if a is None or b is None:
        return None
    if not isinstance(b, Interval):
        return proper_contains(a, b, precision)
    a, b = _adopt_type(a, b), _adopt_type(b, a)
    return _and(includes(a, b, precision), _not(_interval_equal(a, b, precision)))


def proper_included_in(a: Any, b: Interval | None, precision: PrecisionArg = None) -> bool | None:
    if a is None or b is None:
        return None
    if not isinstance(a, Interval):
        return proper_in(a, b, precision)
    return proper_includes(b, a, precision)


# --------------------------------------------------------------------------------------------------
# relations


def _interval_equal(a: Interval, b: Interval, precision: PrecisionArg = None) -> bool | None:
    return _and(_eq(_start_range(a), _start_range(b), precision), _eq(_end_range(a), _end_range(b), precision))


def equal(a: Interval | None, b: Interval | None) -> bool | None:
    """`=`: same start and same end (closedness normalised through successor/predecessor)."""
    if a is None or b is None:
        return None
    return _interval_equal(a, b)


def not_equal(a: Interval | None, b: Interval | None) -> bool | None:
    return _not(equal(a, b))


def equivalent(a: Interval | None, b: Interval | None) -> bool:
    """`~`: both null, or starts and ends equivalent."""
    if a is None or b is None:
        return a is None and b is None
    return equality.equivalent(start(a), start(b)) and equality.equivalent(end(a), end(b))


def _as_range_pair(x: Any) -> tuple[Range, Range]:
    if isinstance(x, Interval):
        return _start_range(x), _end_range(x)
    return _point_range(x), _point_range(x)


def before(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a before b`: a ends before b starts (either may be a point)."""
    if a is None or b is None:
        return None
    if not isinstance(a, Interval) and not isinstance(b, Interval):
        return temporal.before(a, b, precision) if isinstance(a, (Date, DateTime, Time)) else _lt(_point_range(a), _point_range(b), None)
    _, end_a = _as_range_pair(a)
    start_b, _ = _as_range_pair(b)
    return _lt(end_a, start_b, precision)


def after(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a after b`: a starts after b ends (either may be a point)."""
    if a is None or b is None:
        return None
    if not isinstance(a, Interval) and not isinstance(b, Interval):
        return temporal.after(a, b, precision) if isinstance(a, (Date, DateTime, Time)) else _lt(_point_range(b), _point_range(a), None)
    start_a, _ = _as_range_pair(a)
    _, end_b = _as_range_pair(b)
    return _lt(end_b, start_a, precision)


def same_or_before(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a on or before b` / `a same or before b`: a ends no later than b starts."""
    if a is None or b is None:
        return None
    _, end_a = _as_range_pair(a)
    start_b, _ = _as_range_pair(b)
    return _le(end_a, start_b, precision)


def same_or_after(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a on or after b` / `a same or after b`: a starts no earlier than b ends."""
    if a is None or b is None:
        return None
    start_a, _ = _as_range_pair(a)
    _, end_b = _as_range_pair(b)
    return _le(end_b, start_a, precision)


on_or_before = same_or_before
on_or_after = same_or_after


def overlaps(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a overlaps b`: they share at least one point."""
    if a is None or b is None:
        return None
    start_a, end_a = _as_range_pair(a)
    start_b, end_b = _as_range_pair(b)
    return _and(_le(start_a, end_b, precision), _le(start_b, end_a, precision))


def overlaps_before(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a overlaps before b`: a starts before b starts and they overlap."""
    if a is None or b is None:
        return None
    start_a, _ = _as_range_pair(a)
    start_b, _ = _as_range_pair(b)
    return _and(_lt(start_a, start_b, precision), overlaps(a, b, precision))


def overlaps_after(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a overlaps after b`: a ends after b ends and they overlap."""
    if a is None or b is None:
        return None
    _, end_a = _as_range_pair(a)
    _, end_b = _as_range_pair(b)
    return _and(_lt(end_b, end_a, precision), overlaps(a, b, precision))


def _successor_range(r: Range, precision: PrecisionArg) -> Range:
    lo, hi = r
    step_lo = _step_at(lo, precision, 1) if lo is not None else None
    step_hi = step_lo if hi is lo else (_step_at(hi, precision, 1) if hi is not None else None)
    return (step_lo, step_hi)


def _step_at(value: Any, precision: PrecisionArg, direction: int) -> Any:
    """Successor at a precision: for date/time values the step is one unit of `precision`."""
    if precision is not None and isinstance(value, (Date, DateTime, Time)):
        wanted = Precision.parse(precision)
        truncated = temporal.truncate_to(value, wanted)
        return temporal.add(truncated, Quantity(Decimal(direction), wanted.cql_name))
    try:
        return temporal.successor(value) if direction > 0 else temporal.predecessor(value)
    except CqlEvaluationError:
        return None


def meets_before(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a meets before b`: the successor of a's end is b's start."""
    if a is None or b is None:
        return None
    _, end_a = _as_range_pair(a)
    start_b, _ = _as_range_pair(b)
    return _eq(_successor_range(end_a, precision), start_b, precision)


def meets_after(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a meets after b`: the successor of b's end is a's start."""
    if a is None or b is None:
        return None
    return meets_before(b, a, precision)


def meets(a: Any, b: Any, precision: PrecisionArg = None) -> bool | None:
    """`a meets b`: meets before or meets after."""
    if a is None or b is None:
        return None
    return _or(meets_before(a, b, precision), meets_after(a, b, precision))


def starts(a: Interval | None, b: Interval | None, precision: PrecisionArg = None) -> bool | None:
    """`a starts b`: same start, and a ends within b."""
    if a is None or b is None:
        return None
    return _and(_eq(_start_range(a), _start_range(b), precision), _le(_end_range(a), _end_range(b), precision))


def ends(a: Interval | None, b: Interval | None, precision: PrecisionArg = None) -> bool | None:
    """`a ends b`: a starts within b, and the same end."""
    if a is None or b is None:
        return None
    return _and(_le(_start_range(b), _start_range(a), precision), _eq(_end_range(a), _end_range(b), precision))


# --------------------------------------------------------------------------------------------------
# set operations


def _pick_low(a: Interval, b: Interval, want_smaller: bool) -> tuple[Any, bool]:
    """The low bound (value, closed) of the interval whose start is smaller (or larger); unknown -> (None, False)."""
    order = _signs(_start_range(a), _start_range(b), None)
    if order == {0}:
        if want_smaller:
            return (a.low, a.low_closed) if a.low_closed or not b.low_closed else (b.low, b.low_closed)
        return (a.low, a.low_closed) if not a.low_closed or b.low_closed else (b.low, b.low_closed)
    if order <= {-1, 0}:
        return (a.low, a.low_closed) if want_smaller else (b.low, b.low_closed)
    if order <= {0, 1}:
        return (b.low, b.low_closed) if want_smaller else (a.low, a.low_closed)
    if want_smaller and (a.low is None and a.low_closed or b.low is None and b.low_closed):
        return (None, True)
    return (None, False)


def _pick_high(a: Interval, b: Interval, want_larger: bool) -> tuple[Any, bool]:
    order = _signs(_end_range(a), _end_range(b), None)
    if order == {0}:
        if want_larger:
            return (a.high, a.high_closed) if a.high_closed or not b.high_closed else (b.high, b.high_closed)
        return (a.high, a.high_closed) if not a.high_closed or b.high_closed else (b.high, b.high_closed)
    if order <= {0, 1}:
        return (a.high, a.high_closed) if want_larger else (b.high, b.high_closed)
    if order <= {-1, 0}:
        return (b.high, b.high_closed) if want_larger else (a.high, a.high_closed)
    if want_larger and (a.high is None and a.high_closed or b.high is None and b.high_closed):
        return (None, True)
    return (None, False)


def _point_type(a: Interval, b: Interval) -> str | None:
    return a.point_type or b.point_type


def union(a: Interval | None, b: Interval | None) -> Interval | None:
    """`a union b`: one interval covering both when they overlap or meet; otherwise null."""
    if a is None or b is None:
        return None
    joined = _or(overlaps(a, b), meets(a, b))
    if joined is not True:
        return None
    low, low_closed = _pick_low(a, b, True)
    high, high_closed = _pick_high(a, b, True)
    return Interval(low, high, low_closed, high_closed, _point_type(a, b))


def intersect(a: Interval | None, b: Interval | None) -> Interval | None:
    """`a intersect b`: the shared part; null when they do not overlap (or it is unknown)."""
    if a is None or b is None:
        return None
    if overlaps(a, b) is not True:
        return None
    low, low_closed = _pick_low(a, b, False)
    high, high_closed = _pick_high(a, b, False)
    return Interval(low, high, low_closed, high_closed, _point_type(a, b))


def except_(a: Interval | None, b: Interval | None) -> Interval | None:
    """`a except b`: a without b; null when the result would be two intervals or cannot be known."""
    if a is None or b is None:
        return None
    if _is_empty_untyped(a) or _is_empty_untyped(b):
        return None
    overlap = overlaps(a, b)
    if overlap is False:
        return a
    if overlap is None:
        return None
    start_a, end_a = _start_range(a), _end_range(a)
    start_b, end_b = _start_range(b), _end_range(b)
    b_starts_first = _le(start_b, start_a, None)
    b_ends_last = _le(end_a, end_b, None)
    if b_starts_first is None or b_ends_last is None:
        return None
    if b_starts_first and b_ends_last:
        return None
    if not b_starts_first and not b_ends_last:
        return None
    if b_starts_first:
        new_low = temporal.successor(end(b))
        return Interval(new_low, a.high, True, a.high_closed, a.point_type or b.point_type)
    new_high = temporal.predecessor(start(b))
    return Interval(a.low, new_high, a.low_closed, True, a.point_type or b.point_type)


def _per_step(sample: Any, per: Any) -> tuple[Precision | None, Any]:
    """(precision, step quantity or number) for collapse/expand; per None means one unit of the point."""
    if isinstance(sample, (Date, DateTime, Time)):
        if per is None:
            return sample.precision, Quantity(Decimal(1), sample.precision.cql_name)
        if not isinstance(per, Quantity):
            raise CqlEvaluationError("per for date/time intervals must be a time quantity")
        unit = ucum.calendar_precision(per.unit)
        if unit is None:
            raise CqlEvaluationError(f"per unit {per.unit!r} is not a time unit")
        if unit is Precision.WEEK:
            return Precision.DAY, Quantity(per.value * 7, "days")
        return unit, per
    if isinstance(sample, Quantity):
        if per is None:
            return None, Quantity(Decimal(1), sample.unit)
        return None, per if isinstance(per, Quantity) else Quantity(Decimal(per), sample.unit)
    if per is None:
        return None, 1
    if isinstance(per, Quantity):
        value = per.value
        if isinstance(sample, int) and value == value.to_integral_value():
            return None, int(value)
        return None, value
    return None, per


def _add_step(value: Any, step: Any) -> Any:
    if isinstance(value, (Date, DateTime, Time)):
        return temporal.add(value, step)
    if isinstance(value, Quantity):
        return ucum.add(value, step)
    if isinstance(value, int) and isinstance(step, Decimal):
        return Decimal(value) + step
    return value + step


def collapse(intervals: Sequence[Interval | None] | None, per: Any = None) -> list[Interval] | None:
    """collapse: merge overlapping or meeting intervals (gaps up to `per` also merge); nulls are dropped."""
    if intervals is None:
        return None
    items = [i for i in intervals if i is not None and not _is_empty_untyped(i)]
    if not items:
        return []

    def by_start(x: Interval, y: Interval) -> int:
        signs = _signs(_start_range(x), _start_range(y), None)
        return -1 if signs == {-1} else 1 if signs == {1} else 0

    items.sort(key=cmp_to_key(by_start))
    merged: list[Interval] = [items[0]]
    for item in items[1:]:
        current = merged[-1]
        touching = _or(overlaps(current, item), meets(current, item))
        if touching is not True and per is not None:
            end_current = end(current)
            if end_current is not None and start(item) is not None:
                _, step = _per_step(end_current, per)
                reach = _add_step(end_current, step)
                touching = _le(_start_range(item), _point_range(reach), None)
        if touching is True:
            high, high_closed = _pick_high(current, item, True)
            merged[-1] = Interval(current.low, high, current.low_closed, high_closed, _point_type(current, item))
        else:
            merged.append(item)
    return merged


def _precision_rank(sample: Any) -> Precision | None:
    return sample.precision if isinstance(sample, (Date, DateTime, Time)) else None


def _unit_intervals(i: Interval, per: Any) -> list[tuple[Any, Any]]:
    s, e = start(i), end(i)
    if s is None or e is None:
        return []
    precision, step = _per_step(s, per)
    if precision is not None:
        if precision is Precision.WEEK:
            precision = Precision.DAY
        point_precision = _precision_rank(s)
        if point_precision is not None and precision > point_precision:
            return []
        s = temporal.truncate_to(s, precision)
        e = temporal.truncate_to(e, precision)
    result: list[tuple[Any, Any]] = []
    point = s
    guard = 0
    while point is not None and equality.compare(point, e) is not None and equality.compare(point, e) <= 0:  # type: ignore[operator]
        following = _add_step(point, step)
        last: Any
        if precision is not None:
            last = temporal.add(following, Quantity(Decimal(-1), precision.cql_name))
        elif isinstance(point, Quantity):
            last = ucum.subtract(following, Quantity(_unit_step(point.value, step.value), point.unit))
        else:
            last = following - _unit_step(point, step)
        if equality.compare(last, e) is None or equality.compare(last, e) > 0:  # type: ignore[operator]
            break
        result.append((point, last))
        point = following
        guard += 1
        if guard > 100_000:
            raise CqlEvaluationError("expand would produce more than 100000 intervals")
    return result


def _unit_step(point: Any, step: Any) -> Any:
    """The smallest increment at the precision of `step` (1 for integers, 0.1 for a per of 0.5 ...)."""
    if isinstance(step, int) and isinstance(point, int):
        return 1
    exponent = Decimal(step).as_tuple().exponent
    scale = -int(exponent) if isinstance(exponent, int) and exponent < 0 else 0
    return Decimal(1).scaleb(-scale)


def expand(value: Interval | Sequence[Interval | None] | None, per: Any = None) -> list[Any] | None:
    """expand: a single Interval -> its points every `per`; a list of Intervals -> unit intervals."""
    if value is None:
        return None
    if isinstance(value, Interval):
        return [first for first, _ in _unit_intervals(value, per)]
    result: list[Any] = []
    for item in value:
        if item is None:
            continue
        for first, last in _unit_intervals(item, per):
            result.append(Interval(first, last, True, True, item.point_type or point_type_of(first)))
    collapsed: list[Any] = []
    for interval_item in result:
        if not any(equality.equal(interval_item, seen) is True for seen in collapsed):
            collapsed.append(interval_item)
    return collapsed


guard_module(globals(), __all__)
