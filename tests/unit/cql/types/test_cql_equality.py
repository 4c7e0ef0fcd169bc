"""Unit tests of CQL equality, equivalence and ordering across value kinds (three-valued)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.cql.types import Code, Concept, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple
from cds_service.cql.types.equality import compare, equal, equivalent, not_equal

SNOMED = "http://snomed.info/sct"


@pytest.mark.parametrize(
    ("a", "b", "eq", "equiv"),
    [
        (1, Decimal("1.0"), True, True),
        (Long(3), 3, True, True),
        (Decimal("1.0"), Decimal("1.04"), False, True),  # ~ rounds to the less precise scale
        (Decimal("1.5"), Decimal("1.61"), False, False),  # 1.61 rounds to 1.6 at the scale of 1.5
        ("Abel", "abel", False, True),
        ("a  b", "A b", False, True),
        (1, "1", False, False),
        (None, None, None, True),
        (None, 1, None, False),
        (True, True, True, True),
        (Quantity(Decimal(1), "cm"), Quantity(Decimal("0.01"), "m"), True, True),
        (Ratio(Quantity(Decimal(1), "cm"), Quantity(Decimal(2), "cm")),
         Ratio(Quantity(Decimal("1.1"), "cm"), Quantity(Decimal(2), "cm")), False, False),
        (Ratio(Quantity(Decimal(1), "1"), Quantity(Decimal(100), "1")),
         Ratio(Quantity(Decimal(10), "1"), Quantity(Decimal(1000), "1")), False, True),
        (DateTime(2012, 1, 1), DateTime(2012, 1, 1, 0), None, False),
        (Time(10, 0, 0, 0), Time(22, 0, 0, 0), False, False),
        ([1, 2, 3], [1, 2, 3], True, True),
        ([1, None], [1, None], True, True),
        ([None, 1], [2, 1], None, False),
        (Tuple(Id=None, Name="John"), Tuple(Id=1, Name="Joe"), None, False),  # the first element decides
        (Tuple(Id=1, Name="John"), Tuple(Id=2, Name=None), False, False),
        (Decimal("1.001"), Decimal("1.000"), False, True),
        ([1, 2], [1, 2, 3], False, False),
        (Tuple(dateId=1, Date=DateTime(2012, 10, 5, 0, 0, 0, 0)), Tuple(dateId=1, Date=DateTime(2012, 10, 5, 5, 0, 0, 0)), False, False),
        (Tuple(a=1, b=None), Tuple(a=1, b=None), True, True),
        (Tuple(a=1, b=None), Tuple(a=1, b=2), None, False),
        (Tuple(a=1), Tuple(b=1), False, False),
        (Interval(1, 10), Interval(1, 10), True, True),
    ],
)
def test_equal_and_equivalent(a: object, b: object, eq: bool | None, equiv: bool) -> None:
    assert equal(a, b) is eq
    assert equivalent(a, b) is equiv


def test_codes_and_concepts() -> None:
    fracture = Code("52329006", SNOMED, display="Fracture of vertebral column")
    same_other_display = Code("52329006", SNOMED, display="another display")
    assert equivalent(fracture, same_other_display) is True
    assert equal(fracture, same_other_display) is False
    assert equal(Code("1", SNOMED), Code("1", SNOMED)) is True
    assert equivalent(Code("1", SNOMED), Code("1", "http://loinc.org")) is False
    concept = Concept((Code("x", "local"), fracture))
    assert equivalent(concept, Code("52329006", SNOMED)) is True
    assert equivalent(Concept((Code("y", "local"),)), concept) is False


def test_ordering() -> None:
    assert compare(1, Decimal("1.5")) == -1
    assert compare("Jack", "Jill") == -1
    assert compare(Quantity(Decimal(1), "m"), Quantity(Decimal(10), "cm")) == 1
    assert compare(DateTime(2014), DateTime(2014, 2, 15)) is None
    assert compare(DateTime(2014, 10, 10, 20), DateTime(2014, 10, 10, 21), "day") == 0
    assert compare(1, "a") is None
    assert not_equal(Quantity(Decimal(1), "month"), Quantity(Decimal(1), "mo")) is None


def test_sort_order_is_total_for_mixed_precision_datetimes() -> None:
    from functools import cmp_to_key

    from cds_service.cql.types.equality import sort_compare

    values = [DateTime(2012, 10, 5, 10), DateTime(2012, 1, 1), None, DateTime(2012, 1, 1, 12), DateTime(2012, 10, 5)]
    assert sorted(values, key=cmp_to_key(sort_compare)) == [
        None, DateTime(2012, 1, 1), DateTime(2012, 1, 1, 12), DateTime(2012, 10, 5), DateTime(2012, 10, 5, 10)]


def test_operands_of_the_wrong_type_raise_a_cql_error_naming_the_operator() -> None:
    import pytest

    from cds_service.cql.errors import CqlEvaluationError
    from cds_service.cql.operators import intervals, temporal
    from cds_service.cql.types import ucum

    with pytest.raises(CqlEvaluationError, match=r"width\(Interval\)"):
        intervals.width(Interval("a", "b"))
    with pytest.raises(CqlEvaluationError, match=r"start\(int\)"):
        intervals.start(5)  # type: ignore[arg-type]
    with pytest.raises(CqlEvaluationError):
        temporal.add(DateTime(2012), 5)  # type: ignore[arg-type]
    with pytest.raises(CqlEvaluationError):
        ucum.add(Quantity(Decimal(1), "g"), 1)  # type: ignore[arg-type]
