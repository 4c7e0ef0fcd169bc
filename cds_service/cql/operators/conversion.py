"""ENGINE operators: CQL type operators (is/as/convert, ToX and ConvertsToX, System type names of values)."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.operators import arithmetic
from cds_service.cql.types import Code, Concept, Date, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple
from cds_service.cql.types import ucum
from cds_service.cql.types.format import to_string as format_to_string

_INT_RE = re.compile(r"[+-]?\d+")
_DEC_RE = re.compile(r"[+-]?(\d+(\.\d+)?|\.\d+)")
_QTY_RE = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*(?:'([^']*)'|([A-Za-z]+))?\s*")
_DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_DATETIME_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?T?"
)
_TIME_RE = re.compile(r"T?(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?")

TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_STRINGS = frozenset({"false", "f", "no", "n", "0"})

SYSTEM_TYPES = (
    "Any", "Boolean", "Integer", "Long", "Decimal", "String", "Date", "DateTime", "Time", "Quantity", "Ratio",
    "Code", "Concept", "Vocabulary", "ValueSet", "CodeSystem",
)


def system_type_name(value: Any) -> str | None:
    """The System type of a runtime value (None for null; FHIR dicts report their resourceType)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, Long):
        return "Long"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, Decimal):
        return "Decimal"
    if isinstance(value, str):
        return "String"
    for cls in (DateTime, Date, Time, Quantity, Ratio, Code, Concept):
        if isinstance(value, cls):
            return cls.__name__
    if isinstance(value, Interval):
        return "Interval"
    if isinstance(value, list):
        return "List"
    if isinstance(value, Tuple):
        return "Tuple"
    if isinstance(value, dict):
        rt = value.get("resourceType")
        return str(rt) if rt else "Tuple"
    return type(value).__name__


def _offset(text: str | None) -> Decimal | None:
    if text is None:
        return None
    if text == "Z":
        return Decimal(0)
    sign = -1 if text[0] == "-" else 1
    hours, minutes = text[1:].split(":")
    return sign * (Decimal(int(hours)) + Decimal(int(minutes)) / Decimal(60))


def _ms(text: str | None) -> int | None:
    if text is None:
        return None
    return int(text.ljust(3, "0"))


def parse_date(text: str) -> Date | None:
    m = _DATE_RE.fullmatch(text)
    if not m:
        return None
    y, mo, d = (int(g) if g else None for g in m.groups())
    try:
        return Date(y, mo, d)  # type: ignore[arg-type]
    except CqlEvaluationError:
        return None


def parse_datetime(text: str) -> DateTime | None:
    m = _DATETIME_RE.fullmatch(text)
    if not m:
        return None
    g = m.groups()
    parts = [int(x) if x else None for x in g[:6]]
    try:
        return DateTime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], _ms(g[6]), _offset(g[7]))  # type: ignore[arg-type]
    except CqlEvaluationError:
        return None


def parse_time(text: str) -> Time | None:
    m = _TIME_RE.fullmatch(text)
    if not m:
        return None
    g = m.groups()
    try:
        return Time(int(g[0]), int(g[1]) if g[1] else None, int(g[2]) if g[2] else None, _ms(g[3]))
    except CqlEvaluationError:
        return None


