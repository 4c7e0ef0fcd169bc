"""Unit tests of the CQL value classes: construction, validation, precision and CQL formatting."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.types import (
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
    Time,
    Tuple,
    point_type_of,
    to_string,
)


def test_long_keeps_its_type_through_arithmetic_and_prints_with_suffix() -> None:
    total = Long(3) + 4
    assert isinstance(total, Long)
    assert repr(total) == "7L"
    assert str(total) == "7"
    assert isinstance(-Long(2), Long)


def test_long_out_of_range_is_an_evaluation_error() -> None:
    with pytest.raises(CqlEvaluationError):
        Long(2**63)


@pytest.mark.parametrize(
    ("value", "precision", "literal", "text"),
    [
        (Date(2012), Precision.YEAR, "@2012", "2012"),
        (Date(2012, 2), Precision.MONTH, "@2012-02", "2012-02"),
        (Date(2012, 2, 29), Precision.DAY, "@2012-02-29", "2012-02-29"),
        (DateTime(2003), Precision.YEAR, "@2003T", "2003"),
        (DateTime(2003, 10, 29, 20, 50), Precision.MINUTE, "@2003-10-29T20:50", "2003-10-29T20:50"),
        (DateTime(2012, 1, 1, 10, 0, 0, 0, Decimal(1)), Precision.MILLISECOND,
         "@2012-01-01T10:00:00.000+01:00", "2012-01-01T10:00:00.000+01:00"),
        (DateTime(2017, 3, 12, 1, 0, 0, 0, Decimal("-7.0")), Precision.MILLISECOND,
         "@2017-03-12T01:00:00.000-07:00", "2017-03-12T01:00:00.000-07:00"),
        (DateTime(2014, 1, 1, 12, 5, 5, 955, Decimal("5.5")), Precision.MILLISECOND,
         "@2014-01-01T12:05:05.955+05:30", "2014-01-01T12:05:05.955+05:30"),
        (DateTime(2014, 1, 1, 0, 0, 0, 0, Decimal(0)), Precision.MILLISECOND,
         "@2014-01-01T00:00:00.000+00:00", "2014-01-01T00:00:00.000+00:00"),
        (Time(10), Precision.HOUR, "@T10", "10"),
        (Time(23, 59, 59, 999), Precision.MILLISECOND, "@T23:59:59.999", "23:59:59.999"),
    ],
)
def test_temporal_precision_literal_and_tostring(value: object, precision: Precision, literal: str, text: str) -> None:
    assert value.precision is precision  # type: ignore[attr-defined]
    assert repr(value) == literal
    assert to_string(value) == text


@pytest.mark.parametrize(
    "build",
    [
        lambda: Date(2013, 2, 29),
        lambda: Date(2012, 13),
        lambda: DateTime(10000, 12, 31, 23, 59, 59, 999),
        lambda: DateTime(2012, 1, 1, 24),
        lambda: DateTime(2012, None, 3),
        lambda: DateTime(2012, 1, 1, 0, 0, 0, 0, Decimal(15)),
        lambda: Time(24, 59, 59, 999),
        lambda: Time(23, 60),
        lambda: Time(23, 59, 60, 999),
    ],
)
def test_invalid_components_raise_a_cql_error(build: object) -> None:
    with pytest.raises(CqlEvaluationError):
        build()  # type: ignore[operator]


def test_datetime_round_trips_python_datetimes_and_keeps_offsets() -> None:
    aware = dt.datetime(2026, 5, 1, 12, 30, 15, 250000, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    value = DateTime.from_python(aware)
    assert value == DateTime(2026, 5, 1, 12, 30, 15, 250, Decimal(-5))
    assert value.to_python() == aware
    assert DateTime.from_python(aware, Precision.DAY) == DateTime(2026, 5, 1, offset=Decimal(-5))


def test_datetime_without_offset_stands_for_the_evaluation_default() -> None:
    value = DateTime(2020, 1, 1, 8)
    assert value.effective_offset == Decimal(0)
    token = DEFAULT_OFFSET.set(Decimal("-4"))
    try:
        assert value.effective_offset == Decimal(-4)
        assert repr(value) == "@2020-01-01T08"  # printed without an offset it never had
    finally:
        DEFAULT_OFFSET.reset(token)


def test_precision_parse_accepts_cql_words_and_ucum_codes() -> None:
    assert Precision.parse("years") is Precision.YEAR
    assert Precision.parse("Month") is Precision.MONTH
    assert Precision.parse("d") is Precision.DAY
    assert Precision.parse("ms") is Precision.MILLISECOND
    with pytest.raises(CqlEvaluationError):
        Precision.parse("fortnight")


def test_quantity_ratio_code_concept_interval_tuple_formatting() -> None:
    assert to_string(Quantity(Decimal("5.5"), "mg")) == "5.5 'mg'"
    assert Quantity(Decimal(3)).unit == "1"
    assert Quantity(3).value == Decimal(3)  # type: ignore[arg-type]  # ints are accepted and stored as Decimal
    ratio = Ratio(Quantity(Decimal(1), "mg"), Quantity(Decimal(128), "mL"))
    assert to_string(ratio) == "1 'mg':128 'mL'"
    code = Code("M80.08", "http://hl7.org/fhir/sid/icd-10-cm", display="Osteoporotic fracture")
    assert repr(code) == ("Code { code: 'M80.08', system: 'http://hl7.org/fhir/sid/icd-10-cm', "
                          "display: 'Osteoporotic fracture' }")
    assert Concept([code]).codes == (code,)  # type: ignore[arg-type]  # any iterable is kept as a tuple
    assert repr(Interval(1, 10, True, False)) == "Interval[1, 10)"
    assert Interval(Decimal("1.0"), None).point_type == "Decimal"
    assert repr(Tuple({"a": 1, "b": "x"})) == "Tuple { a: 1, b: 'x' }"
    assert list(Tuple([("z", 1), ("a", 2)])) == ["z", "a"]


def test_point_type_names() -> None:
    assert point_type_of(1) == "Integer"
    assert point_type_of(Long(1)) == "Long"
    assert point_type_of(Decimal(1)) == "Decimal"
    assert point_type_of(Quantity(Decimal(1), "g")) == "Quantity"
    assert point_type_of(DateTime(2012)) == "DateTime"
    assert point_type_of(Date(2012)) == "Date"
    assert point_type_of(Time(1)) == "Time"
    assert point_type_of(True) is None
