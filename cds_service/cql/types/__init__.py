"""ENGINE types: the CQL System value classes; import them from here.

Public API (stable; additions only):

    from cds_service.cql.types import (Long, Date, DateTime, Time, Quantity, Ratio, Code, Concept,
                                       Interval, Tuple, Precision, DEFAULT_OFFSET)

Values: null is None, Boolean bool, Integer int, Decimal decimal.Decimal, String str, List list; the
classes below for the rest. All are immutable and hashable except Tuple's values. Python `==` is
structural identity (useful for tests and de-duplication); CQL `=`/`~` live in
`cds_service.cql.types.equality` (`equal`, `equivalent`, `compare`) which return True/False/None.

- Precision: IntEnum YEAR < MONTH < WEEK < DAY < HOUR < MINUTE < SECOND < MILLISECOND;
  Precision.parse('years' | 'month' | 'd' ...) accepts CQL words (singular/plural) and UCUM codes.
- Long(int): int subclass; repr '5L'; arithmetic with Long stays Long; range-checked (64-bit).
- Date(year, month=None, day=None); .precision, .component(p), .to_cql_string() ('2012-01'),
  repr '@2012-01'; invalid components raise CqlEvaluationError.
- DateTime(year, month=None, ..., millisecond=None, offset: Decimal | None = None): offset is hours;
  None = not given -> the evaluation's default offset (DEFAULT_OFFSET ContextVar; the engine sets it
  per evaluation from the request timestamp: `token = DEFAULT_OFFSET.set(Decimal('-5'))`).
  .precision, .effective_offset, .to_cql_string() ('2012-01-01T10:00:00.000+01:00'), repr is the CQL
  literal ('@2012-01-01T', '@2012-01-01T10:00'), from_python(datetime, precision), to_python().
- Time(hour, minute=None, second=None, millisecond=None); repr '@T10:30'.
- Quantity(value: Decimal, unit: str = '1'): unit is UCUM or a calendar word ('days'); ToString
  "5 'mg'". Conversions in `cds_service.cql.types.ucum`.
- Ratio(numerator: Quantity, denominator: Quantity).
- Code(code, system=None, version=None, display=None); Concept(codes: tuple[Code, ...], display=None).
- Interval(low, high, low_closed=True, high_closed=True, point_type=None): point_type 'Integer' |
  'Long' | 'Decimal' | 'Quantity' | 'Date' | 'DateTime' | 'Time', inferred from a bound when omitted.
  A null closed bound is unbounded (min/max of the point type); a null open bound is unknown.
- Tuple(mapping or pairs, **kw): ordered read-only Mapping[str, Any].
- point_type_of(value) -> CQL point type name or None; to_string(value) -> CQL ToString text.
- Submodules: `types.ucum` (unit parsing/conversion, Quantity compare and arithmetic),
  `types.equality` (`equal`, `equivalent`, `compare`, `sort_compare` for every value kind, three-valued),
  `types.uncertainty` (arithmetic/comparison over the Interval results of imprecise durations) and
  `types.guard` (operands of a type an operator does not take raise CqlEvaluationError, never a
  Python TypeError/AttributeError; every public operator function in these modules and in
  `operators.temporal` / `operators.intervals` is guarded).
"""
from cds_service.cql.types.values import (
    DEFAULT_OFFSET,
    Code,
    Concept,
    Date,
    DateTime,
    Interval,
    Long,
    Precision,
    Quantity,
    Ratio,
    TemporalValue,
    Time,
    Tuple,
    default_offset,
    format_decimal,
    point_type_of,
)
from cds_service.cql.types.format import to_string

__all__ = [
    "DEFAULT_OFFSET",
    "Code",
    "Concept",
    "Date",
    "DateTime",
    "Interval",
    "Long",
    "Precision",
    "Quantity",
    "Ratio",
    "TemporalValue",
    "Time",
    "Tuple",
    "default_offset",
    "format_decimal",
    "point_type_of",
    "to_string",
]
