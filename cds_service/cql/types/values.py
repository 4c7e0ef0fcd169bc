"""ENGINE types: the CQL System value classes (Long, Date, DateTime, Time, Quantity, Ratio, Code, Concept, Interval, Tuple)."""
from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any, Union

from cds_service.cql.errors import CqlEvaluationError

__all__ = [
    "Precision",
    "Long",
    "Date",
    "DateTime",
    "Time",
    "Quantity",
    "Ratio",
    "Code",
    "Concept",
    "Interval",
    "Tuple",
    "TemporalValue",
    "DEFAULT_OFFSET",
    "default_offset",
    "format_decimal",
]

# The timezone offset (Decimal hours) that a DateTime without an explicit offset stands for. The spec says
# it is the offset of the evaluation request timestamp; the engine sets it once per evaluation with
# `DEFAULT_OFFSET.set(...)` (ContextVar, so concurrent evaluations in threads do not leak into each other).
DEFAULT_OFFSET: ContextVar[Decimal] = ContextVar("cql_default_offset", default=Decimal(0))


def default_offset() -> Decimal:
    """The evaluation's default timezone offset in hours."""
    return DEFAULT_OFFSET.get()


class Precision(IntEnum):
    """Temporal precisions, ordered from coarsest to finest (WEEK only as a duration/difference unit)."""

    YEAR = 1
    MONTH = 2
    WEEK = 3
    DAY = 4
    HOUR = 5
    MINUTE = 6
    SECOND = 7
    MILLISECOND = 8

    @classmethod
    def parse(cls, name: "str | Precision") -> "Precision":
        """'year', 'years', 'Year', 'a' (UCUM), ... -> Precision; raises CqlEvaluationError when unknown."""
        if isinstance(name, Precision):
            return name
        key = name.strip().lower()
        found = _PRECISION_NAMES.get(key)
        if found is None:
            raise CqlEvaluationError(f"unknown date/time precision {name!r}")
        return found

    @property
    def cql_name(self) -> str:
        """Singular lower-case CQL keyword ('year', 'millisecond')."""
        return self.name.lower()


_PRECISION_NAMES: dict[str, Precision] = {}
for _p in Precision:
    _PRECISION_NAMES[_p.name.lower()] = _p
    _PRECISION_NAMES[_p.name.lower() + "s"] = _p
_PRECISION_NAMES.update(
    {"a": Precision.YEAR, "mo": Precision.MONTH, "wk": Precision.WEEK, "d": Precision.DAY,
     "h": Precision.HOUR, "min": Precision.MINUTE, "s": Precision.SECOND, "ms": Precision.MILLISECOND}
)

# Fields of DateTime in precision order (WEEK is not a component).
_DT_FIELDS = ("year", "month", "day", "hour", "minute", "second", "millisecond")
_DT_PRECISIONS = (Precision.YEAR, Precision.MONTH, Precision.DAY, Precision.HOUR, Precision.MINUTE,
                  Precision.SECOND, Precision.MILLISECOND)
_TIME_FIELDS = ("hour", "minute", "second", "millisecond")
_TIME_PRECISIONS = (Precision.HOUR, Precision.MINUTE, Precision.SECOND, Precision.MILLISECOND)
_LIMITS = {"month": (1, 12), "hour": (0, 23), "minute": (0, 59), "second": (0, 59), "millisecond": (0, 999)}


