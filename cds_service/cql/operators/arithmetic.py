"""ENGINE operators: CQL arithmetic (Integer 32-bit, Long 64-bit, Decimal 28.8, Quantity via ucum, temporal via temporal)."""
from __future__ import annotations

import decimal
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.operators import temporal
from cds_service.cql.types import Date, DateTime, Long, Quantity, Time
from cds_service.cql.types import ucum

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
DECIMAL_MAX = Decimal("99999999999999999999.99999999")
DECIMAL_MIN = -DECIMAL_MAX
STEP = Decimal("0.00000001")

# Wide enough that intermediate results never round before the final 8-digit quantize.
_CTX = decimal.Context(prec=60, rounding=ROUND_HALF_UP, Emax=999999, Emin=-999999)
_TEMPORAL = (Date, DateTime, Time)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_integer(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        # The value itself is not in the message: it may come from patient data, and errors get logged.
        raise CqlEvaluationError("Integer overflow: the result is outside the 32-bit range")
    return value


def check_long(value: int) -> Long:
    if not LONG_MIN <= value <= LONG_MAX:
        raise CqlEvaluationError("Long overflow: the result is outside the 64-bit range")
    return Long(value)


def check_decimal(value: Decimal) -> Decimal:
    """Round to the CQL Decimal scale (8 digits) and reject values outside 10^28."""
    if not value.is_finite():
        raise CqlEvaluationError("Decimal result is not a finite number")
    if value.as_tuple().exponent < -8:  # type: ignore[operator]
        value = value.quantize(STEP, rounding=ROUND_HALF_UP, context=_CTX)
    if value > DECIMAL_MAX or value < DECIMAL_MIN:
        raise CqlEvaluationError("Decimal overflow: the result is outside the CQL Decimal range")
    return value


def _num_kind(a: Any, b: Any) -> str:
    """'Integer' | 'Long' | 'Decimal' for the wider of two numeric operands."""
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return "Decimal"
    if isinstance(a, Long) or isinstance(b, Long):
        return "Long"
    return "Integer"


def _finish(value: Any, kind: str) -> Any:
    if kind == "Decimal":
        return check_decimal(Decimal(value))
    if kind == "Long":
        return check_long(int(value))
    return check_integer(int(value))


def _dec(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(int(v))


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def _type_error(op: str, a: Any, b: Any = None) -> CqlEvaluationError:
    return CqlEvaluationError(f"{op} is not defined for {type(a).__name__} and {type(b).__name__}")


def _as_quantity(v: Any) -> Quantity:
    return v if isinstance(v, Quantity) else Quantity(_dec(v), "1")


def add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        kind = _num_kind(a, b)
        return _finish(_CTX.add(_dec(a), _dec(b)) if kind == "Decimal" else a + b, kind)
    if isinstance(a, _TEMPORAL) and isinstance(b, Quantity):
        return temporal.add(a, b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return _check_quantity(ucum.add(a, b))
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    raise _type_error("Add", a, b)


def subtract(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        kind = _num_kind(a, b)
        return _finish(_CTX.subtract(_dec(a), _dec(b)) if kind == "Decimal" else a - b, kind)
    if isinstance(a, _TEMPORAL) and isinstance(b, Quantity):
        return temporal.subtract(a, b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return _check_quantity(ucum.subtract(a, b))
    raise _type_error("Subtract", a, b)


def _check_quantity(q: Quantity | None) -> Quantity | None:
    if q is None:
        return None
    return Quantity(check_decimal(q.value), q.unit)


def multiply(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        kind = _num_kind(a, b)
        return _finish(_CTX.multiply(_dec(a), _dec(b)) if kind == "Decimal" else a * b, kind)
    if isinstance(a, Quantity) or isinstance(b, Quantity):
        if (isinstance(a, Quantity) or _is_num(a)) and (isinstance(b, Quantity) or _is_num(b)):
            return _check_quantity(ucum.multiply(_as_quantity(a), _as_quantity(b)))
    raise _type_error("Multiply", a, b)


def divide(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        if _dec(b) == 0:
            return None
        return check_decimal(_CTX.divide(_dec(a), _dec(b)))
    if isinstance(a, Quantity) and (isinstance(b, Quantity) or _is_num(b)):
        bq = _as_quantity(b)
        if bq.value == 0:
            return None
        return _check_quantity(ucum.divide(a, bq))
    raise _type_error("Divide", a, b)


def truncated_divide(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        if _dec(b) == 0:
            return None
        kind = _num_kind(a, b)
        q = _CTX.divide(_dec(a), _dec(b)).to_integral_value(rounding=ROUND_DOWN)
        return _finish(q if kind == "Decimal" else int(q), kind)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        if b.value == 0:
            return None
        return _check_quantity(ucum.truncated_divide(a, b))
    raise _type_error("TruncatedDivide", a, b)


def modulo(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if _is_num(a) and _is_num(b):
        if _dec(b) == 0:
            return None
        kind = _num_kind(a, b)
        # CQL's modulo takes the sign of the dividend (truncated division), like Decimal's remainder.
        r = _CTX.remainder(_dec(a), _dec(b))
        return _finish(r if kind == "Decimal" else int(r), kind)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        if b.value == 0:
            return None
        return _check_quantity(ucum.modulo(a, b))
    raise _type_error("Modulo", a, b)


def negate(a: Any) -> Any:
    if a is None:
        return None
    if isinstance(a, Long):
        return check_long(-int(a))
    if _is_int(a):
        return check_integer(-a)
    if isinstance(a, Decimal):
        return check_decimal(-a)
    if isinstance(a, Quantity):
        return ucum.negate(a)
    raise CqlEvaluationError(f"Negate is not defined for {type(a).__name__}")


def abs_(a: Any) -> Any:
    if a is None:
        return None
    if isinstance(a, Long):
        return check_long(abs(int(a)))
    if _is_int(a):
        return check_integer(abs(a))
    if isinstance(a, Decimal):
        return abs(a)
    if isinstance(a, Quantity):
        return ucum.abs_(a)
    raise CqlEvaluationError(f"Abs is not defined for {type(a).__name__}")


def power(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if not (_is_num(a) and _is_num(b)):
        raise _type_error("Power", a, b)
    kind = _num_kind(a, b)
    if kind != "Decimal" and b >= 0:
        return _finish(int(a) ** int(b), kind)
    base, exp = _dec(a), _dec(b)
    if base == 0 and exp < 0:
        return None
    try:
        if exp == exp.to_integral_value():
            result = _CTX.power(base, int(exp))
        else:
            if base < 0:
                return None
            result = _CTX.power(base, exp)
    except (decimal.InvalidOperation, decimal.Overflow):
        return None
    return check_decimal(result)


def _to_int_result(value: Decimal) -> int | None:
    # Ceiling/Floor/Truncate of a Decimal beyond the Integer range has no Integer answer: null, not an error.
    number = int(value)
    return number if INT_MIN <= number <= INT_MAX else None


def _to_integral(a: Any, rounding: str) -> Any:
    if a is None:
        return None
    if _is_int(a):
        return a
    return _to_int_result(_dec(a).to_integral_value(rounding=rounding))


def ceiling(a: Any) -> Any:
    return _to_integral(a, ROUND_CEILING)


def floor(a: Any) -> Any:
    return _to_integral(a, ROUND_FLOOR)


def truncate(a: Any) -> Any:
    return _to_integral(a, ROUND_DOWN)


def round_(a: Any, precision: Any = None) -> Any:
    if a is None:
        return None
    digits = 0 if precision is None else int(precision)
    if digits < 0:
        raise CqlEvaluationError("Round precision must not be negative")
    value = _dec(a)
    exp = Decimal(1).scaleb(-digits)
    # CQL rounds half towards positive infinity: Round(-0.5) = 0, Round(0.5) = 1.
    rounded = (value + exp / 2).quantize(exp, rounding=ROUND_FLOOR, context=_CTX)
    return check_decimal(rounded) if digits else check_decimal(rounded.quantize(Decimal(1), context=_CTX))


def ln(a: Any) -> Any:
    if a is None:
        return None
    value = _dec(a)
    if value <= 0:
        return None
    return check_decimal(value.ln(_CTX))


def exp(a: Any) -> Any:
    if a is None:
        return None
    try:
        return check_decimal(_dec(a).exp(_CTX))
    except (decimal.Overflow, decimal.InvalidOperation):
        raise CqlEvaluationError("Exp overflow: the result is outside the CQL Decimal range") from None


def log(a: Any, base: Any) -> Any:
    if a is None or base is None:
        return None
    x, b = _dec(a), _dec(base)
    if x <= 0 or b <= 0 or b == 1:
        return None
    return check_decimal(_CTX.divide(x.ln(_CTX), b.ln(_CTX)))


def precision(a: Any) -> Any:
    if a is None:
        return None
    if isinstance(a, Decimal):
        exp_ = a.as_tuple().exponent
        return max(0, -int(exp_))
    return temporal.precision_digits(a)


def _decimal_boundary(value: Decimal, digits: int | None, high: bool) -> Decimal | None:
    digits = 8 if digits is None else digits
    if digits < 0 or digits > 8:
        return None
    step = Decimal(1).scaleb(-digits)
    truncated = value.quantize(step, rounding=ROUND_DOWN, context=_CTX) if -value.as_tuple().exponent > digits else value  # type: ignore[operator]
    current = max(0, -int(value.as_tuple().exponent))
    if current > digits:
        return truncated
    base = value.quantize(step, context=_CTX)
    if not high:
        return base
    # The highest value that still rounds to the given digits: fill the unknown digits with 9s.
    filler = Decimal(1).scaleb(-current) - step if current < digits else Decimal(0)
    if value < 0:
        return base - filler
    return base + filler


def low_boundary(a: Any, digits: Any = None) -> Any:
    if a is None:
        return None
    if isinstance(a, Decimal):
        if digits is not None and (digits < 0 or digits > 8):
            return None
        value = _decimal_boundary(a, digits, high=False)
        if value is not None and a < 0:
            value = _decimal_boundary(a, digits, high=True)
        return value
    return temporal.low_boundary(a, digits)


def high_boundary(a: Any, digits: Any = None) -> Any:
    if a is None:
        return None
    if isinstance(a, Decimal):
        if digits is not None and (digits < 0 or digits > 8):
            return None
        value = _decimal_boundary(a, digits, high=True)
        if value is not None and a < 0:
            value = _decimal_boundary(a, digits, high=False)
        return value
    return temporal.high_boundary(a, digits)


def successor(a: Any) -> Any:
    if a is None:
        return None
    if isinstance(a, Long):
        return check_long(int(a) + 1)
    if _is_int(a):
        return check_integer(a + 1)
    if isinstance(a, Decimal):
        return check_decimal(a + STEP)
    return temporal.successor(a)


def predecessor(a: Any) -> Any:
    if a is None:
        return None
    if isinstance(a, Long):
        return check_long(int(a) - 1)
    if _is_int(a):
        return check_integer(a - 1)
    if isinstance(a, Decimal):
        return check_decimal(a - STEP)
    return temporal.predecessor(a)


def min_value(type_name: str) -> Any:
    if type_name == "Integer":
        return INT_MIN
    if type_name == "Long":
        return Long(LONG_MIN)
    if type_name == "Decimal":
        return DECIMAL_MIN
    if type_name in ("Date", "DateTime", "Time", "Quantity"):
        return temporal.min_value(type_name)
    raise CqlEvaluationError(f"minimum is not defined for type {type_name}")


def max_value(type_name: str) -> Any:
    if type_name == "Integer":
        return INT_MAX
    if type_name == "Long":
        return Long(LONG_MAX)
    if type_name == "Decimal":
        return DECIMAL_MAX
    if type_name in ("Date", "DateTime", "Time", "Quantity"):
        return temporal.max_value(type_name)
    raise CqlEvaluationError(f"maximum is not defined for type {type_name}")


def sqrt_decimal(value: Decimal) -> Decimal:
    return value.sqrt(_CTX)


def decimal_context() -> decimal.Context:
    return _CTX


__all__ = [
    "add", "subtract", "multiply", "divide", "truncated_divide", "modulo", "negate", "abs_", "power",
    "ceiling", "floor", "truncate", "round_", "ln", "exp", "log", "precision", "low_boundary",
    "high_boundary", "successor", "predecessor", "min_value", "max_value", "check_integer", "check_long",
    "check_decimal",
]
