"""ENGINE types: UCUM unit parsing and conversion, and CQL Quantity comparison and arithmetic.

API (every function returns None when a value is null or the units cannot be reconciled; unconvertible
units are "unknown", never an error):

    parse_unit(unit) -> UnitInfo | None          factor to base units, dimension vector, offset (Cel)
    convertible(unit_a, unit_b) -> bool
    convert(quantity, unit) -> Quantity | None    ConvertQuantity
    compare(a, b) -> -1 | 0 | 1 | None           Quantity ordering after conversion
    equal(a, b) -> bool | None                    CQL `=`: 1 'cm' = 0.01 'm'; 1 year = 1 'a' -> null
    equivalent(a, b) -> bool                      CQL `~`: 1 year ~ 1 'a', 1 month ~ 30 days
    add(a, b) / subtract(a, b) -> Quantity | None result in the left operand's unit
    multiply(a, b) / divide(a, b) -> Quantity | None   compound units ('cm' * 'cm' = 'cm2', 'g/cm3' / 'g/cm3' = '1')
    modulo(a, b) / truncated_divide(a, b)         right operand converted to the left's unit first
    negate(q), abs_(q)
    UNIT_SYNONYMS                                 non-UCUM lab spellings understood as UCUM ('K/uL', 'mcg', 'degC')
    calendar_precision(unit) -> Precision | None  the date/time precision a duration unit adds ('days', 'd', 'a' ...)
    is_calendar_word(unit) -> bool                'year(s)', 'month(s)', ... 'millisecond(s)'

Calendar duration words (year/month) are calendar units: a year is exactly 12 months but neither has
a fixed length in seconds, so comparing them with UCUM time units (including 'a' and 'mo') by `=` is
null; weeks and finer words are fixed lengths and equal their UCUM counterparts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from cds_service.cql.types.guard import guard_module
from cds_service.cql.types.values import Precision, Quantity

__all__ = [
    "UnitInfo",
    "parse_unit",
    "convertible",
    "convert",
    "compare",
    "equal",
    "equivalent",
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "truncated_divide",
    "negate",
    "abs_",
    "calendar_precision",
    "is_calendar_word",
    "CALENDAR_WORDS",
    "UNIT_SYNONYMS",
]

Dims = tuple[tuple[str, int], ...]

_CAL = "cal_month"  # the calendar month dimension (year = 12 months), deliberately unrelated to seconds


@dataclass(frozen=True)
class UnitInfo:
    """A parsed unit: value_in_base = value * factor + offset; dims is a sorted (base, exponent) tuple."""

    factor: Decimal
    dims: Dims
    offset: Decimal = Decimal(0)


def _dims(**exponents: int) -> Dims:
    return tuple(sorted((key, value) for key, value in exponents.items() if value))


# atom -> (factor to base, dims, metric (accepts prefixes))
_ATOMS: dict[str, tuple[Decimal, Dims, bool]] = {
    "1": (Decimal(1), (), False),
    "g": (Decimal(1), _dims(g=1), True),
    "m": (Decimal(1), _dims(m=1), True),
    "L": (Decimal("0.001"), _dims(m=3), True),
    "l": (Decimal("0.001"), _dims(m=3), True),
    "s": (Decimal(1), _dims(s=1), True),
    "min": (Decimal(60), _dims(s=1), False),
    "h": (Decimal(3600), _dims(s=1), False),
    "d": (Decimal(86400), _dims(s=1), False),
    "wk": (Decimal(604800), _dims(s=1), False),
    "mo": (Decimal("2629800"), _dims(s=1), False),  # UCUM: a/12 = 30.4375 d
    "a": (Decimal("31557600"), _dims(s=1), False),  # UCUM: 365.25 d
    "K": (Decimal(1), _dims(K=1), True),
    "Cel": (Decimal(1), _dims(K=1), False),
    "[degF]": (Decimal(5) / Decimal(9), _dims(K=1), False),
    "rad": (Decimal(1), _dims(rad=1), True),
    "deg": (Decimal("0.01745329251994329576923690768"), _dims(rad=1), False),
    "%": (Decimal("0.01"), (), False),
    "mol": (Decimal(1), _dims(mol=1), True),
    "eq": (Decimal(1), _dims(eq=1), True),
    "U": (Decimal(1), _dims(U=1), True),
    "[IU]": (Decimal(1), _dims(IU=1), True),
    "[iU]": (Decimal(1), _dims(IU=1), True),
    "Pa": (Decimal(1000), _dims(g=1, m=-1, s=-2), True),
    "bar": (Decimal(100000000), _dims(g=1, m=-1, s=-2), True),
    "m[Hg]": (Decimal("133322387.415"), _dims(g=1, m=-1, s=-2), True),
    "m[H2O]": (Decimal("9806650"), _dims(g=1, m=-1, s=-2), True),
    "[lb_av]": (Decimal("453.59237"), _dims(g=1), False),
    "[oz_av]": (Decimal("28.349523125"), _dims(g=1), False),
    "[in_i]": (Decimal("0.0254"), _dims(m=1), False),
    "[ft_i]": (Decimal("0.3048"), _dims(m=1), False),
    "[mi_i]": (Decimal("1609.344"), _dims(m=1), False),
    "Hz": (Decimal(1), _dims(s=-1), True),
    "kat": (Decimal(1), _dims(mol=1, s=-1), True),
    "[pH]": (Decimal(1), _dims(pH=1), False),
    "[arb'U]": (Decimal(1), _dims(arbU=1), False),
    "[drp]": (Decimal("0.00000005"), _dims(m=3), False),
    "cal": (Decimal("4184"), _dims(g=1, m=2, s=-2), True),
    "J": (Decimal("1000"), _dims(g=1, m=2, s=-2), True),
    "[ppm]": (Decimal("0.000001"), (), False),
    "[ppb]": (Decimal("0.000000001"), (), False),
}

_PREFIXES: dict[str, Decimal] = {
    "Y": Decimal("1e24"), "Z": Decimal("1e21"), "E": Decimal("1e18"), "P": Decimal("1e15"),
    "T": Decimal("1e12"), "G": Decimal("1e9"), "M": Decimal("1e6"), "k": Decimal("1e3"),
    "h": Decimal("1e2"), "da": Decimal("1e1"), "d": Decimal("1e-1"), "c": Decimal("1e-2"),
    "m": Decimal("1e-3"), "u": Decimal("1e-6"), "n": Decimal("1e-9"), "p": Decimal("1e-12"),
    "f": Decimal("1e-15"), "a": Decimal("1e-18"),
}

# CQL calendar duration words -> (factor, dims). Year and month live on the calendar-month axis.
CALENDAR_WORDS: dict[str, tuple[Decimal, Dims]] = {}
for _word, _factor, _dimset in (
    ("year", Decimal(12), _dims(cal_month=1)),
    ("month", Decimal(1), _dims(cal_month=1)),
    ("week", Decimal(604800), _dims(s=1)),
    ("day", Decimal(86400), _dims(s=1)),
    ("hour", Decimal(3600), _dims(s=1)),
    ("minute", Decimal(60), _dims(s=1)),
    ("second", Decimal(1), _dims(s=1)),
    ("millisecond", Decimal("0.001"), _dims(s=1)),
):
    CALENDAR_WORDS[_word] = (_factor, _dimset)
    CALENDAR_WORDS[_word + "s"] = (_factor, _dimset)

_CALENDAR_PRECISION: dict[str, Precision] = {
    "a": Precision.YEAR, "mo": Precision.MONTH, "wk": Precision.WEEK, "d": Precision.DAY,
    "h": Precision.HOUR, "min": Precision.MINUTE, "s": Precision.SECOND, "ms": Precision.MILLISECOND,
}
for _p in Precision:
    _CALENDAR_PRECISION[_p.name.lower()] = _p
    _CALENDAR_PRECISION[_p.name.lower() + "s"] = _p


def is_calendar_word(unit: str | None) -> bool:
    """True for the CQL calendar duration keywords ('year', 'days', ...), not for UCUM codes."""
    return unit in CALENDAR_WORDS


def calendar_precision(unit: str | None) -> Precision | None:
    """The date/time precision a time-valued quantity unit stands for, or None if it is not one."""
    if unit is None:
        return None
    return _CALENDAR_PRECISION.get(unit)


# Unit strings EHRs and lab systems send that are not UCUM, mapped to the UCUM unit they mean. Only
# unambiguous spellings belong here (a unit we do not understand must stay "unknown", never guessed).
UNIT_SYNONYMS: dict[str, str] = {
    "K/uL": "10*3/uL", "k/uL": "10*3/uL", "K/mcL": "10*3/uL", "x10E3/uL": "10*3/uL", "x10^3/uL": "10*3/uL",
    "10^3/uL": "10*3/uL", "10e3/uL": "10*3/uL", "thou/uL": "10*3/uL", "thou/mm3": "10*3/mm3",
    "x10E9/L": "10*9/L", "x10^9/L": "10*9/L", "10^9/L": "10*9/L", "G/L": "10*9/L",
    "mcg": "ug", "mcL": "uL", "mcg/L": "ug/L", "mcg/dL": "ug/dL", "mcg/mL": "ug/mL",
    "degC": "Cel", "°C": "Cel", "degF": "[degF]", "°F": "[degF]",
    "mmHg": "mm[Hg]", "mm Hg": "mm[Hg]", "cmH2O": "cm[H2O]",
    "lb": "[lb_av]", "lbs": "[lb_av]", "oz": "[oz_av]", "in": "[in_i]", "ft": "[ft_i]",
    "sec": "s", "hr": "h", "hrs": "h", "yr": "a", "yrs": "a",
    "percent": "%", "pct": "%",
}


_TOKEN = re.compile(r"\{[^}]*\}|\(|\)|\.|/|[^./(){}]+")
_EXPONENT = re.compile(r"^(.*?)([+-]?\d+)$")


def _combine(left: tuple[Decimal, dict[str, int]], right: tuple[Decimal, dict[str, int]], sign: int) -> tuple[Decimal, dict[str, int]]:
    factor = left[0] * right[0] if sign > 0 else left[0] / right[0]
    dims = dict(left[1])
    for key, value in right[1].items():
        dims[key] = dims.get(key, 0) + sign * value
    return factor, {k: v for k, v in dims.items() if v}


def _atom(text: str) -> tuple[Decimal, dict[str, int]] | None:
    entry = _ATOMS.get(text)
    if entry is not None:
        return entry[0], dict(entry[1])
    for prefix in sorted(_PREFIXES, key=len, reverse=True):
        if text.startswith(prefix) and len(text) > len(prefix):
            rest = _ATOMS.get(text[len(prefix):])
            if rest is not None and rest[2]:
                return _PREFIXES[prefix] * rest[0], dict(rest[1])
    return None


def _component(text: str) -> tuple[Decimal, dict[str, int]] | None:
    if text.startswith("10*") or text.startswith("10^"):
        try:
            return Decimal(10) ** int(text[3:]), {}
        except ValueError:
            return None
    if text.isdigit():
        return Decimal(text), {}
    found = _atom(text)
    if found is not None:
        return found
    match = _EXPONENT.match(text)
    if match and match.group(1):
        base = _atom(match.group(1))
        if base is None:
            return None
        power = int(match.group(2))
        return base[0] ** power, {k: v * power for k, v in base[1].items()}
    return None


def _parse_term(tokens: list[str], pos: int) -> tuple[tuple[Decimal, dict[str, int]] | None, int]:
    """term := ['/'] factor (('.' | '/') factor)*"""
    result: tuple[Decimal, dict[str, int]] = (Decimal(1), {})
    sign = 1
    expect_factor = True
    while pos < len(tokens):
        token = tokens[pos]
        if token == ")":
            break
        if token in (".", "/"):
            sign = 1 if token == "." else -1
            expect_factor = True
            pos += 1
            continue
        if not expect_factor:
            # an annotation directly after a component: '{score}' on its own or 'mg{total}'
            if token.startswith("{"):
                pos += 1
                continue
            return None, pos
        if token == "(":
            inner, pos = _parse_term(tokens, pos + 1)
            if inner is None or pos >= len(tokens) or tokens[pos] != ")":
                return None, pos
            pos += 1
            value: tuple[Decimal, dict[str, int]] | None = inner
        elif token.startswith("{"):
            value = (Decimal(1), {})
            pos += 1
        else:
            value = _component(token)
            pos += 1
        if value is None:
            return None, pos
        result = _combine(result, value, sign)
        sign = 1
        expect_factor = False
    return result, pos


@lru_cache(maxsize=512)
def parse_unit(unit: str | None) -> UnitInfo | None:
    """Parse a UCUM unit string or CQL calendar word; None when the unit is not understood."""
    if unit is None or unit == "" or unit == "1":
        return UnitInfo(Decimal(1), ())
    calendar = CALENDAR_WORDS.get(unit)
    if calendar is not None:
        return UnitInfo(calendar[0], calendar[1])
    if unit in UNIT_SYNONYMS:
        return parse_unit(UNIT_SYNONYMS[unit])
    if unit == "Cel":
        return UnitInfo(Decimal(1), _dims(K=1), Decimal("273.15"))
    if unit == "[degF]":
        return UnitInfo(Decimal(5) / Decimal(9), _dims(K=1), Decimal("255.3722222222222222222222222"))
    tokens = _TOKEN.findall(unit)
    if "".join(tokens) != unit:
        return None
    try:
        parsed, pos = _parse_term(tokens, 0)
    except (InvalidOperation, ZeroDivisionError):
        return None
    if parsed is None or pos != len(tokens):
        return None
    return UnitInfo(parsed[0], tuple(sorted(parsed[1].items())))


def convertible(unit_a: str | None, unit_b: str | None) -> bool:
    a, b = parse_unit(unit_a), parse_unit(unit_b)
    return a is not None and b is not None and a.dims == b.dims


def _to_base(q: Quantity, info: UnitInfo) -> Decimal:
    return q.value * info.factor + info.offset


def _from_base(value: Decimal, info: UnitInfo) -> Decimal:
    return (value - info.offset) / info.factor


def _clean(value: Decimal) -> Decimal:
    """Drop conversion noise beyond 8 decimal places (CQL Decimal scale) and avoid exponent notation."""
    try:
        if value.as_tuple().exponent < -8:  # type: ignore[operator]
            value = value.quantize(Decimal("1e-8"))
        value = value.normalize()
        if value.as_tuple().exponent > 0:  # type: ignore[operator]
            value = value.quantize(Decimal(1))
    except InvalidOperation:
        pass
    return value


def convert(quantity: Quantity | None, unit: str | None) -> Quantity | None:
    """ConvertQuantity: the same amount in `unit`; None if either is null or the units are incompatible."""
    if quantity is None or unit is None:
        return None
    if quantity.unit == unit:
        return quantity
    source, target = parse_unit(quantity.unit), parse_unit(unit)
    if source is None or target is None or source.dims != target.dims:
        return None
    return Quantity(_clean(_from_base(_to_base(quantity, source), target)), unit)


def _calendarize(unit: str) -> str:
    """For equivalence, UCUM 'a'/'mo' stand for the calendar year/month."""
    return {"a": "year", "mo": "month"}.get(unit, unit)


def _comparable(a: Quantity, b: Quantity, *, equivalence: bool) -> tuple[Decimal, Decimal] | None:
    unit_a, unit_b = a.unit, b.unit
    if equivalence:
        unit_a, unit_b = _calendarize(unit_a), _calendarize(unit_b)
    if unit_a == unit_b:
        return a.value, b.value
    info_a, info_b = parse_unit(unit_a), parse_unit(unit_b)
    if info_a is None or info_b is None:
        return None
    if info_a.dims != info_b.dims:
        if not equivalence:
            return None
        # Equivalence treats a calendar month as 30 days so that `1 month ~ 30 days` holds.
        month = (Decimal(2592000), _dims(s=1))
        swapped_a = (info_a.factor * month[0], month[1]) if info_a.dims == _dims(cal_month=1) else (info_a.factor, info_a.dims)
        swapped_b = (info_b.factor * month[0], month[1]) if info_b.dims == _dims(cal_month=1) else (info_b.factor, info_b.dims)
        if swapped_a[1] != swapped_b[1]:
            return None
        return a.value * swapped_a[0], b.value * swapped_b[0]
    return _to_base(a, info_a), _to_base(b, info_b)


def _uncertain_calendar(a: Quantity, b: Quantity) -> bool:
    """Calendar year/month against a fixed-length time unit: the answer is unknown (1 month = 1 'mo' is null)."""
    info_a, info_b = parse_unit(a.unit), parse_unit(b.unit)
    if info_a is None or info_b is None:
        return False
    pair = {info_a.dims, info_b.dims}
    return pair == {_dims(cal_month=1), _dims(s=1)}


def compare(a: Quantity | None, b: Quantity | None) -> int | None:
    """-1/0/1 ordering after unit conversion; None for null or incomparable units."""
    if a is None or b is None:
        return None
    values = _comparable(a, b, equivalence=False)
    if values is None:
        return None
    left, right = _clean(values[0]), _clean(values[1])
    return (left > right) - (left < right)


def equal(a: Quantity | None, b: Quantity | None) -> bool | None:
    if a is None or b is None:
        return None
    if _uncertain_calendar(a, b):
        return None
    result = compare(a, b)
    return None if result is None else result == 0


def equivalent(a: Quantity | None, b: Quantity | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    values = _comparable(a, b, equivalence=True)
    if values is None:
        return False
    return _clean(values[0]) == _clean(values[1])


def add(a: Quantity | None, b: Quantity | None) -> Quantity | None:
    if a is None or b is None:
        return None
    right = convert(b, a.unit)
    if right is None:
        return None
    return Quantity(a.value + right.value, a.unit)


def subtract(a: Quantity | None, b: Quantity | None) -> Quantity | None:
    if a is None or b is None:
        return None
    return add(a, negate(b))


def negate(q: Quantity | None) -> Quantity | None:
    return None if q is None else Quantity(-q.value, q.unit)


def abs_(q: Quantity | None) -> Quantity | None:
    return None if q is None else Quantity(abs(q.value), q.unit)


def _wrap(unit: str) -> str:
    return f"({unit})" if "/" in unit or "." in unit else unit


def _multiply_units(left: str, right: str) -> str:
    if left == "1":
        return right
    if right == "1":
        return left
    if left == right and re.fullmatch(r"[A-Za-z\[\]_]+", left):
        return left + "2"
    return f"{_wrap(left)}.{_wrap(right)}"


def _divide_units(left: str, right: str) -> str:
    if right == "1":
        return left
    if left == right:
        return "1"
    if left == "1":
        return "/" + _wrap(right)
    return f"{_wrap(left)}/{_wrap(right)}" if "/" in left else f"{left}/{_wrap(right)}"


def multiply(a: Quantity | None, b: Quantity | None) -> Quantity | None:
    """Product with a compound unit; a right operand in a unit convertible to the left's is converted first."""
    if a is None or b is None:
        return None
    right = b
    if a.unit != b.unit and a.unit != "1" and b.unit != "1":
        converted = convert(b, a.unit)
        if converted is not None:
            right = converted
    return Quantity(a.value * right.value, _multiply_units(a.unit, right.unit))


def divide(a: Quantity | None, b: Quantity | None) -> Quantity | None:
    """Quotient with a compound unit; null when dividing by zero."""
    if a is None or b is None:
        return None
    right = b
    if a.unit != b.unit and b.unit != "1":
        converted = convert(b, a.unit)
        if converted is not None:
            right = converted
    if right.value == 0:
        return None
    return Quantity(a.value / right.value, _divide_units(a.unit, right.unit))


def modulo(a: Quantity | None, b: Quantity | None) -> Quantity | None:
    """Remainder (sign of the dividend) in the left operand's unit; null for a zero divisor."""
    if a is None or b is None:
        return None
    right = convert(b, a.unit)
    if right is None or right.value == 0:
        return None
    return Quantity(a.value % right.value, a.unit)


def truncated_divide(a: Quantity | None, b: Quantity | None) -> Quantity | None:
    """div: the integer part of the quotient, in the left operand's unit (as the conformance suite expects)."""
    if a is None or b is None:
        return None
    right = convert(b, a.unit)
    if right is None or right.value == 0:
        return None
    return Quantity((a.value / right.value).to_integral_value(rounding="ROUND_DOWN"), a.unit)


guard_module(globals(), __all__)