class Long(int):
    """CQL System.Long: a 64-bit integer kept distinct from Integer; arithmetic between Longs stays Long."""

    MIN = -(2**63)
    MAX = 2**63 - 1

    def __new__(cls, value: Any = 0) -> "Long":
        number = int.__new__(cls, value)
        if not cls.MIN <= number <= cls.MAX:
            raise CqlEvaluationError(f"Long value {int(number)} is out of range")
        return number

    def __repr__(self) -> str:
        return f"{int(self)}L"

    __str__ = int.__repr__

    def _wrap(self, result: Any) -> Any:
        return Long(result) if isinstance(result, int) and not isinstance(result, bool) else result

    def __add__(self, other: Any) -> Any:
        return self._wrap(int.__add__(self, other))

    def __radd__(self, other: Any) -> Any:
        return self._wrap(int.__radd__(self, other))

    def __sub__(self, other: Any) -> Any:
        return self._wrap(int.__sub__(self, other))

    def __rsub__(self, other: Any) -> Any:
        return self._wrap(int.__rsub__(self, other))

    def __mul__(self, other: Any) -> Any:
        return self._wrap(int.__mul__(self, other))

    def __rmul__(self, other: Any) -> Any:
        return self._wrap(int.__rmul__(self, other))

    def __floordiv__(self, other: Any) -> Any:
        return self._wrap(int.__floordiv__(self, other))

    def __mod__(self, other: Any) -> Any:
        return self._wrap(int.__mod__(self, other))

    def __neg__(self) -> Any:
        return Long(-int(self))

    def __abs__(self) -> Any:
        return Long(abs(int(self)))


