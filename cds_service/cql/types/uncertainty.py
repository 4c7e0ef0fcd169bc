"""ENGINE types: arithmetic and comparison over uncertain Integers (the Interval results of duration/difference).

`years between DateTime(2005) and DateTime(2010)` is Interval[4, 5]: an Integer known only to lie in
that range. When an Integer-typed operand evaluates to an Interval, the engine's arithmetic and comparison
operators delegate here. Plain numbers are treated as point uncertainties.

API (None in -> None out):
    is_uncertain(x) -> bool                 an Interval standing where a number was expected
    add(a, b), subtract(a, b), multiply(a, b) -> int | Interval     (collapses to int when low == high)
    equal(a, b), less(a, b), less_or_equal(a, b), greater(a, b), greater_or_equal(a, b) -> bool | None
Division of uncertainties is not defined by CQL and is left to the caller to reject.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Union

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.types.guard import guard_module
from cds_service.cql.types.values import Interval

__all__ = ["is_uncertain", "add", "subtract", "multiply", "equal", "less", "less_or_equal", "greater", "greater_or_equal"]

Number = Union[int, Decimal]


def is_uncertain(value: Any) -> bool:
    return isinstance(value, Interval)


def _bounds(value: Any) -> tuple[Number, Number]:
    if isinstance(value, Interval):
        if value.low is None or value.high is None:
            raise CqlEvaluationError("an uncertain value needs both bounds")
        return value.low, value.high
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return value, value
    raise CqlEvaluationError(f"cannot use {type(value).__name__} as an uncertain number")


def _make(low: Number, high: Number) -> int | Decimal | Interval:
    if low == high:
        return low
    return Interval(low, high, True, True, "Integer" if isinstance(low, int) and isinstance(high, int) else "Decimal")


def add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    (a_low, a_high), (b_low, b_high) = _bounds(a), _bounds(b)
    return _make(a_low + b_low, a_high + b_high)


def subtract(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    (a_low, a_high), (b_low, b_high) = _bounds(a), _bounds(b)
    return _make(a_low - b_high, a_high - b_low)


def multiply(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    (a_low, a_high), (b_low, b_high) = _bounds(a), _bounds(b)
    products = [a_low * b_low, a_low * b_high, a_high * b_low, a_high * b_high]
    return _make(min(products), max(products))


def less(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    (a_low, a_high), (b_low, b_high) = _bounds(a), _bounds(b)
    if a_high < b_low:
        return True
    if a_low >= b_high:
        return False
    return None


def less_or_equal(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    (a_low, a_high), (b_low, b_high) = _bounds(a), _bounds(b)
    if a_high <= b_low:
        return True
    if a_low > b_high:
        return False
    return None


def greater(a: Any, b: Any) -> bool | None:
    return less(b, a)


def greater_or_equal(a: Any, b: Any) -> bool | None:
    return less_or_equal(b, a)


def equal(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    (a_low, a_high), (b_low, b_high) = _bounds(a), _bounds(b)
    if a_high < b_low or b_high < a_low:
        return False
    if a_low == a_high == b_low == b_high:
        return True
    return None


guard_module(globals(), __all__)
