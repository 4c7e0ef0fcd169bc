"""Unit tests of the CQL date/time operators: precision-aware comparison, calendar arithmetic, between."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.operators import temporal as t
from cds_service.cql.types import DEFAULT_OFFSET, Date, DateTime, Interval, Quantity, Time

DT = DateTime


def q(value: int | str, unit: str) -> Quantity:
    return Quantity(Decimal(str(value)), unit)


# -- comparison -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (DT(2012, 2, 12), DT(2012, 2, 10), 1),
        (DT(2014), DT(2014, 2, 15), None),  # 2014 may or may not be before Feb 15th
        (DT(2013), DT(2014, 2, 15), -1),  # decided at the year already
        (DT(2014), DT(2014), 0),
        (Time(10, 0, 0, 1), Time(10, 0, 0, 0), 1),
        (Time(12, 0, 0), Time(12, 0, 0, 1), None),  # seconds vs milliseconds: unknown
        (Date(2012, 1, 1), DT(2012, 1, 1, 10), None),  # Date promoted to DateTime
        (Date(2012, 1, 1), DT(2012, 1, 2, 10), -1),
    ],
)
def test_compare(a: object, b: object, expected: int | None) -> None:
    assert t.compare(a, b) == expected  # type: ignore[arg-type]


def test_comparison_normalises_offsets_and_uses_the_evaluation_default() -> None:
    # 10:20+07:00 is 03:20Z and 08:20+06:00 is 02:20Z
    assert t.after(DT(2012, 3, 10, 10, 20, 0, 999, Decimal(7)), DT(2012, 3, 10, 8, 20, 0, 999, Decimal(6)), "hour")
    assert t.after(DT(2012, 3, 10, 10, 20, 0, 999, Decimal(7)), DT(2012, 3, 10, 10, 20, 0, 999, Decimal(6)), "hour") is False
    # 09:00 without an offset is 09:00 in the evaluation's offset; at -05:00 that is 14:00Z
    token = DEFAULT_OFFSET.set(Decimal(-5))
    try:
        assert t.equal(DT(2020, 1, 1, 9, 0), DT(2020, 1, 1, 14, 0, offset=Decimal(0))) is True
    finally:
        DEFAULT_OFFSET.reset(token)
    assert t.equal(DT(2020, 1, 1, 9, 0), DT(2020, 1, 1, 14, 0, offset=Decimal(0))) is False


def test_comparison_with_a_precision() -> None:
    assert t.same_as(DT(2014, 10, 10), DT(2014, 10, 11), "day") is False
    assert t.same_as(DT(2014, 10), DT(2014, 10, 12), "day") is None
    assert t.same_as(Time(23, 25, 25, 555), Time(23, 55, 25, 900), "hour") is True
    assert t.same_or_before(DT(2014, 8), DT(2014, 9), "month") is True
    assert t.same_or_after(DT(2014, 12, 20), DT(2014, 12), "day") is None
    assert t.before(DT(2004, 10, 1), DT(2004, 10, 10), "day") is True
    assert t.after(DT(2005, 10, 10), DT(2005, 9), "day") is True  # decided at the month
    assert t.same_or_after(DT(2017, 12, 21, 2, 0, 0, 0), DT(2017, 12, 20, 11, 0, 0, 0)) is True
    with pytest.raises(CqlEvaluationError):
        t.same_as(Time(10), Time(10), "day")


def test_equality_versus_equivalence() -> None:
    assert t.equal(DT(2012, 1, 1), DT(2012, 1, 1, 0)) is None
    assert t.equivalent(DT(2012, 1, 1), DT(2012, 1, 1, 0)) is False
    assert t.equivalent(DT(2012, 1, 1), DT(2012, 1, 1)) is True
    assert t.equivalent(None, None) is True
    assert t.equivalent(DT(2012), None) is False
    assert t.equal(DT(2012), None) is None
    assert t.equal(DT(2014, 1, 25, 14, 30, 14, 559, Decimal(1)), DT(2014, 1, 25, 13, 30, 14, 559, Decimal(0))) is True


def test_null_in_null_out() -> None:
    assert t.compare(None, DT(2012)) is None
    assert t.add(None, q(1, "day")) is None
    assert t.add(DT(2012), None) is None
    assert t.duration_between(DT(2012), None, "years") is None
    assert t.date_time_component_from(None, "year") is None


# -- arithmetic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "quantity", "expected"),
    [
        (DT(2005, 5, 10), q(10, "months"), DT(2006, 3, 10)),
        (DT(2012, 2, 29), q(1, "year"), DT(2013, 2, 28)),  # leap day clamps
        (DT(2012, 1, 31), q(1, "month"), DT(2012, 2, 29)),  # month end clamps
        (DT(2013, 3, 31), q(-1, "month"), DT(2013, 2, 28)),
        (DT(2018, 5, 23), q(52, "weeks"), DT(2019, 5, 22)),
        (DT(2024, 2, 28), q(52, "weeks"), DT(2025, 2, 26)),
        (DT(2005, 5, 10), q(5, "hours"), DT(2005, 5, 10)),  # truncated to the value's precision
        (DT(2005, 5, 10), q(25, "hours"), DT(2005, 5, 11)),
        (DT(2014), q(730, "days"), DT(2016)),
        (Date(2014), q(25, "months"), Date(2016)),
        (Date(2014, 6), q(-33, "days"), Date(2014, 5)),
        (DT(2016, 6, 10, 5, 5, 5, 5), q(-6, "milliseconds"), DT(2016, 6, 10, 5, 5, 4, 999)),
        (DT(2016, 6, 10, 5, 5, 5), q(55, "seconds"), DT(2016, 6, 10, 5, 6, 0)),
        (DT(2012, 1, 1, 10, 0, 0, 0, Decimal(1)), q(1, "h"), DT(2012, 1, 1, 11, 0, 0, 0, Decimal(1))),
        (DT(2012, 1, 1), q(1, "a"), DT(2013, 1, 1)),
        (Time(15, 59, 59, 999), q(1, "minute"), Time(16, 0, 59, 999)),
        (Time(15, 59, 59, 999), q(1, "milliseconds"), Time(16, 0, 0, 0)),
        (Time(15, 59, 59, 999), q(300, "minutes"), Time(20, 59, 59, 999)),
    ],
)
def test_add(value: object, quantity: Quantity, expected: object) -> None:
    assert t.add(value, quantity) == expected  # type: ignore[arg-type]


def test_subtract_and_range_errors() -> None:
    assert t.subtract(DT(2005, 5, 10), q(6, "months")) == DT(2004, 11, 10)
    assert t.subtract(DT(2024, 3, 1), q(52, "weeks")) == DT(2023, 3, 3)
    assert t.subtract(Time(15, 59, 59, 0), q(1, "milliseconds")) == Time(15, 59, 58, 999)
    with pytest.raises(CqlEvaluationError):
        t.add(DT(2005, 10, 10), q(8000, "years"))
    with pytest.raises(CqlEvaluationError):
        t.add(DT(2005, 10, 10), q(1, "mg"))
    with pytest.raises(CqlEvaluationError):
        t.add(Time(10), q(1, "day"))


# -- duration and difference -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "precision", "expected"),
    [
        (DT(2012, 3, 10), DT(2013, 3, 10), "years", 1),
        (DT(2012, 3, 10, 10, 20), DT(2013, 3, 10, 9, 20), "years", 0),  # the year is not complete yet
        (DT(2005, 5), DT(2010, 4), "years", 4),
        (DT(2005), DT(2010), "years", Interval(4, 5)),
        (DT(2014, 1, 15), DT(2014, 2), "days", Interval(16, 44)),  # 15th 23:59:59.999 to Feb 1st
        (Date(2014, 1, 15), Date(2014, 2), "days", Interval(17, 44)),
        (DT(2012, 3, 10, 10, 20), DT(2013, 3, 10, 10, 20), "years", 1),  # equally precise: exact
        (DT(2005), DT(2006, 5), "months", Interval(4, 16)),
        (DT(2010, 10, 12, 12, 5), DT(2008, 8, 15, 8, 8), "days", -788),
        (DT(2012, 3, 10, 22, 5, 9), DT(2012, 3, 20, 7, 19, 33), "weeks", 1),
        (DT(2012, 1, 31), DT(2012, 2, 29), "months", 1),
        (Time(20, 26, 15, 555), Time(23, 25, 15, 555), "hours", 2),
        (Time(6), Time(7, 0, 0), "hours", 1),
        (DT(2017, 3, 12, 0, 0, 0, None, Decimal(-7)), DT(2017, 3, 13, 0, 0, 0, None, Decimal(-6)), "days", 0),
        (DT(2017, 11, 5, 1, 30, 0, 0, Decimal(-6)), DT(2017, 11, 5, 1, 15, 0, 0, Decimal(-7)), "minutes", 45),
    ],
)
def test_duration_between(a: object, b: object, precision: str, expected: object) -> None:
    assert t.duration_between(a, b, precision) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "precision", "expected"),
    [
        (DT(2000), DT(2005, 12), "years", 5),
        (DT(2000, 10, 15, 10, 30), DT(2000, 10, 25, 10, 0), "days", 10),
        (DT(2000, 10, 10, 10, 5, 45, 500, Decimal(-6)), DT(2000, 10, 10, 10, 5, 45, 900, Decimal(-7)), "milliseconds", 3600400),
        (DT(2000, 10, 15), DT(2000, 10, 28), "weeks", 1),
        (DT(2016), DT(1998), "years", -18),
        (DT(2012, 12, 31, 23), DT(2013, 1, 1, 1), "years", 1),  # one boundary crossed in 2 hours
        (Time(20, 20, 15, 555), Time(20, 20, 15, 550), "milliseconds", -5),
        (DT(2017, 3, 12, 0, 0, 0, None, Decimal(-7)), DT(2017, 3, 13, 0, 0, 0, None, Decimal(-6)), "days", 1),
        (DT(2012, 5), DT(2012, 6, 15), "days", Interval(15, 45)),
    ],
)
def test_difference_between(a: object, b: object, precision: str, expected: object) -> None:
    assert t.difference_between(a, b, precision) == expected  # type: ignore[arg-type]


# -- components, boundaries, successor -------------------------------------------------------------


def test_components_and_conversions() -> None:
    value = DT(2003, 10, 29, 20, 50, 33, 955, Decimal(1))
    assert t.date_time_component_from(value, "year") == 2003
    assert t.date_time_component_from(value, "millisecond") == 955
    assert t.date_time_component_from(DT(2003), "month") is None
    assert t.date_time_component_from(value, "timezoneoffset") == Decimal(1)
    assert t.timezone_offset_from(DT(2003, 1, 1, 1)) == Decimal(0)  # the evaluation default
    assert t.date_from(value) == Date(2003, 10, 29)
    assert t.time_from(value) == Time(20, 50, 33, 955)
    assert t.time_from(DT(2003, 10, 29)) is None
    assert t.date_time_component_from(Time(23, 20, 15, 555), "second") == 15


def test_precision_digits_and_boundaries() -> None:
    assert t.precision_digits(Date(2014)) == 4
    assert t.precision_digits(DT(2014, 1, 5, 10, 30, 0, 0)) == 17
    assert t.precision_digits(Time(10, 30, 0, 0)) == 9
    assert t.precision_digits(Decimal("1.58700")) == 5
    assert t.low_boundary(Date(2014), 6) == Date(2014, 1)
    assert t.high_boundary(Date(2014), 8) == Date(2014, 12, 31)
    assert t.high_boundary(DT(2016, 2), 8) == DT(2016, 2, 29)
    assert t.low_boundary(DT(2014, 1, 1, 8), 17) == DT(2014, 1, 1, 8, 0, 0, 0)
    assert t.high_boundary(Time(10, 30), 9) == Time(10, 30, 59, 999)


@pytest.mark.parametrize(
    ("value", "after", "before"),
    [
        (1, 2, 0),
        (Decimal("1.0"), Decimal("1.00000001"), Decimal("0.99999999")),
        (Quantity(Decimal("1.0"), "cm"), Quantity(Decimal("1.00000001"), "cm"), Quantity(Decimal("0.99999999"), "cm")),
        (DT(2000, 1, 1), DT(2000, 1, 2), DT(1999, 12, 31)),
        (Date(2000, 3), Date(2000, 4), Date(2000, 2)),
        (Time(12, 0, 0, 0), Time(12, 0, 0, 1), Time(11, 59, 59, 999)),
    ],
)
def test_successor_and_predecessor(value: object, after: object, before: object) -> None:
    assert t.successor(value) == after
    assert t.predecessor(value) == before


@pytest.mark.parametrize("value", [Time(0, 0, 0, 0), DT(9999, 12, 31, 23, 59, 59, 999), 2**31 - 1])
def test_successor_overflow_is_an_error(value: object) -> None:
    with pytest.raises(CqlEvaluationError):
        t.successor(value) if not isinstance(value, Time) else t.predecessor(value)


def test_min_and_max_values() -> None:
    assert t.min_value("Integer") == -(2**31)
    assert t.max_value("System.DateTime") == DT(9999, 12, 31, 23, 59, 59, 999)
    assert t.min_value("Date") == Date(1, 1, 1)
    with pytest.raises(CqlEvaluationError):
        t.max_value("String")


def test_clock_values_come_from_the_evaluation_timestamp() -> None:
    clock = dt.datetime(2026, 5, 1, 23, 30, 0, 123000, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert t.now(clock) == DT(2026, 5, 1, 23, 30, 0, 123, Decimal(-4))
    assert t.today(clock) == Date(2026, 5, 1)
    assert t.time_of_day(clock) == Time(23, 30, 0, 123)
    with pytest.raises(CqlEvaluationError):
        t.now(dt.datetime(2026, 5, 1))


def test_uncertain_durations_combine_and_compare() -> None:
    from cds_service.cql.types import uncertainty as u

    days = t.duration_between(DT(2014, 1, 15), DT(2014, 2), "days")
    assert days == Interval(16, 44)
    assert u.add(days, days) == Interval(32, 88)
    assert u.multiply(days, days) == Interval(256, 1936)
    assert u.subtract(days, 17) == Interval(-1, 27)
    months = t.duration_between(DT(2005), DT(2006, 7), "months")
    assert u.greater(months, 5) is True
    assert u.less(months, 24) is True
    assert u.less(months, 10) is None
    assert u.equal(months, 100) is False
    assert u.add(None, days) is None