def to_boolean(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in TRUE_STRINGS:
            return True
        if low in FALSE_STRINGS:
            return False
        return None
    if isinstance(value, int):
        return {1: True, 0: False}.get(int(value))
    if isinstance(value, Decimal):
        return True if value == 1 else False if value == 0 else None
    raise _cannot("Boolean", value)


def _cannot(target: str, value: Any) -> CqlEvaluationError:
    return CqlEvaluationError(f"cannot convert a {system_type_name(value)} to {target}")


def to_integer(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return arithmetic.check_integer(int(value)) if not isinstance(value, Long) else _long_to_int(value)
    if isinstance(value, str):
        if not _INT_RE.fullmatch(value.strip()):
            return None
        number = int(value.strip())
        return number if arithmetic.INT_MIN <= number <= arithmetic.INT_MAX else None
    if isinstance(value, Decimal):
        return arithmetic.truncate(value)  # type: ignore[no-any-return]
    raise _cannot("Integer", value)


def _long_to_int(value: int) -> int | None:
    return int(value) if arithmetic.INT_MIN <= value <= arithmetic.INT_MAX else None


def to_long(value: Any) -> Long | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return Long(1 if value else 0)
    if isinstance(value, int):
        return Long(int(value))
    if isinstance(value, str):
        if not _INT_RE.fullmatch(value.strip()):
            return None
        number = int(value.strip())
        return Long(number) if arithmetic.LONG_MIN <= number <= arithmetic.LONG_MAX else None
    if isinstance(value, Decimal):
        return Long(int(value))
    raise _cannot("Long", value)


def to_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return Decimal("1.0") if value else Decimal("0.0")
    if isinstance(value, int):
        return Decimal(int(value))
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not _DEC_RE.fullmatch(text):
            return None
        try:
            return arithmetic.check_decimal(Decimal(text))
        except (InvalidOperation, CqlEvaluationError):
            return None
    raise _cannot("Decimal", value)


def to_quantity(value: Any) -> Quantity | None:
    if value is None:
        return None
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool):
        raise _cannot("Quantity", value)
    if isinstance(value, (int, Decimal)):
        return Quantity(Decimal(value), "1")
    if isinstance(value, Ratio):
        return None
    if isinstance(value, str):
        m = _QTY_RE.fullmatch(value)
        if not m:
            return None
        unit = m.group(2) if m.group(2) is not None else m.group(3)
        if m.group(3) is not None and not ucum.is_calendar_word(m.group(3)):
            return None
        try:
            return Quantity(Decimal(m.group(1)), unit if unit is not None else "1")
        except CqlEvaluationError:
            return None
    raise _cannot("Quantity", value)


def to_ratio(value: Any) -> Ratio | None:
    if value is None:
        return None
    if isinstance(value, Ratio):
        return value
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 2:
            return None
        n, d = to_quantity(parts[0]), to_quantity(parts[1])
        if n is None or d is None:
            return None
        return Ratio(n, d)
    raise _cannot("Ratio", value)


def to_date(value: Any) -> Date | None:
    if value is None:
        return None
    if isinstance(value, Date):
        return value
    if isinstance(value, DateTime):
        return value.date_part()
    if isinstance(value, str):
        text = value.strip()
        d = parse_date(text)
        if d is not None:
            return d
        dt = parse_datetime(text)
        return dt.date_part() if dt is not None else None
    raise _cannot("Date", value)


def to_datetime(value: Any) -> DateTime | None:
    if value is None:
        return None
    if isinstance(value, DateTime):
        return value
    if isinstance(value, Date):
        return value.to_datetime()
    if isinstance(value, str):
        return parse_datetime(value.strip())
    raise _cannot("DateTime", value)


def to_time(value: Any) -> Time | None:
    if value is None:
        return None
    if isinstance(value, Time):
        return value
    if isinstance(value, str):
        # A trailing offset is allowed in the string and ignored: Time has no timezone.
        text = re.sub(r"(Z|[+-]\d{2}:\d{2})$", "", value.strip())
        return parse_time(text)
    raise _cannot("Time", value)


def to_concept(value: Any) -> Concept | None:
    if value is None:
        return None
    if isinstance(value, Concept):
        return value
    if isinstance(value, Code):
        return Concept((value,))
    if isinstance(value, list):
        codes = tuple(c for c in value if isinstance(c, Code))
        return Concept(codes) if codes else None
    raise _cannot("Concept", value)


def to_string(value: Any) -> str | None:
    """ToString: the System value's CQL text, as the types layer formats it (FHIR resources have none)."""
    if isinstance(value, dict) and not isinstance(value, Tuple):
        raise _cannot("String", value)
    return format_to_string(value)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "Boolean": to_boolean,
    "Integer": to_integer,
    "Long": to_long,
    "Decimal": to_decimal,
    "Quantity": to_quantity,
    "Ratio": to_ratio,
    "Date": to_date,
    "DateTime": to_datetime,
    "Time": to_time,
    "Concept": to_concept,
    "String": to_string,
}


def converts_to(value: Any, target: str) -> bool | None:
    if value is None:
        return None
    try:
        return CONVERTERS[target](value) is not None
    except CqlEvaluationError:
        return False


def convert(value: Any, target: str) -> Any:
    if target not in CONVERTERS:
        raise CqlEvaluationError(f"conversion to {target} is not supported")
    return CONVERTERS[target](value)
