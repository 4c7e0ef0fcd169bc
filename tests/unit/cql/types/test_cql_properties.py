"""Property tests (Hypothesis) of the date/time and interval algebra: symmetry, inverse and containment laws."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cql.operators import intervals as iv
from cds_service.cql.operators import temporal as t
from cds_service.cql.types import DateTime, Interval, Precision, Quantity

datetimes = st.datetimes().map(lambda value: DateTime.from_python(value))
offsets = st.sampled_from([Decimal(0), Decimal(-5), Decimal("5.5"), Decimal(9)])
modern = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1))
aware_datetimes = st.builds(
    lambda value, offset: DateTime.from_python(value).with_components(DateTime.from_python(value).components(), offset),
    modern,
    offsets,
)
bounds = st.integers(min_value=-50, max_value=50)


@st.composite
def int_intervals(draw: st.DrawFn) -> Interval:
    low = draw(bounds)
    high = draw(st.integers(min_value=low, max_value=low + 30))
    low_closed, high_closed = draw(st.booleans()), draw(st.booleans())
    if low == high:
        low_closed = high_closed = True
    elif high == low + 1 and not low_closed and not high_closed:
        high_closed = True
    return iv.interval(low, high, low_closed, high_closed)


@settings(max_examples=100, deadline=None)
@given(aware_datetimes, aware_datetimes)
def test_ordering_agrees_with_the_instant(a: DateTime, b: DateTime) -> None:
    expected = (a.to_python() > b.to_python()) - (a.to_python() < b.to_python())
    assert t.compare(a, b) == expected
    assert t.equal(a, b) is (expected == 0)


@settings(max_examples=100, deadline=None)
@given(datetimes, datetimes, st.sampled_from(["years", "months", "weeks", "days", "hours", "minutes", "seconds"]))
def test_duration_and_difference_are_antisymmetric(a: DateTime, b: DateTime, unit: str) -> None:
    assert t.duration_between(a, b, unit) == -t.duration_between(b, a, unit)  # type: ignore[operator]
    assert t.difference_between(a, b, unit) == -t.difference_between(b, a, unit)  # type: ignore[operator]


@settings(max_examples=100, deadline=None)
@given(modern, st.integers(min_value=-400, max_value=400), st.sampled_from(["days", "hours", "minutes", "weeks"]))
def test_adding_fixed_durations_is_undone_by_subtracting(value: dt.datetime, amount: int, unit: str) -> None:
    start = DateTime.from_python(value)
    moved = t.add(start, Quantity(Decimal(amount), unit))
    assert t.subtract(moved, Quantity(Decimal(amount), unit)) == start
    assert t.duration_between(start, moved, unit) == amount


@settings(max_examples=100, deadline=None)
@given(modern, st.integers(min_value=-60, max_value=60))
def test_adding_months_never_overshoots_the_month(value: dt.datetime, months: int) -> None:
    start = DateTime.from_python(value, Precision.DAY)
    moved = t.add(start, Quantity(Decimal(months), "months"))
    assert isinstance(moved, DateTime)
    assert (moved.year * 12 + moved.month) - (start.year * 12 + start.month) == months  # type: ignore[operator]
    assert moved.day <= start.day  # type: ignore[operator]


@settings(max_examples=120, deadline=None)
@given(int_intervals(), int_intervals())
def test_interval_relations_match_point_sets(a: Interval, b: Interval) -> None:
    points_a = {p for p in range(-60, 90) if iv.contains(a, p)}
    points_b = {p for p in range(-60, 90) if iv.contains(b, p)}
    assert iv.overlaps(a, b) is bool(points_a & points_b)
    assert iv.overlaps(a, b) is iv.overlaps(b, a)
    assert iv.includes(a, b) is (points_b <= points_a)
    assert iv.proper_includes(a, b) is (points_b < points_a)
    assert iv.equal(a, b) is (points_a == points_b)
    meets = max(points_a) + 1 == min(points_b) or max(points_b) + 1 == min(points_a)
    assert iv.meets(a, b) is meets
    joined = iv.union(a, b)
    if points_a & points_b or meets:
        assert joined is not None and {p for p in range(-60, 90) if iv.contains(joined, p)} == points_a | points_b
    else:
        assert joined is None
    shared = iv.intersect(a, b)
    if points_a & points_b:
        assert shared is not None and {p for p in range(-60, 90) if iv.contains(shared, p)} == points_a & points_b
    else:
        assert shared is None
    rest = iv.except_(a, b)
    difference = points_a - points_b
    if rest is not None:
        assert {p for p in range(-60, 90) if iv.contains(rest, p)} == difference
    else:
        contiguous = bool(difference) and max(difference) - min(difference) + 1 == len(difference)
        assert not contiguous or not difference


# The fast paths must agree with the general algorithms they short-cut.

def _truncate(value: DateTime, precision: int) -> DateTime:
    parts = list(value.components())
    return value.with_components(tuple(p if i < precision else None for i, p in enumerate(parts)), value.offset)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), aware_datetimes), max_size=8), st.sampled_from([3, 4, 7]), st.booleans())
def test_key_sort_orders_like_the_comparator_sort(values: list[DateTime | None], precision: int, desc: bool) -> None:
    from functools import cmp_to_key

    from cds_service.cql.operators import list as lst

    values = [None if v is None else _truncate(v, precision) for v in values]
    key = lst.natural_sort_key(values)
    assert key is not None
    by_key = sorted(values, key=key, reverse=desc)
    by_cmp = sorted(values, key=cmp_to_key(lambda a, b: -lst.cql_compare(a, b) if desc else lst.cql_compare(a, b)))
    assert [None if v is None else v.components() for v in by_key] == \
        [None if v is None else v.components() for v in by_cmp]


@settings(max_examples=200, deadline=None)
@given(aware_datetimes, aware_datetimes, st.sampled_from(["day", "hour", "minute", "week", "month", "year"]),
       st.sampled_from([3, 4, 5, 7]), st.sampled_from([3, 4, 5, 7]))
def test_difference_fast_paths_match_the_uncertainty_algorithm(a: DateTime, b: DateTime, unit: str,
                                                                pa: int, pb: int) -> None:
    a, b = _truncate(a, pa), _truncate(b, pb)
    fast = t.difference_between(a, b, unit)
    # The general algorithm: low and high bounds from the earliest/latest instants each value may denote.
    parts_a, levels = t._parts(a)
    parts_b, _ = t._parts(b)
    wanted = Precision.parse(unit)
    level = Precision.DAY if wanted is Precision.WEEK else wanted
    depth = levels.index(level) + 1
    low = t._boundaries(t._fill(parts_a, depth, True, False), t._fill(parts_b, depth, False, False), wanted, False)
    high = t._boundaries(t._fill(parts_a, depth, False, False), t._fill(parts_b, depth, True, False), wanted, False)
    expected = low if low == high else Interval(min(low, high), max(low, high), True, True, "Integer")
    assert fast == expected
