"""ENGINE operators: CQL comparison operators (=, !=, <, <=, >, >=) with same-kind fast paths and uncertainty."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from cds_service.cql.types import Interval, Quantity
from cds_service.cql.types import uncertainty as unc
from cds_service.cql.types.equality import compare, equal, not_equal


def fast_compare(a: Any, b: Any) -> int | None:
    """CQL ordering with a fast path for the common same-kind scalars (the request path compares a lot)."""
    ta = type(a)
    if ta is type(b):
        if ta is int or ta is Decimal or ta is str:
            return int((a > b) - (a < b))
        if ta is Quantity and a.unit == b.unit:
            return int((a.value > b.value) - (a.value < b.value))
    elif (ta is int and type(b) is Decimal) or (ta is Decimal and type(b) is int):
        return int((a > b) - (a < b))
    result: int | None = compare(a, b)
    return result


def less(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if type(a) is Interval or type(b) is Interval:
        return unc.less(a, b)
    c = fast_compare(a, b)
    return None if c is None else c < 0


def less_or_equal(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if type(a) is Interval or type(b) is Interval:
        return unc.less_or_equal(a, b)
    c = fast_compare(a, b)
    return None if c is None else c <= 0


def greater(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if type(a) is Interval or type(b) is Interval:
        return unc.greater(a, b)
    c = fast_compare(a, b)
    return None if c is None else c > 0


def greater_or_equal(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if type(a) is Interval or type(b) is Interval:
        return unc.greater_or_equal(a, b)
    c = fast_compare(a, b)
    return None if c is None else c >= 0


def equal_(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    ta = type(a)
    if ta is type(b) and (ta is str or ta is int):
        # Same-kind strings/integers (`O.status = 'final'`): Python equality is CQL equality.
        return a == b
    if (ta is Interval) is not (type(b) is Interval) and (_is_number(a) or _is_number(b)):
        # An uncertain Integer (`days between` imprecise dates) against a number.
        return unc.equal(a, b)
    return equal(a, b)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)




def not_equal_(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    return not_equal(a, b)