def _check_range(name: str, value: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise CqlEvaluationError(f"{name} must be an Integer, got {value!r}")
    if name == "year":
        low, high = 1, 9999
    else:
        low, high = _LIMITS[name]
    if not low <= value <= high:
        raise CqlEvaluationError(f"{name} {value} is out of range {low}..{high}")


def _check_prefix(kind: str, names: tuple[str, ...], values: tuple[int | None, ...]) -> int:
    """Components must be given as a prefix (no day without a month); returns how many are set."""
    count = 0
    for value in values:
        if value is None:
            break
        count += 1
    for name, value in zip(names[count:], values[count:]):
        if value is not None:
            raise CqlEvaluationError(f"{kind} {name} given without the coarser components before it")
    return count


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def format_decimal(value: Decimal) -> str:
    """Decimal as CQL ToString writes it: plain notation, no exponent."""
    text = format(value, "f")
    return text


def _format_offset(offset: Decimal) -> str:
    sign = "-" if offset < 0 else "+"
    minutes_total = int((abs(offset) * 60).to_integral_value())
    return f"{sign}{minutes_total // 60:02d}:{minutes_total % 60:02d}"


@dataclass(frozen=True, slots=True)
class Date:
    """CQL System.Date: year with optional month and day; precision is the finest component given."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        _check_range("year", self.year)
        _check_range("month", self.month)
        _check_prefix("Date", ("year", "month", "day"), (self.year, self.month, self.day))
        if self.day is not None:
            assert self.month is not None
            limit = _days_in_month(self.year, self.month)
            if not isinstance(self.day, int) or not 1 <= self.day <= limit:
                raise CqlEvaluationError(f"day {self.day} is out of range 1..{limit}")

    @property
    def precision(self) -> Precision:
        return Precision.DAY if self.day is not None else Precision.MONTH if self.month is not None else Precision.YEAR

    def component(self, precision: Precision) -> int | None:
        """The component at `precision` (None when the value is not that precise)."""
        if precision is Precision.YEAR:
            return self.year
        if precision is Precision.MONTH:
            return self.month
        if precision is Precision.DAY:
            return self.day
        return None

    def components(self) -> tuple[int | None, ...]:
        return (self.year, self.month, self.day)

    def to_cql_string(self) -> str:
        """ToString: '2012', '2012-01', '2012-01-31'."""
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        return text

    def __str__(self) -> str:
        return self.to_cql_string()

    def __repr__(self) -> str:
        return "@" + self.to_cql_string()

    def to_datetime(self) -> "DateTime":
        """ToDateTime(Date): same components, no time, offset left to the evaluation default."""
        return DateTime(self.year, self.month, self.day)

    @classmethod
    def from_python(cls, value: _dt.date) -> "Date":
        return cls(value.year, value.month, value.day)

    def to_python(self) -> _dt.date:
        """A python date, filling unknown components with their minimum."""
        return _dt.date(self.year, self.month or 1, self.day or 1)


@dataclass(frozen=True, slots=True)
class DateTime:
    """CQL System.DateTime: year..millisecond (a prefix) and a timezone offset in Decimal hours.

    offset None means "not given": the value stands for the evaluation's default offset
    (`DEFAULT_OFFSET`) in comparisons and arithmetic, and is printed without an offset.
    """

    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None
    millisecond: int | None = None
    offset: Decimal | None = None

    def __post_init__(self) -> None:
        for name in _DT_FIELDS:
            if name != "day":
                _check_range(name, getattr(self, name))
        _check_prefix("DateTime", _DT_FIELDS, self.components())
        if self.day is not None:
            assert self.month is not None
            limit = _days_in_month(self.year, self.month)
            if not isinstance(self.day, int) or not 1 <= self.day <= limit:
                raise CqlEvaluationError(f"day {self.day} is out of range 1..{limit}")
        if self.offset is not None:
            if not isinstance(self.offset, Decimal):
                object.__setattr__(self, "offset", Decimal(str(self.offset)))
            assert self.offset is not None
            if not Decimal(-14) <= self.offset <= Decimal(14):
                raise CqlEvaluationError(f"timezone offset {self.offset} is out of range -14..14")

    def components(self) -> tuple[int | None, ...]:
        return (self.year, self.month, self.day, self.hour, self.minute, self.second, self.millisecond)

    @property
    def precision(self) -> Precision:
        result = Precision.YEAR
        for value, precision in zip(self.components(), _DT_PRECISIONS):
            if value is None:
                break
            result = precision
        return result

    def component(self, precision: Precision) -> int | None:
        if precision is Precision.WEEK:
            return None
        return self.components()[_DT_PRECISIONS.index(precision)]

    @property
    def effective_offset(self) -> Decimal:
        """The offset in hours, the evaluation default when none was given."""
        return self.offset if self.offset is not None else default_offset()

    def date_part(self) -> Date:
        return Date(self.year, self.month, self.day)

    def time_string(self) -> str:
        parts: list[str] = []
        if self.hour is not None:
            parts.append(f"{self.hour:02d}")
        if self.minute is not None:
            parts.append(f":{self.minute:02d}")
        if self.second is not None:
            parts.append(f":{self.second:02d}")
        if self.millisecond is not None:
            parts.append(f".{self.millisecond:03d}")
        return "".join(parts)

    def to_cql_string(self) -> str:
        """ToString: '2012-01-01T10:00:00.000+01:00' (date-only values print as '2012-01-01')."""
        text = self.date_part().to_cql_string()
        if self.hour is not None:
            text += "T" + self.time_string()
        if self.offset is not None and self.hour is not None:
            text += _format_offset(self.offset)
        return text

    def __str__(self) -> str:
        return self.to_cql_string()

    def __repr__(self) -> str:
        """The CQL literal: '@2012-01-01T', '@2012-01-01T10:00:00.000+01:00'."""
        text = "@" + self.date_part().to_cql_string() + "T"
        if self.hour is not None:
            text += self.time_string()
        if self.offset is not None and self.hour is not None:
            text += _format_offset(self.offset)
        return text

    @classmethod
    def from_python(cls, value: _dt.datetime, precision: Precision = Precision.MILLISECOND) -> "DateTime":
        """A python datetime (aware keeps its offset; naive has none) truncated to `precision`."""
        offset: Decimal | None = None
        if value.tzinfo is not None:
            delta = value.utcoffset()
            assert delta is not None
            offset = Decimal(int(delta.total_seconds())) / Decimal(3600)
            offset = offset.quantize(Decimal("0.01")).normalize() if offset % 1 else Decimal(int(offset))
        full = (value.year, value.month, value.day, value.hour, value.minute, value.second,
                value.microsecond // 1000)
        keep = _DT_PRECISIONS.index(precision) + 1 if precision is not Precision.WEEK else 3
        parts: list[int | None] = list(full[:keep]) + [None] * (7 - keep)
        return cls(parts[0] or 1, parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], offset)

    def to_python(self, fill_offset: bool = True) -> _dt.datetime:
        """An aware python datetime, unknown components at their minimum (offset: given or default)."""
        offset = self.effective_offset if fill_offset else (self.offset or Decimal(0))
        tz = _dt.timezone(_dt.timedelta(minutes=int(offset * 60)))
        return _dt.datetime(self.year, self.month or 1, self.day or 1, self.hour or 0, self.minute or 0,
                            self.second or 0, (self.millisecond or 0) * 1000, tzinfo=tz)

    def with_components(self, parts: Iterable[int | None], offset: Decimal | None) -> "DateTime":
        values = list(parts) + [None] * 7
        return DateTime(values[0] or 1, values[1], values[2], values[3], values[4], values[5], values[6], offset)


@dataclass(frozen=True, slots=True)
class Time:
    """CQL System.Time: hour with optional minute, second, millisecond (no timezone in CQL 1.5)."""

    hour: int
    minute: int | None = None
    second: int | None = None
    millisecond: int | None = None

    def __post_init__(self) -> None:
        for name in _TIME_FIELDS:
            _check_range(name, getattr(self, name))
        _check_prefix("Time", _TIME_FIELDS, self.components())

    def components(self) -> tuple[int | None, ...]:
        return (self.hour, self.minute, self.second, self.millisecond)

    @property
    def precision(self) -> Precision:
        result = Precision.HOUR
        for value, precision in zip(self.components(), _TIME_PRECISIONS):
            if value is None:
                break
            result = precision
        return result

    def component(self, precision: Precision) -> int | None:
        if precision not in _TIME_PRECISIONS:
            return None
        return self.components()[_TIME_PRECISIONS.index(precision)]

    def to_cql_string(self) -> str:
        """ToString: '10', '10:30', '10:30:00', '10:30:00.000'."""
        text = f"{self.hour:02d}"
        if self.minute is not None:
            text += f":{self.minute:02d}"
        if self.second is not None:
            text += f":{self.second:02d}"
        if self.millisecond is not None:
            text += f".{self.millisecond:03d}"
        return text

    def __str__(self) -> str:
        return self.to_cql_string()

    def __repr__(self) -> str:
        return "@T" + self.to_cql_string()

    @classmethod
    def from_python(cls, value: _dt.time) -> "Time":
        return cls(value.hour, value.minute, value.second, value.microsecond // 1000)


TemporalValue = Union[Date, DateTime, Time]


@dataclass(frozen=True, slots=True)
class Quantity:
    """CQL System.Quantity: a Decimal value and a UCUM unit (or a CQL calendar duration word); '1' = unity."""

    value: Decimal
    unit: str = "1"

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal):
            if isinstance(self.value, bool) or not isinstance(self.value, (int, float, str)):
                raise CqlEvaluationError(f"Quantity value must be a number, got {self.value!r}")
            object.__setattr__(self, "value", Decimal(str(self.value)))
        if self.unit is None or self.unit == "":
            object.__setattr__(self, "unit", "1")

    def to_cql_string(self) -> str:
        """ToString: "5.5 'mg'" (the unit quoted as in a CQL literal)."""
        return f"{format_decimal(self.value)} '{self.unit}'"

    def __str__(self) -> str:
        return self.to_cql_string()

    def __repr__(self) -> str:
        return self.to_cql_string()


@dataclass(frozen=True, slots=True)
class Ratio:
    """CQL System.Ratio: numerator and denominator Quantities (e.g. 1:128 titre)."""

    numerator: Quantity
    denominator: Quantity

    def to_cql_string(self) -> str:
        return f"{self.numerator.to_cql_string()}:{self.denominator.to_cql_string()}"

    def __str__(self) -> str:
        return self.to_cql_string()

    def __repr__(self) -> str:
        return self.to_cql_string()


@dataclass(frozen=True, slots=True)
class Code:
    """CQL System.Code: code and system (equivalence), version and display (equality)."""

    code: str | None
    system: str | None = None
    version: str | None = None
    display: str | None = None

    def __repr__(self) -> str:
        parts = [f"code: {_quote(self.code)}"]
        if self.system is not None:
            parts.append(f"system: {_quote(self.system)}")
        if self.version is not None:
            parts.append(f"version: {_quote(self.version)}")
        if self.display is not None:
            parts.append(f"display: {_quote(self.display)}")
        return "Code { " + ", ".join(parts) + " }"


@dataclass(frozen=True, slots=True)
class Concept:
    """CQL System.Concept: a tuple of Codes meaning the same thing, and an optional display."""

    codes: tuple[Code, ...] = ()
    display: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.codes, tuple):
            object.__setattr__(self, "codes", tuple(self.codes))

    def __repr__(self) -> str:
        inner = "codes: {" + ", ".join(repr(code) for code in self.codes) + "}"
        if self.display is not None:
            inner += f", display: {_quote(self.display)}"
        return "Concept { " + inner + " }"


def _quote(text: str | None) -> str:
    if text is None:
        return "null"
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True, slots=True)
class Interval:
    """CQL Interval<T>: low/high bounds with closed flags.

    A null bound means: closed -> the interval reaches the minimum/maximum of the point type (unbounded);
    open -> the bound is unknown. `point_type` is the CQL name of T ('Integer', 'Long', 'Decimal',
    'Quantity', 'Date', 'DateTime', 'Time') when known; when omitted it is inferred from a bound.
    """

    low: Any
    high: Any
    low_closed: bool = True
    high_closed: bool = True
    point_type: str | None = None

    def __post_init__(self) -> None:
        if self.point_type is None:
            inferred = point_type_of(self.low) or point_type_of(self.high)
            if inferred is not None:
                object.__setattr__(self, "point_type", inferred)

    def __repr__(self) -> str:
        left = "[" if self.low_closed else "("
        right = "]" if self.high_closed else ")"
        return f"Interval{left}{_literal(self.low)}, {_literal(self.high)}{right}"

    __str__ = __repr__


def point_type_of(value: Any) -> str | None:
    """The CQL type name of a point value (None for null or a non-point type)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, Long):
        return "Long"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, Decimal):
        return "Decimal"
    if isinstance(value, Quantity):
        return "Quantity"
    if isinstance(value, DateTime):
        return "DateTime"
    if isinstance(value, Date):
        return "Date"
    if isinstance(value, Time):
        return "Time"
    return None


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, list):
        return "{" + ", ".join(_literal(item) for item in value) + "}"
    return repr(value)


class Tuple(Mapping[str, Any]):
    """CQL Tuple: an ordered mapping of element names to values (Python == is structural, not CQL =)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None, **kwargs: Any) -> None:
        data: dict[str, Any] = dict(items) if items is not None else {}
        data.update(kwargs)
        self._items = data

    @classmethod
    def owning(cls, items: dict[str, Any]) -> "Tuple":
        """A Tuple over `items` itself, not a copy: for a dict built just for it (the engine's selectors)."""
        made = cls.__new__(cls)
        made._items = items
        return made

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    # The Mapping mixins go through __getitem__/__iter__ one element at a time; these read the dict directly.
    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def items(self) -> ItemsView[str, Any]:
        return self._items.items()

    def values(self) -> ValuesView[Any]:
        return self._items.values()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tuple):
            return NotImplemented
        return list(self._items.items()) == list(other._items.items())

    def __hash__(self) -> int:
        return hash(tuple(self._items.keys()))

    def __repr__(self) -> str:
        if not self._items:
            return "Tuple { }"
        inner = ", ".join(f"{key}: {_literal(value)}" for key, value in self._items.items())
        return "Tuple { " + inner + " }"

