"""ENGINE types: CQL equality (=), equivalence (~) and ordering over every value kind, three-valued.

API:
    equal(a, b) -> bool | None        `=`: null if either is null or the answer is unknown (imprecise dates,
                                      1 month = 1 'mo'); lists and tuples compare element by element in
                                      order: null on both sides matches, the first unknown or unequal
                                      element decides ({null} = {null} is true)
    equivalent(a, b) -> bool          `~`: never null; null ~ null is true; strings ignore case and
                                      whitespace runs; decimals compare at the less precise scale;
                                      Code ~ Code on code+system; Concept ~ Concept when any code matches
    compare(a, b, precision=None) -> -1 | 0 | 1 | None     ordering for <, <=, >, >= (numbers, strings,
                                      Quantity with unit conversion, Date/DateTime/Time at a precision)
    not_equal(a, b) -> bool | None
    sort_compare(a, b) -> int         total order for `sort` (nulls first; a less precise date/time first)

Integer, Long and Decimal compare as numbers with each other; values of unrelated kinds are unequal
(false), never an error. Intervals delegate to `cds_service.cql.operators.intervals` and date/time values
to `cds_service.cql.operators.temporal` (imported lazily: both build on these types).
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from cds_service.cql.types import ucum
from cds_service.cql.types.guard import guard_module
from cds_service.cql.types.values import Code, Concept, Date, DateTime, Interval, Quantity, Ratio, Time, Tuple

__all__ = ["equal", "equivalent", "not_equal", "compare", "sort_compare", "is_number"]

_WHITESPACE = re.compile(r"\s+")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _temporal() -> Any:
    from cds_service.cql.operators import temporal

    return temporal


def _intervals() -> Any:
    from cds_service.cql.operators import intervals

    return intervals


def _and_all(results: list[bool | None]) -> bool | None:
    if any(result is False for result in results):
        return False
    if any(result is None for result in results):
        return None
    return True


def _fields_equal(pairs: list[tuple[Any, Any]]) -> bool | None:
    """Element-wise equality of tuples and lists, in order, as the reference engine decides it: elements
    null on both sides match, and the first element that is unknown (null) or unequal gives the answer."""
    for left, right in pairs:
        if left is None and right is None:
            continue
        result = equal(left, right)
        if result is not True:
            return result
    return True


def equal(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    kind = type(a)
    if kind is type(b) and (kind is str or kind is int):
        return a == b  # type: ignore[no-any-return]  # as the String and number cases below, for these classes
    if kind is Tuple and type(b) is Tuple:
        # The Tuple case below on the tuples' own dicts (set operations compare many trace tuples).
        items_a, items_b = a._items, b._items
        if items_a.keys() != items_b.keys():
            return False
        return _fields_equal([(items_a[key], items_b[key]) for key in items_a])
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if is_number(a) and is_number(b):
        return Decimal(a) == Decimal(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, (Date, DateTime, Time)) and isinstance(b, (Date, DateTime, Time)):
        if isinstance(a, Time) != isinstance(b, Time):
            return False
        return _temporal().equal(a, b)  # type: ignore[no-any-return]
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return ucum.equal(a, b)
    if isinstance(a, Ratio) and isinstance(b, Ratio):
        return _and_all([equal(a.numerator, b.numerator), equal(a.denominator, b.denominator)])
    if isinstance(a, Code) and isinstance(b, Code):
        return _fields_equal([(a.code, b.code), (a.system, b.system), (a.version, b.version), (a.display, b.display)])
    if isinstance(a, Concept) and isinstance(b, Concept):
        if len(a.codes) != len(b.codes):
            return False
        return _and_all([equal(x, y) for x, y in zip(a.codes, b.codes)] + ([equal(a.display, b.display)] if a.display is not None and b.display is not None else []))
    if isinstance(a, Interval) and isinstance(b, Interval):
        return _intervals().equal(a, b)  # type: ignore[no-any-return]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        return _fields_equal(list(zip(a, b)))
    if isinstance(a, Tuple) and isinstance(b, Tuple):
        if set(a.keys()) != set(b.keys()):
            return False
        return _fields_equal([(a[key], b[key]) for key in a])
    if isinstance(a, dict) and isinstance(b, dict):
        return a == b
    return False


def not_equal(a: Any, b: Any) -> bool | None:
    result = equal(a, b)
    return None if result is None else not result


def _scale(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _decimal_equivalent(a: Decimal, b: Decimal) -> bool:
    """Equal when both are rounded to the scale of the less precise operand, trailing zeros not counting
    as precision (1.001 ~ 1.000 because 1.000 is as precise as 1)."""
    scale_a, scale_b = _scale(a), _scale(b)
    scale = min(scale_a, scale_b)
    quantum = Decimal(1).scaleb(-scale)
    return a.quantize(quantum) == b.quantize(quantum)


def _code_equivalent(a: Code, b: Code) -> bool:
    return a.code == b.code and a.system == b.system


def equivalent(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if is_number(a) and is_number(b):
        return _decimal_equivalent(Decimal(a), Decimal(b))
    if isinstance(a, str) and isinstance(b, str):
        return _WHITESPACE.sub(" ", a.strip()).casefold() == _WHITESPACE.sub(" ", b.strip()).casefold()
    if isinstance(a, (Date, DateTime, Time)) and isinstance(b, (Date, DateTime, Time)):
        if isinstance(a, Time) != isinstance(b, Time):
            return False
        return _temporal().equivalent(a, b)  # type: ignore[no-any-return]
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return ucum.equivalent(a, b)
    if isinstance(a, Ratio) and isinstance(b, Ratio):
        # 1:100 ~ 10:1000 -- the same proportion
        left = ucum.multiply(a.numerator, b.denominator)
        right = ucum.multiply(b.numerator, a.denominator)
        if left is not None and right is not None and ucum.equivalent(left, right):
            return True
        return equivalent(a.numerator, b.numerator) and equivalent(a.denominator, b.denominator)
    if isinstance(a, Code) and isinstance(b, Code):
        return _code_equivalent(a, b)
    if isinstance(a, Concept) and isinstance(b, Concept):
        return any(_code_equivalent(x, y) for x in a.codes for y in b.codes)
    if isinstance(a, Code) and isinstance(b, Concept):
        return any(_code_equivalent(a, y) for y in b.codes)
    if isinstance(a, Concept) and isinstance(b, Code):
        return any(_code_equivalent(x, b) for x in a.codes)
    if isinstance(a, Interval) and isinstance(b, Interval):
        return _intervals().equivalent(a, b)  # type: ignore[no-any-return]
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equivalent(x, y) for x, y in zip(a, b))
    if isinstance(a, Tuple) and isinstance(b, Tuple):
        return set(a.keys()) == set(b.keys()) and all(equivalent(a[key], b[key]) for key in a)
    if isinstance(a, dict) and isinstance(b, dict):
        return a == b
    return False


def compare(a: Any, b: Any, precision: Any = None) -> int | None:
    """Ordering of two comparable values; None when null, incomparable units or uncertain."""
    if a is None or b is None:
        return None
    if is_number(a) and is_number(b):
        left, right = Decimal(a), Decimal(b)
        return (left > right) - (left < right)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return ucum.compare(a, b)
    if isinstance(a, (Date, DateTime, Time)) and isinstance(b, (Date, DateTime, Time)):
        return _temporal().compare(a, b, precision)  # type: ignore[no-any-return]
    if isinstance(a, bool) and isinstance(b, bool):
        return (a > b) - (a < b)
    return None


def sort_compare(a: Any, b: Any) -> int:
    """A total order for `sort`: nulls first, then CQL ordering; where CQL says "unknown" because one
    date/time is less precise (2012-01-01 vs 2012-01-01T12), the less precise value sorts first."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    result = compare(a, b)
    if result is not None:
        return result
    if isinstance(a, (Date, DateTime, Time)) and isinstance(b, (Date, DateTime, Time)):
        shared = compare(a, b, min(a.precision, b.precision))
        if shared:
            return shared
        return (a.precision > b.precision) - (a.precision < b.precision)
    return 0


guard_module(globals(), __all__)
