"""ENGINE operators: CQL aggregate functions (Count, Sum, Min, Max, Avg, Median, Mode, StdDev, Variance, ...)."""
from __future__ import annotations

from decimal import Decimal
from functools import cmp_to_key
from typing import Any

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.operators import arithmetic
from cds_service.cql.types import Quantity
from cds_service.cql.types.equality import compare, equal


def _values(source: list[Any] | None) -> list[Any] | None:
    if source is None:
        return None
    return [x for x in source if x is not None]


def count(source: list[Any] | None) -> int:
    if source is None:
        return 0
    return sum(1 for x in source if x is not None)


def sum_(source: list[Any] | None) -> Any:
    values = _values(source)
    if not values:
        return None
    total = values[0]
    for v in values[1:]:
        total = arithmetic.add(total, v)
    return total


def product(source: list[Any] | None) -> Any:
    values = _values(source)
    if not values:
        return None
    total = values[0]
    for v in values[1:]:
        total = arithmetic.multiply(total, v)
    return total


def _extreme(source: list[Any] | None, sign: int) -> Any:
    values = _values(source)
    if not values:
        return None
    best = values[0]
    for v in values[1:]:
        c = compare(v, best)
        if c is None:
            continue
        if c * sign > 0:
            best = v
    return best


def min_(source: list[Any] | None) -> Any:
    return _extreme(source, -1)


def max_(source: list[Any] | None) -> Any:
    return _extreme(source, 1)


def avg(source: list[Any] | None) -> Any:
    values = _values(source)
    if not values:
        return None
    total = sum_(values)
    if isinstance(total, Quantity):
        return arithmetic.divide(total, Decimal(len(values)))
    return arithmetic.divide(arithmetic.add(total, Decimal(0)), Decimal(len(values)))


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(values, key=cmp_to_key(lambda a, b: compare(a, b) or 0))


def median(source: list[Any] | None) -> Any:
    values = _values(source)
    if not values:
        return None
    ordered = _sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        middle = ordered[mid]
        return arithmetic.add(middle, Decimal(0)) if isinstance(middle, int) and not isinstance(middle, bool) else middle
    return arithmetic.divide(arithmetic.add(ordered[mid - 1], ordered[mid]), 2)


def mode(source: list[Any] | None) -> Any:
    values = _values(source)
    if not values:
        return None
    best, best_count = None, 0
    counted: list[tuple[Any, int]] = []
    for v in values:
        for i, (u, c) in enumerate(counted):
            if equal(u, v) is True:
                counted[i] = (u, c + 1)
                break
        else:
            counted.append((v, 1))
    for u, c in counted:
        if c > best_count:
            best, best_count = u, c
    return best


def _variance(source: list[Any] | None, population: bool) -> Any:
    values = _values(source)
    if not values:
        return None
    if any(isinstance(v, Quantity) for v in values):
        unit = values[0].unit
        numbers = [v.value for v in values]
        result = _variance(numbers, population)
        return None if result is None else Quantity(result, f"{unit}2" if unit != "1" else unit)
    n = len(values)
    if n == 1 and not population:
        return None
    numbers = [Decimal(v) if not isinstance(v, Decimal) else v for v in values]
    ctx = arithmetic.decimal_context()
    mean = ctx.divide(sum(numbers, Decimal(0)), Decimal(n))
    squares = sum((ctx.power(x - mean, 2) for x in numbers), Decimal(0))
    return arithmetic.check_decimal(ctx.divide(squares, Decimal(n if population else n - 1)))


def variance(source: list[Any] | None) -> Any:
    return _variance(source, population=False)


def population_variance(source: list[Any] | None) -> Any:
    return _variance(source, population=True)


def _stddev(source: list[Any] | None, population: bool) -> Any:
    v = _variance(source, population)
    if v is None:
        return None
    if isinstance(v, Quantity):
        unit = v.unit[:-1] if v.unit.endswith("2") else v.unit
        return Quantity(arithmetic.check_decimal(arithmetic.sqrt_decimal(v.value)), unit)
    return arithmetic.check_decimal(arithmetic.sqrt_decimal(v))


def std_dev(source: list[Any] | None) -> Any:
    return _stddev(source, population=False)


def population_std_dev(source: list[Any] | None) -> Any:
    return _stddev(source, population=True)


def all_true(source: list[Any] | None) -> bool:
    if source is None:
        return True
    return all(x is not False for x in source)


def any_true(source: list[Any] | None) -> bool:
    if source is None:
        return False
    return any(x is True for x in source)


def geometric_mean(source: list[Any] | None) -> Any:
    values = _values(source)
    if not values:
        return None
    ctx = arithmetic.decimal_context()
    prod = Decimal(1)
    for v in values:
        prod = ctx.multiply(prod, Decimal(v) if not isinstance(v, Decimal) else v)
    if prod < 0:
        raise CqlEvaluationError("GeometricMean of a negative product")
    return arithmetic.check_decimal(ctx.power(prod, ctx.divide(Decimal(1), Decimal(len(values)))))

