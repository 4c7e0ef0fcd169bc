"""Unit tests of the CQL interval operators over numeric, Quantity and date/time points (null bounds included)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.operators import intervals as iv
from cds_service.cql.types import Date, DateTime, Interval, Long, Quantity, Time

I = Interval  # noqa: E741
DT = DateTime


def d(text: str) -> Decimal:
    return Decimal(text)


def g(text: str) -> Quantity:
    return Quantity(Decimal(text), "g")


UNKNOWN_BOTH = I(None, None, False, False)
UNTYPED = I(None, None)


def test_selector_rejects_inverted_bounds() -> None:
    with pytest.raises(CqlEvaluationError):
        iv.interval(5, 5, True, False)
    with pytest.raises(CqlEvaluationError):
        iv.interval(DT(2012, 2), DT(2012, 1))
    assert iv.interval(5, 5) == I(5, 5)


@pytest.mark.parametrize(
    ("interval", "start", "end"),
    [
        (I(1, 10, False, False), 2, 9),
        (I(Long(1), Long(10), True, False), Long(1), Long(9)),
        (I(d("1.0"), d("2.0"), False, True), d("1.00000001"), d("2.0")),
        (I(g("1.0"), g("2.0"), True, False), g("1.0"), g("1.99999999")),
        (I(Date(2012, 1, 1), Date(2012, 2, 1), True, False), Date(2012, 1, 1), Date(2012, 1, 31)),
        (I(DT(2012, 1), DT(2012, 3), False, True), DT(2012, 2), DT(2012, 3)),
        (I(Time(10), Time(12), True, False), Time(10), Time(11)),
        (I(None, 5, True, True, "Integer"), -(2**31), 5),
        (I(None, 5, False, True), None, 5),
        (I(1, None, True, True, "Integer"), 1, 2**31 - 1),
    ],
)
def test_start_and_end_per_point_type(interval: Interval, start: object, end: object) -> None:
    assert iv.start(interval) == start
    assert iv.end(interval) == end


def test_membership() -> None:
    assert iv.contains(I(1, 10), 10) is True
    assert iv.contains(I(1, 10, True, False), 10) is False
    assert iv.contains(I(1, 10), None) is None
    assert iv.contains(None, 5) is False
    assert iv.in_(5, UNTYPED) is False
    assert iv.in_(DT(2012, 1, 7), I(DT(2012, 1, 5), None)) is True
    assert iv.in_(5, I(None, 10, False, True)) is None  # unknown start
    assert iv.in_(11, I(None, 10, False, True)) is False  # but certainly not past the end
    assert iv.in_(g("1.0"), I(g("1.0"), g("10.0"))) is True
    assert iv.in_(Quantity(Decimal(500), "mg"), I(g("0.1"), g("1.0"))) is True  # unit conversion
    assert iv.in_(DT(2012, 1), I(DT(2012, 1, 5), DT(2012, 2, 1))) is None  # imprecise point


def test_proper_membership_with_precision() -> None:
    day = I(Time(12, 0, 0, 1), Time(21, 59, 59, 999))
    assert iv.proper_contains(I(Time(12, 0, 0, 0), Time(21, 59, 59, 999)), Time(12, 0, 0, 0)) is False
    assert iv.proper_contains(day, Time(12, 0, 0)) is None
    assert iv.proper_contains(day, Time(12, 0, 0), "second") is False
    assert iv.proper_in(Time(12, 0, 1), I(Time(12, 0, 0, 0), Time(21, 59, 59, 999)), "second") is True


def test_inclusion() -> None:
    assert iv.includes(I(1, 10), I(4, 10)) is True
    assert iv.includes(I(1, 10), None) is None
    assert iv.included_in(None, I(1, 10)) is None
    assert iv.includes(I(1, 10), 5) is True
    sept = I(DT(2017, 9, 1, 0, 0, 0), DT(2017, 9, 1, 0, 0, 0))
    whole = I(DT(2017, 9, 1, 0, 0, 0, 0), DT(2017, 12, 30, 23, 59, 59, 999))
    assert iv.included_in(sept, whole) is None
    assert iv.included_in(sept, whole, "day") is True
    assert iv.proper_includes(I(None, None, True, True, "Integer"), I(1, 10)) is True
    assert iv.proper_included_in(I(1, 10), I(None, None, True, True, "Integer")) is True
    assert iv.proper_includes(I(1, 10), I(1, 10)) is False
    assert iv.proper_includes(I(d("1.0"), d("10.0")), I(d("4.0"), d("10.0"))) is True


def test_equality_normalises_closedness() -> None:
    assert iv.equal(I(1, 10), I(1, 11, True, False)) is True
    assert iv.equal(I(1, 10), I(1, 11)) is False
    assert iv.equal(None, I(1, 2)) is None
    assert iv.equivalent(None, None) is True
    assert iv.equivalent(I(DT(2012, 1, 7), DT(2012, 1, 14)), I(DT(2012, 1, 7), DT(2012, 1, 14))) is True
    assert iv.not_equal(I(Time(10, 0, 0, 0), Time(19)), I(Time(10, 10, 0, 0), Time(19))) is True


def test_before_after_with_points_and_precision() -> None:
    assert iv.before(I(1, 10), 11) is True
    assert iv.before(9, I(11, 20)) is True
    assert iv.after(I(11, 20), 12) is False
    assert iv.before(None, I(1, 10)) is None
    assert iv.after(I(g("11.0"), g("20.0")), I(g("1.0"), g("10.0"))) is True
    assert iv.on_or_after(I(Date(2012, 12, 1), Date(2013, 12, 1)), Date(2012, 11, 15), "month") is True
    assert iv.on_or_before(I(Date(2012, 10, 1), Date(2012, 11, 1)), Date(2012, 11, 15), "month") is True
    assert iv.on_or_after(I(Time(10, 0, 0, 0), Time(19, 59, 59, 999)), I(Time(8, 0, 0, 0), Time(11, 59, 59, 999)), "hour") is False
    assert iv.on_or_before(I(4, 6), 6) is True


@pytest.mark.parametrize(
    ("a", "b", "overlaps", "before", "after"),
    [
        (I(1, 10), I(4, 10), True, True, False),
        (I(4, 10), I(4, 10), True, False, False),
        (I(4, 10), I(4, 10, False, True), True, True, False),
        (I(4, 10, True, False), I(10, 20), False, False, False),
        (I(4, 10), I(9, 20, False, True), True, True, False),
        (I(4, 15), I(1, 10), True, False, True),
        (I(4, 10), I(4, 10, True, False), True, False, True),
        (UNTYPED, I(1, 10), None, None, None),
        (I(DT(2012, 1, 25), DT(2012, 2, 26)), I(DT(2012, 2), DT(2012, 3, 28)), None, None, False),
    ],
)
def test_overlaps_family(a: Interval, b: Interval, overlaps: bool | None, before: bool | None, after: bool | None) -> None:
    assert iv.overlaps(a, b) is overlaps
    assert iv.overlaps_before(a, b) is before
    assert iv.overlaps_after(a, b) is after


def test_meets_family() -> None:
    assert iv.meets_before(I(1, 10), I(11, 20)) is True
    assert iv.meets(I(d("3.01"), d("5.00000001")), I(d("5.00000002"), d("8.50"))) is True
    assert iv.meets(I(DT(2012, 1, 7), DT(2012, 1, 14)), I(DT(2012, 1, 15), DT(2012, 1, 25))) is True
    assert iv.meets(I(None, 5, False, True), I(None, 15, False, False)) is None
    # b ends at 11 or later and a starts at 5 or earlier: they cannot meet that way round
    assert iv.meets_after(I(None, 5, False, True), I(11, None, True, False)) is False
    assert iv.meets(I(Time(4, 59, 59, 999), Time(9, 59, 59, 999)), I(Time(10, 0, 0, 0), Time(19))) is True
    assert iv.meets(I(DT(2012, 1, 7, 10), DT(2012, 1, 14, 10)), I(DT(2012, 1, 15), DT(2012, 1, 25)), "day") is True


def test_starts_and_ends() -> None:
    assert iv.starts(I(d("4.0"), d("10.0")), I(d("4.0"), d("15.0"))) is True
    assert iv.starts(I(1, 10), I(4, 10)) is False
    assert iv.starts(UNTYPED, I(1, 10)) is None
    assert iv.ends(I(g("5.0"), g("10.0")), I(g("1.0"), g("10.0"))) is True
    assert iv.ends(I(1, 10), UNKNOWN_BOTH) is None


def test_union_intersect_except() -> None:
    assert iv.union(I(1, 10), I(4, 15)) == I(1, 15)
    assert iv.union(I(1, 10), I(11, 15)) == I(1, 15)  # meeting intervals join
    assert iv.union(I(1, 10), I(44, 50)) is None
    assert iv.union(UNTYPED, I(1, 10)) is None
    assert iv.union(I(1, 5, True, False), I(3, 8, True, False)) == I(1, 8, True, False)
    assert iv.intersect(I(1, 10), I(5, None, True, False)) == I(5, None, True, False)
    assert iv.intersect(I(DT(2012, 1, 7), DT(2012, 1, 14)), I(DT(2012, 1, 7), DT(2012, 1, 10))) == I(DT(2012, 1, 7), DT(2012, 1, 10))
    assert iv.intersect(I(g("1.0"), g("10.0")), I(g("11.0"), g("20.0"))) is None
    assert iv.except_(I(1, 10), I(3, 7)) is None  # would be two intervals
    assert iv.except_(I(1, 4), I(3, 6)) == I(1, 2)
    assert iv.except_(I(d("1.0"), d("10.0")), I(d("4.0"), d("10.0"))) == I(d("1.0"), d("3.99999999"))
    assert iv.except_(I(Time(8, 59, 59, 999), Time(11, 59, 59, 999)), I(Time(5, 59, 59, 999), Time(10, 59, 59, 999))) == I(
        Time(11, 0, 0, 0), Time(11, 59, 59, 999))
    assert iv.except_(I(1, 4), I(6, 8)) == I(1, 4)
    assert iv.except_(UNTYPED, UNTYPED) is None


def test_width_size_point_from() -> None:
    assert iv.width(I(1, 10)) == 9
    assert iv.width(I(d("4.0"), d("15.0"))) == d("11.0")
    assert iv.width(I(g("5.0"), g("10.0"))) == g("5.0")
    assert iv.size(I(1, 10)) == 10
    assert iv.point_from(I(g("1.0"), g("1.0"))) == g("1.0")
    with pytest.raises(CqlEvaluationError):
        iv.width(I(DT(2012, 1, 5), DT(2012, 1, 25)))
    with pytest.raises(CqlEvaluationError):
        iv.point_from(I(1, 2))


def test_collapse() -> None:
    assert iv.collapse([I(1, 5), I(3, 7), I(12, 19), I(7, 10)]) == [I(1, 10), I(12, 19)]
    assert iv.collapse([I(1, 2), I(3, 7), I(10, 19), I(7, 10)]) == [I(1, 19)]
    assert iv.collapse([I(d("4.0"), d("6.0")), I(d("6.00000001"), d("8.0"))]) == [I(d("4.0"), d("8.0"))]
    assert iv.collapse([UNKNOWN_BOTH, None]) == []
    assert iv.collapse(None) is None
    assert iv.collapse([I(DT(2012, 1, 1), DT(2012, 1, 15)), I(DT(2012, 1, 10), DT(2012, 1, 25)),
                        I(DT(2012, 5, 10), DT(2012, 5, 25)), I(DT(2012, 5, 20), DT(2012, 5, 30))]) == [
        I(DT(2012, 1, 1), DT(2012, 1, 25)), I(DT(2012, 5, 10), DT(2012, 5, 30))]
    # a gap of up to `per` is bridged
    assert iv.collapse([I(Date(2020, 1, 1), Date(2020, 1, 5)), I(Date(2020, 1, 8), Date(2020, 1, 9))],
                       Quantity(Decimal(3), "days")) == [I(Date(2020, 1, 1), Date(2020, 1, 9))]


def test_expand() -> None:
    assert iv.expand([None]) == []
    assert iv.expand(I(1, 10, True, False)) == list(range(1, 10))
    assert iv.expand(I(1, 10), Quantity(Decimal(2), "1")) == [1, 3, 5, 7, 9]
    assert iv.expand([I(1, 10)], Quantity(Decimal(2), "1")) == [I(1, 2), I(3, 4), I(5, 6), I(7, 8), I(9, 10)]
    assert iv.expand(I(Date(2018, 1, 1), Date(2018, 1, 4)), Quantity(Decimal(2), "days")) == [Date(2018, 1, 1), Date(2018, 1, 3)]
    assert iv.expand([I(Date(2018, 1, 1), Date(2018, 1, 4))], Quantity(Decimal(2), "days")) == [
        I(Date(2018, 1, 1), Date(2018, 1, 2)), I(Date(2018, 1, 3), Date(2018, 1, 4))]
    assert iv.expand(I(Time(10, 0), Time(12, 30), True, False), Quantity(Decimal(1), "hour")) == [Time(10), Time(11), Time(12)]
    assert iv.expand(I(Time(10), Time(10)), Quantity(Decimal(1), "minute")) == []
    assert iv.expand(I(d("10.0"), d("12.5")), Quantity(Decimal(1), "1")) == [10, 11, 12]


def test_untyped_all_null_interval() -> None:
    assert iv.in_(5, UNTYPED) is False
    assert iv.overlaps(UNTYPED, I(1, 10)) is None
    assert iv.proper_included_in(I(1, 10), UNTYPED) is True  # takes Integer from the other side
    assert iv.includes(UNTYPED, I(1, 10)) is True
