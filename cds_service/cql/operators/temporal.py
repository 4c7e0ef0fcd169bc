"""ENGINE operators: CQL Date and Time operators (comparison at a precision, arithmetic, duration/difference, components).

Pure functions over `cds_service.cql.types` values; null in gives null out unless the spec says otherwise.
`precision` arguments accept a `Precision` or a CQL word ('day', 'days'); None means "the values' own".
Date and DateTime operands may be mixed: the Date is promoted to a DateTime (ToDateTime). A DateTime
with an hour component is normalised to the evaluation's default offset (`types.DEFAULT_OFFSET`) before
comparison or difference; one without an offset already stands in that offset.

Comparison (three-valued: True / False / None when the precisions make the answer unknown):
    compare(a, b, precision=None) -> -1 | 0 | 1 | None
    equal(a, b), equivalent(a, b) (never None), not_equal(a, b)
    less(a, b), less_or_equal(a, b), greater(a, b), greater_or_equal(a, b)
    same_as(a, b, precision=None), same_or_before(a, b, precision=None), same_or_after(a, b, precision=None)
    before(a, b, precision=None), after(a, b, precision=None)
Arithmetic (calendar semantics: months/years clamp the day; finer quantities are converted to the
value's precision and truncated, e.g. Date(2014, 6) - 33 days = @2014-05; errors out of 0001..9999):
    add(value, quantity), subtract(value, quantity)
Between (result Integer, or an Interval[low, high] of Integers when imprecision makes it uncertain):
    duration_between(a, b, precision)       whole periods  ("years between a and b")
    difference_between(a, b, precision)     boundaries crossed ("difference in days between a and b")
Components and conversions:
    date_time_component_from(value, precision) -> int | None
    timezone_offset_from(datetime) -> Decimal   (the default offset when none was given)
    date_from(datetime) -> Date, time_from(datetime) -> Time | None
    precision_of(value) -> Precision; precision_digits(value) -> int   (Precision(@2014) = 4)
    low_boundary(value, digits) / high_boundary(value, digits)          (LowBoundary/HighBoundary)
    truncate_to(value, precision)            (drop components finer than precision)
Point-type helpers (used by interval operators too; raise CqlEvaluationError on overflow):
    successor(x), predecessor(x), min_value(type_name), max_value(type_name)
    for Integer, Long, Decimal, Quantity, Date, DateTime, Time.
Evaluation-clock values: now(ctx_now), today(ctx_now), time_of_day(ctx_now) build Now()/Today()/TimeOfDay()
from the evaluation's fixed timestamp (a python aware datetime).
"""
from __future__ import annotations

import calendar
import datetime as _dt
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from typing import Any, Union

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.types import ucum
from cds_service.cql.types.guard import guard_module
from cds_service.cql.types.values import (
    Date,
    DateTime,
    Interval,
    Long,
    Precision,
    Quantity,
    Time,
    default_offset,
)

__all__ = [
    "compare", "equal", "equivalent", "not_equal", "less", "less_or_equal", "greater", "greater_or_equal",
    "same_as", "same_or_before", "same_or_after", "before", "after",
    "add", "subtract", "duration_between", "difference_between",
    "date_time_component_from", "timezone_offset_from", "date_from", "time_from",
    "precision_of", "precision_digits", "low_boundary", "high_boundary", "truncate_to",
    "successor", "predecessor", "min_value", "max_value",
    "now", "today", "time_of_day", "Temporal",
]

Temporal = Union[Date, DateTime, Time]
PrecisionArg = Union[Precision, str, None]

_DT_PRECISIONS = (Precision.YEAR, Precision.MONTH, Precision.DAY, Precision.HOUR, Precision.MINUTE,
                  Precision.SECOND, Precision.MILLISECOND)
_TIME_PRECISIONS = (Precision.HOUR, Precision.MINUTE, Precision.SECOND, Precision.MILLISECOND)
_MIN_FILL = (1, 1, 1, 0, 0, 0, 0)
_MS = {Precision.WEEK: 604_800_000, Precision.DAY: 86_400_000, Precision.HOUR: 3_600_000,
       Precision.MINUTE: 60_000, Precision.SECOND: 1_000, Precision.MILLISECOND: 1}
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1
DECIMAL_STEP = Decimal("0.00000001")
DECIMAL_MAX = Decimal("99999999999999999999.99999999")
DECIMAL_MIN = -DECIMAL_MAX


def _precision(p: PrecisionArg) -> Precision | None:
    return None if p is None else Precision.parse(p)


# --------------------------------------------------------------------------------------------------
# normalisation


def _promote(a: Any, b: Any) -> tuple[Any, Any]:
    """Date against DateTime: compare as DateTimes (the implicit ToDateTime conversion)."""
    if isinstance(a, DateTime) and type(b) is Date:
        return a, b.to_datetime()
    if isinstance(b, DateTime) and type(a) is Date:
        return a.to_datetime(), b
    return a, b


def _python(parts: tuple[int | None, ...]) -> _dt.datetime:
    """A naive python datetime from DateTime components, missing ones at their minimum."""
    y, mo, d, h, mi, s, ms = (p if p is not None else f for p, f in zip(parts, _MIN_FILL))
    return _dt.datetime(y, mo, d, h, mi, s, ms * 1000)


def _shift(parts: tuple[int | None, ...], hours: Decimal) -> tuple[int | None, ...]:
    """Move DateTime components by `hours`, keeping their precision."""
    try:
        moved = _python(parts) + _dt.timedelta(minutes=int(hours * 60))
    except OverflowError as exc:
        raise CqlEvaluationError("DateTime out of range after timezone normalisation") from exc
    full = (moved.year, moved.month, moved.day, moved.hour, moved.minute, moved.second, moved.microsecond // 1000)
    return tuple(full[i] if parts[i] is not None else None for i in range(7))


def _normalized(value: DateTime) -> tuple[int | None, ...]:
    """Components expressed in the evaluation's default offset (only when the value has a time of day)."""
    if value.hour is None or value.offset is None:
        return value.components()
    target = default_offset()
    if value.offset == target:
        return value.components()
    return _shifted(value, target)


@lru_cache(maxsize=4096)
def _shifted(value: DateTime, target: Decimal) -> tuple[int | None, ...]:
    # FHIR data carries its own offsets while the evaluation clock is usually UTC, so the same record
    # timestamps are normalised again and again on the request path.
    assert value.offset is not None
    return _shift(value.components(), target - value.offset)


def normalized_components(value: DateTime) -> tuple[int | None, ...]:
    """A DateTime's components in the evaluation's default offset (the sort key of equally precise values)."""
    return _normalized(value)


def _parts(value: Temporal) -> tuple[tuple[int | None, ...], tuple[Precision, ...]]:
    if isinstance(value, DateTime):
        return _normalized(value), _DT_PRECISIONS
    if isinstance(value, Date):
        return value.components(), _DT_PRECISIONS[:3]
    if isinstance(value, Time):
        return value.components(), _TIME_PRECISIONS
    raise CqlEvaluationError(f"not a date/time value: {type(value).__name__}")


def _check_kinds(a: Any, b: Any) -> None:
    kind_a = "Time" if isinstance(a, Time) else "Date" if isinstance(a, (Date, DateTime)) else None
    kind_b = "Time" if isinstance(b, Time) else "Date" if isinstance(b, (Date, DateTime)) else None
    if kind_a is None or kind_b is None or kind_a != kind_b:
        raise CqlEvaluationError(f"cannot compare {type(a).__name__} with {type(b).__name__}")


# --------------------------------------------------------------------------------------------------
# comparison


def compare(a: Temporal | None, b: Temporal | None, precision: PrecisionArg = None) -> int | None:
    """Ordering of two date/time values up to `precision`; None when null or the answer is uncertain.

    Components are compared from the coarsest down. If one value stops before the other at a level
    still needed, the answer is unknown (None). Without a precision, two values that stop at the same
    level are equal there.
    """
    if a is None or b is None:
        return None
    a, b = _promote(a, b)
    _check_kinds(a, b)
    wanted = _precision(precision)
    parts_a, levels = _parts(a)
    parts_b, _ = _parts(b)
    if wanted is not None:
        if wanted is Precision.WEEK or wanted not in levels:
            raise CqlEvaluationError(f"precision {wanted.cql_name} does not apply to {type(a).__name__}")
        depth = levels.index(wanted) + 1
    else:
        depth = len(levels)
    for index in range(depth):
        x, y = parts_a[index], parts_b[index]
        if x is None and y is None:
            return 0 if wanted is None else None
        if x is None or y is None:
            return None
        if x != y:
            return -1 if x < y else 1
    return 0


def equal(a: Temporal | None, b: Temporal | None) -> bool | None:
    result = compare(a, b)
    return None if result is None else result == 0


def not_equal(a: Temporal | None, b: Temporal | None) -> bool | None:
    result = equal(a, b)
    return None if result is None else not result


def equivalent(a: Temporal | None, b: Temporal | None) -> bool:
    """`~`: both null -> true; different precisions -> false; otherwise equal (normalised offsets)."""
    if a is None or b is None:
        return a is None and b is None
    a, b = _promote(a, b)
    _check_kinds(a, b)
    if type(a) is not type(b) or a.precision != b.precision:
        return False
    return compare(a, b) == 0


def less(a: Temporal | None, b: Temporal | None) -> bool | None:
    return before(a, b)


def greater(a: Temporal | None, b: Temporal | None) -> bool | None:
    return after(a, b)


def less_or_equal(a: Temporal | None, b: Temporal | None) -> bool | None:
    return same_or_before(a, b)


def greater_or_equal(a: Temporal | None, b: Temporal | None) -> bool | None:
    return same_or_after(a, b)


def same_as(a: Temporal | None, b: Temporal | None, precision: PrecisionArg = None) -> bool | None:
    result = compare(a, b, precision)
    return None if result is None else result == 0


def same_or_before(a: Temporal | None, b: Temporal | None, precision: PrecisionArg = None) -> bool | None:
    result = compare(a, b, precision)
    return None if result is None else result <= 0


def same_or_after(a: Temporal | None, b: Temporal | None, precision: PrecisionArg = None) -> bool | None:
    result = compare(a, b, precision)
    return None if result is None else result >= 0


def before(a: Temporal | None, b: Temporal | None, precision: PrecisionArg = None) -> bool | None:
    result = compare(a, b, precision)
    return None if result is None else result < 0


def after(a: Temporal | None, b: Temporal | None, precision: PrecisionArg = None) -> bool | None:
    result = compare(a, b, precision)
    return None if result is None else result > 0


# --------------------------------------------------------------------------------------------------
# arithmetic


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + months
    new_year, new_month = divmod(total, 12)
    if not 1 <= new_year <= 9999:
        raise CqlEvaluationError(f"date arithmetic result year {new_year} is out of range 1..9999")
    return new_year, new_month + 1


def _truncate_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def _amount_at(quantity: Quantity, target: Precision) -> int:
    """The quantity expressed as a whole number of `target` units (finer units truncate toward zero)."""
    unit = ucum.calendar_precision(quantity.unit)
    if unit is None:
        raise CqlEvaluationError(f"{quantity.unit!r} is not a time unit usable in date/time arithmetic")
    value = quantity.value
    if unit in (Precision.YEAR, Precision.MONTH):
        months = value * 12 if unit is Precision.YEAR else value
        if target is Precision.YEAR:
            return _truncate_int(months / 12)
        if target is Precision.MONTH:
            return _truncate_int(months)
        raise AssertionError("calendar units are applied directly")
    millis = value * _MS[unit]
    if target is Precision.YEAR:
        return _truncate_int(millis / _MS[Precision.DAY] / 365)
    if target is Precision.MONTH:
        return _truncate_int(millis / _MS[Precision.DAY] / 30)
    return _truncate_int(millis / _MS[target])


def _add_datetime_parts(parts: tuple[int | None, ...], precision: Precision, quantity: Quantity) -> tuple[int | None, ...]:
    unit = ucum.calendar_precision(quantity.unit)
    if unit is None:
        raise CqlEvaluationError(f"{quantity.unit!r} is not a time unit usable in date/time arithmetic")
    values = list(parts)
    if precision in (Precision.YEAR, Precision.MONTH) or unit in (Precision.YEAR, Precision.MONTH):
        if precision is Precision.YEAR:
            years = _amount_at(quantity, Precision.YEAR)
            new_year = values[0] + years  # type: ignore[operator]
            if not 1 <= new_year <= 9999:
                raise CqlEvaluationError(f"date arithmetic result year {new_year} is out of range 1..9999")
            values[0] = new_year
            return tuple(values)
        if unit in (Precision.YEAR, Precision.MONTH):
            months = _truncate_int(quantity.value * 12) if unit is Precision.YEAR else _truncate_int(quantity.value)
        else:
            months = _amount_at(quantity, Precision.MONTH)
        year, month = _add_months(values[0], values[1], months)  # type: ignore[arg-type]
        values[0], values[1] = year, month
        if values[2] is not None:
            values[2] = min(values[2], _days_in_month(year, month))
        return tuple(values)
    step = precision if precision is not Precision.WEEK else Precision.DAY
    if _MS[unit] < _MS[step]:
        amount_ms = _amount_at(quantity, step) * _MS[step]
    else:
        amount_ms = _truncate_int(quantity.value) * _MS[unit]
    try:
        moved = _python(tuple(values)) + _dt.timedelta(milliseconds=amount_ms)
    except OverflowError as exc:
        raise CqlEvaluationError("date arithmetic result is out of range 0001..9999") from exc
    full = (moved.year, moved.month, moved.day, moved.hour, moved.minute, moved.second, moved.microsecond // 1000)
    return tuple(full[i] if values[i] is not None else None for i in range(7))


def _add_time(value: Time, quantity: Quantity) -> Time:
    unit = ucum.calendar_precision(quantity.unit)
    if unit is None or unit in (Precision.YEAR, Precision.MONTH, Precision.WEEK, Precision.DAY):
        raise CqlEvaluationError(f"cannot add {quantity.unit!r} to a Time")
    precision = value.precision
    if _MS[unit] < _MS[precision]:
        amount_ms = _amount_at(quantity, precision) * _MS[precision]
    else:
        amount_ms = _truncate_int(quantity.value) * _MS[unit]
    filled = [p if p is not None else 0 for p in value.components()]
    total = (filled[0] * 3_600_000 + filled[1] * 60_000 + filled[2] * 1000 + filled[3] + amount_ms) % _MS[Precision.DAY]
    full = (total // 3_600_000, total // 60_000 % 60, total // 1000 % 60, total % 1000)
    kept = [full[i] if value.components()[i] is not None else None for i in range(4)]
    return Time(*kept)  # type: ignore[arg-type]


def add(value: Temporal | None, quantity: Quantity | None) -> Temporal | None:
    """value + quantity (calendar-duration semantics, result at the value's precision)."""
    if value is None or quantity is None:
        return None
    if not isinstance(quantity, Quantity):
        raise CqlEvaluationError("date/time arithmetic needs a time-valued Quantity")
    if isinstance(value, Time):
        return _add_time(value, quantity)
    if isinstance(value, DateTime):
        parts = _add_datetime_parts(value.components(), value.precision, quantity)
        return DateTime(*parts, offset=value.offset)  # type: ignore[arg-type,misc]
    if isinstance(value, Date):
        parts = _add_datetime_parts(value.components() + (None,) * 4, value.precision, quantity)
        return Date(*parts[:3])  # type: ignore[arg-type]
    raise CqlEvaluationError(f"cannot add a Quantity to {type(value).__name__}")


def subtract(value: Temporal | None, quantity: Quantity | None) -> Temporal | None:
    """value - quantity."""
    if value is None or quantity is None:
        return None
    return add(value, Quantity(-quantity.value, quantity.unit))


# --------------------------------------------------------------------------------------------------
# duration and difference


def _fill(parts: tuple[int | None, ...], depth: int, high: bool, is_time: bool) -> list[int | None]:
    """Fill missing components up to `depth` with their minimum (low) or maximum (high) values."""
    result: list[int | None] = list(parts[:depth]) + [None] * (len(parts) - depth)
    offset = 3 if is_time else 0
    for index in range(depth):
        if result[index] is not None:
            continue
        absolute = index + offset
        if not high:
            result[index] = _MIN_FILL[absolute]
        elif absolute == 1:
            result[index] = 12
        elif absolute == 2:
            result[index] = _days_in_month(result[0], result[1])  # type: ignore[arg-type]
        else:
            result[index] = (23, 59, 59, 999)[absolute - 3]
    return result


def _to_ms(parts: list[int | None], is_time: bool) -> tuple[_dt.datetime, int]:
    """A python datetime (date part) plus milliseconds, from possibly partial components (missing = 0/1)."""
    if is_time:
        h, mi, s, ms = (p or 0 for p in parts)
        return _dt.datetime(2000, 1, 1), h * 3_600_000 + mi * 60_000 + s * 1000 + ms
    y, mo, d, h, mi, s, ms = [p if p is not None else f for p, f in zip(parts, _MIN_FILL)]
    base = _dt.datetime(y, mo, d)
    return base, h * 3_600_000 + mi * 60_000 + s * 1000 + ms


def _total_ms(parts: list[int | None], is_time: bool) -> int:
    base, ms = _to_ms(parts, is_time)
    return (base - _dt.datetime(1, 1, 1)).days * 86_400_000 + ms


def _months_between(a: list[int | None], b: list[int | None]) -> int:
    """Whole calendar months from a to b (day clamping as in addition; finer components considered)."""
    months = (b[0] - a[0]) * 12 + ((b[1] or 1) - (a[1] or 1))  # type: ignore[operator]

    def shifted(n: int) -> int:
        year, month = divmod(a[0] * 12 + (a[1] or 1) - 1 + n, 12)  # type: ignore[operator]
        month += 1
        if not 1 <= year <= 9999:
            return n
        day = min(a[2] or 1, _days_in_month(year, month))
        candidate = [year, month, day] + list(a[3:])
        return _total_ms(candidate, False)

    target = _total_ms(b, False)
    if months > 0 and shifted(months) > target:
        months -= 1
    elif months < 0 and shifted(months) < target:
        months += 1
    return months


def _whole_periods(a: list[int | None], b: list[int | None], precision: Precision, is_time: bool) -> int:
    if precision in (Precision.YEAR, Precision.MONTH):
        months = _months_between(a, b)
        return int(months / 12) if precision is Precision.YEAR else months
    diff = _total_ms(b, is_time) - _total_ms(a, is_time)
    unit = _MS[precision]
    return diff // unit if diff >= 0 else -((-diff) // unit)


def _boundaries(a: list[int | None], b: list[int | None], precision: Precision, is_time: bool) -> int:
    if precision is Precision.YEAR:
        return b[0] - a[0]  # type: ignore[operator]
    if precision is Precision.MONTH:
        return (b[0] - a[0]) * 12 + (b[1] - a[1])  # type: ignore[operator]
    if precision is Precision.WEEK:
        days = _boundaries(a, b, Precision.DAY, is_time)
        return days // 7 if days >= 0 else -((-days) // 7)
    unit = _MS[precision]
    return _total_ms(b, is_time) // unit - _total_ms(a, is_time) // unit


def _between(a: Temporal | None, b: Temporal | None, precision: PrecisionArg, *, difference: bool) -> int | Interval | None:
    if a is None or b is None:
        return None
    a, b = _promote(a, b)
    _check_kinds(a, b)
    wanted = Precision.parse(precision) if precision is not None else None
    if wanted is None:
        raise CqlEvaluationError("duration/difference needs a precision")
    parts_a, levels = _parts(a)
    parts_b, _ = _parts(b)
    is_time = isinstance(a, Time)
    if not is_time:
        parts_a = parts_a + (None,) * (7 - len(parts_a))
        parts_b = parts_b + (None,) * (7 - len(parts_b))
    if is_time and wanted not in _TIME_PRECISIONS:
        raise CqlEvaluationError(f"{wanted.cql_name} does not apply to Time values")
    if difference and wanted is Precision.DAY and not is_time and parts_a[2] is not None and parts_b[2] is not None:
        # The common clinical shape (`difference in days between D and Now()`), both known to the day: the
        # day boundaries crossed are the difference of the calendar days, with no uncertainty to compute.
        return (_dt.date(parts_b[0], parts_b[1], parts_b[2]).toordinal()  # type: ignore[arg-type]
                - _dt.date(parts_a[0], parts_a[1], parts_a[2]).toordinal())  # type: ignore[arg-type]
    level = Precision.DAY if wanted is Precision.WEEK else wanted
    if level not in levels:
        raise CqlEvaluationError(f"{wanted.cql_name} does not apply to {type(a).__name__} values")
    wanted_depth = levels.index(level) + 1
    if difference:
        depth = wanted_depth
    elif is_time:
        # Times: the components both values carry, and at least down to the asked precision.
        common = min(a.precision, b.precision)
        depth = max(wanted_depth, levels.index(common) + 1)
    elif a.precision == b.precision and a.precision >= Precision.DAY:
        # Equally precise to the day or finer: nothing is unknown that the answer depends on.
        depth = levels.index(a.precision) + 1
    else:
        # Whole periods depend on every finer component, so an imprecise value spans from its
        # earliest to its latest possible instant (years between 2005 and 2010 is 4 to 5).
        depth = len(levels)
    measure = _boundaries if difference else _whole_periods
    if None not in parts_a[:depth] and None not in parts_b[:depth]:
        # Both values known down to the depth that matters: no uncertainty, one measurement.
        try:
            return measure(list(parts_a[:depth]) + [None] * (len(parts_a) - depth),
                           list(parts_b[:depth]) + [None] * (len(parts_b) - depth), wanted, is_time)
        except (ValueError, OverflowError) as exc:
            raise CqlEvaluationError(f"cannot compute {wanted.cql_name} between the values: {exc}") from exc
    a_low, a_high = _fill(parts_a, depth, False, is_time), _fill(parts_a, depth, True, is_time)
    b_low, b_high = _fill(parts_b, depth, False, is_time), _fill(parts_b, depth, True, is_time)
    try:
        low = measure(a_high, b_low, wanted, is_time)
        high = measure(a_low, b_high, wanted, is_time)
    except (ValueError, OverflowError) as exc:
        raise CqlEvaluationError(f"cannot compute {wanted.cql_name} between the values: {exc}") from exc
    if low == high:
        return low
    return Interval(min(low, high), max(low, high), True, True, "Integer")


def duration_between(a: Temporal | None, b: Temporal | None, precision: PrecisionArg) -> int | Interval | None:
    """`<precision>s between a and b`: whole periods; an Interval[low, high] when imprecision leaves a range."""
    return _between(a, b, precision, difference=False)


def difference_between(a: Temporal | None, b: Temporal | None, precision: PrecisionArg) -> int | Interval | None:
    """`difference in <precision>s between a and b`: boundaries crossed; Interval when uncertain."""
    depth = CALENDAR_DIFFERENCE.get(precision) if type(precision) is str else None
    if depth is not None and type(a) is DateTime and type(b) is DateTime:
        found = calendar_difference(a, b, depth)
        if found is not None:
            return found
    return _between(a, b, precision, difference=True)


# Precision words whose difference `calendar_difference` computes -> how many components it needs.
CALENDAR_DIFFERENCE: dict[str, int] = {"day": 3, "days": 3, "hour": 4, "hours": 4}


def calendar_difference(a: DateTime, b: DateTime, depth: int) -> int | None:
    """`difference in days/hours between a and b` (depth 3/4) when both are known that far, else None.

    In the evaluation's offset, the boundaries crossed are those between the calendar days (and hours):
    no measurement to fill. (Not guarded: it cannot fail on DateTimes, and the compiler calls it per row.)"""
    # `_normalized`, inline for the usual values: no time of day, no offset, or already the evaluation's.
    target = None
    if a.hour is None or a.offset is None:
        parts_a: tuple[int | None, ...] = (a.year, a.month, a.day, a.hour)
    else:
        target = default_offset()
        parts_a = (a.year, a.month, a.day, a.hour) if a.offset == target else _shifted(a, target)
    if b.hour is None or b.offset is None:
        parts_b: tuple[int | None, ...] = (b.year, b.month, b.day, b.hour)
    else:
        if target is None:
            target = default_offset()
        parts_b = (b.year, b.month, b.day, b.hour) if b.offset == target else _shifted(b, target)
    if parts_a[depth - 1] is None or parts_b[depth - 1] is None:
        return None
    days = (_dt.date(parts_b[0], parts_b[1], parts_b[2]).toordinal()  # type: ignore[arg-type]
            - _dt.date(parts_a[0], parts_a[1], parts_a[2]).toordinal())  # type: ignore[arg-type]
    return days if depth == 3 else days * 24 + parts_b[3] - parts_a[3]  # type: ignore[operator]


# --------------------------------------------------------------------------------------------------
# components and conversions


def date_time_component_from(value: Temporal | None, precision: PrecisionArg) -> int | Date | Time | Decimal | None:
    """`year from x`, ..., `millisecond from x`; also 'date', 'time' and 'timezoneoffset' by name."""
    if value is None:
        return None
    if isinstance(precision, str):
        key = precision.strip().lower()
        if key == "date":
            return date_from(value)  # type: ignore[arg-type]
        if key == "time":
            return time_from(value)  # type: ignore[arg-type]
        if key in ("timezone", "timezoneoffset"):
            return timezone_offset_from(value)  # type: ignore[arg-type]
    wanted = Precision.parse(precision) if precision is not None else None
    if wanted is None or wanted is Precision.WEEK:
        raise CqlEvaluationError("component extraction needs a date/time precision")
    return value.component(wanted)


def timezone_offset_from(value: DateTime | None) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, DateTime):
        raise CqlEvaluationError("timezoneoffset from needs a DateTime")
    return value.effective_offset


def date_from(value: DateTime | Date | None) -> Date | None:
    if value is None:
        return None
    if isinstance(value, Date):
        return value
    return value.date_part()


def time_from(value: DateTime | None) -> Time | None:
    if value is None or value.hour is None:
        return None
    return Time(value.hour, value.minute, value.second, value.millisecond)


def precision_of(value: Temporal) -> Precision:
    return value.precision


def precision_digits(value: Any) -> int | None:
    """Precision(x): digits of a Decimal's scale, or the number of digits of a date/time literal."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else None
    if isinstance(value, Time):
        return {Precision.HOUR: 2, Precision.MINUTE: 4, Precision.SECOND: 6, Precision.MILLISECOND: 9}[value.precision]
    if isinstance(value, (Date, DateTime)):
        return {Precision.YEAR: 4, Precision.MONTH: 6, Precision.DAY: 8, Precision.HOUR: 10, Precision.MINUTE: 12,
                Precision.SECOND: 14, Precision.MILLISECOND: 17}[value.precision]
    raise CqlEvaluationError(f"Precision() does not apply to {type(value).__name__}")


_DIGITS_DT = {4: 1, 6: 2, 8: 3, 10: 4, 12: 5, 14: 6, 17: 7}
_DIGITS_TIME = {2: 1, 4: 2, 6: 3, 9: 4}


def _boundary(value: Temporal | None, digits: int | None, high: bool) -> Temporal | None:
    if value is None:
        return None
    if isinstance(value, Time):
        depth = _DIGITS_TIME.get(digits if digits is not None else 9)
        if depth is None:
            return None
        return Time(*_fill(value.components(), depth, high, True))  # type: ignore[arg-type]
    if isinstance(value, DateTime):
        depth = _DIGITS_DT.get(digits if digits is not None else 17)
        if depth is None:
            return None
        parts = _fill(value.components(), depth, high, False)
        return DateTime(*parts, offset=value.offset)  # type: ignore[arg-type,misc]
    if isinstance(value, Date):
        depth = _DIGITS_DT.get(digits if digits is not None else 8)
        if depth is None or depth > 3:
            return None
        return Date(*_fill(value.components(), depth, high, False))  # type: ignore[arg-type]
    raise CqlEvaluationError(f"boundary functions do not apply to {type(value).__name__}")


def low_boundary(value: Temporal | None, digits: int | None = None) -> Temporal | None:
    """LowBoundary(x, digits): the earliest value x could stand for, at `digits` precision."""
    return _boundary(value, digits, False)


def high_boundary(value: Temporal | None, digits: int | None = None) -> Temporal | None:
    """HighBoundary(x, digits): the latest value x could stand for, at `digits` precision."""
    return _boundary(value, digits, True)


def truncate_to(value: Temporal | None, precision: PrecisionArg) -> Temporal | None:
    """The value without components finer than `precision` (no change when already coarser)."""
    if value is None:
        return None
    wanted = Precision.parse(precision) if precision is not None else None
    if wanted is None:
        return value
    if isinstance(value, Time):
        keep = [c if p <= wanted else None for c, p in zip(value.components(), _TIME_PRECISIONS)]
        if keep[0] is None:
            return value
        return Time(*keep)  # type: ignore[arg-type]
    if isinstance(value, DateTime):
        keep = [c if p <= wanted else None for c, p in zip(value.components(), _DT_PRECISIONS)]
        return DateTime(*keep, offset=value.offset)  # type: ignore[arg-type,misc]
    keep = [c if p <= wanted else None for c, p in zip(value.components(), _DT_PRECISIONS[:3])]
    return Date(*keep)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# successor / predecessor / min / max


def _step(value: Any, direction: int) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        raise CqlEvaluationError("successor/predecessor is not defined for Boolean")
    if isinstance(value, Long):
        result = int(value) + direction
        if not Long.MIN <= result <= Long.MAX:
            raise CqlEvaluationError("Long overflow in successor/predecessor")
        return Long(result)
    if isinstance(value, int):
        result = value + direction
        if not INTEGER_MIN <= result <= INTEGER_MAX:
            raise CqlEvaluationError("Integer overflow in successor/predecessor")
        return result
    if isinstance(value, Decimal):
        result_d = value + direction * DECIMAL_STEP
        if not DECIMAL_MIN <= result_d <= DECIMAL_MAX:
            raise CqlEvaluationError("Decimal overflow in successor/predecessor")
        return result_d
    if isinstance(value, Quantity):
        return Quantity(_step(value.value, direction), value.unit)
    if isinstance(value, Time):
        precision = value.precision
        parts = [c or 0 for c in value.components()]
        total = parts[0] * 3_600_000 + parts[1] * 60_000 + parts[2] * 1000 + parts[3] + direction * _MS[precision]
        if not 0 <= total < _MS[Precision.DAY]:
            raise CqlEvaluationError("Time overflow in successor/predecessor")
        full = (total // 3_600_000, total // 60_000 % 60, total // 1000 % 60, total % 1000)
        return Time(*[full[i] if value.components()[i] is not None else None for i in range(4)])  # type: ignore[arg-type]
    if isinstance(value, (Date, DateTime)):
        precision = value.precision
        unit = {Precision.YEAR: "year", Precision.MONTH: "month", Precision.DAY: "day", Precision.HOUR: "hour",
                Precision.MINUTE: "minute", Precision.SECOND: "second", Precision.MILLISECOND: "millisecond"}[precision]
        try:
            return add(value, Quantity(Decimal(direction), unit))
        except CqlEvaluationError as exc:
            raise CqlEvaluationError(f"{type(value).__name__} overflow in successor/predecessor") from exc
    raise CqlEvaluationError(f"successor/predecessor is not defined for {type(value).__name__}")


def successor(value: Any) -> Any:
    """The next value of the point type at the value's precision (Integer +1, Decimal +1e-8, ...)."""
    return _step(value, 1)


def predecessor(value: Any) -> Any:
    """The previous value of the point type at the value's precision."""
    return _step(value, -1)


def min_value(type_name: str) -> Any:
    """minimum Integer / Long / Decimal / Quantity / Date / DateTime / Time."""
    name = type_name.split(".")[-1]
    values: dict[str, Any] = {
        "Integer": INTEGER_MIN,
        "Long": Long(Long.MIN),
        "Decimal": DECIMAL_MIN,
        "Quantity": Quantity(DECIMAL_MIN, "1"),
        "Date": Date(1, 1, 1),
        "DateTime": DateTime(1, 1, 1, 0, 0, 0, 0),
        "Time": Time(0, 0, 0, 0),
    }
    if name not in values:
        raise CqlEvaluationError(f"minimum is not defined for {type_name}")
    return values[name]


def max_value(type_name: str) -> Any:
    """maximum Integer / Long / Decimal / Quantity / Date / DateTime / Time."""
    name = type_name.split(".")[-1]
    values: dict[str, Any] = {
        "Integer": INTEGER_MAX,
        "Long": Long(Long.MAX),
        "Decimal": DECIMAL_MAX,
        "Quantity": Quantity(DECIMAL_MAX, "1"),
        "Date": Date(9999, 12, 31),
        "DateTime": DateTime(9999, 12, 31, 23, 59, 59, 999),
        "Time": Time(23, 59, 59, 999),
    }
    if name not in values:
        raise CqlEvaluationError(f"maximum is not defined for {type_name}")
    return values[name]


# --------------------------------------------------------------------------------------------------
# evaluation clock


def now(clock: _dt.datetime) -> DateTime:
    """Now(): the evaluation timestamp (fixed for the whole evaluation) with its offset, to the millisecond."""
    if clock.tzinfo is None:
        raise CqlEvaluationError("the evaluation timestamp must be timezone-aware")
    return DateTime.from_python(clock)


def today(clock: _dt.datetime) -> Date:
    """Today(): the date part of Now() in the evaluation's offset."""
    return now(clock).date_part()


def time_of_day(clock: _dt.datetime) -> Time:
    """TimeOfDay(): the time part of Now()."""
    value = now(clock)
    return Time(value.hour or 0, value.minute, value.second, value.millisecond)


guard_module(globals(), __all__)
