"""Unit tests of UCUM conversion and Quantity comparison/arithmetic used by clinical rules and the suite."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.cql.types import Quantity, ucum


def q(value: str | int, unit: str) -> Quantity:
    return Quantity(Decimal(str(value)), unit)


@pytest.mark.parametrize(
    ("source", "unit", "expected"),
    [
        (q(1, "m"), "cm", Decimal(100)),
        (q(250, "mg"), "g", Decimal("0.25")),
        (q(1, "kg"), "ug", Decimal(1000000000)),
        (q(1, "L"), "dL", Decimal(10)),
        (q(1, "mL"), "cm3", Decimal(1)),
        (q(100, "mg/dL"), "mg/L", Decimal(1000)),
        (q(5, "mg/L"), "mg/dL", Decimal("0.5")),
        (q(150, "10*9/L"), "10*3/uL", Decimal(150)),
        (q(150, "10*9/L"), "/uL", Decimal(150000)),
        (q(37, "Cel"), "K", Decimal("310.15")),
        (q(120, "mm[Hg]"), "kPa", Decimal("15.99868649")),
        (q(50, "%"), "1", Decimal("0.5")),
        (q(17, "{score}"), "1", Decimal(17)),
        (q(2, "wk"), "d", Decimal(14)),
        (q(1, "h"), "min", Decimal(60)),
        (q(1500, "ms"), "s", Decimal("1.5")),
        (q(2, "years"), "months", Decimal(24)),
        (q(3, "days"), "h", Decimal(72)),
        (q(180, "deg"), "rad", Decimal("3.14159265")),
    ],
)
def test_convert(source: Quantity, unit: str, expected: Decimal) -> None:
    converted = ucum.convert(source, unit)
    assert converted is not None
    assert converted.unit == unit
    assert converted.value == expected


@pytest.mark.parametrize(("source", "unit"), [(q(1, "mg"), "m"), (q(1, "year"), "d"), (q(1, "mg"), "[furlong]")])
def test_unconvertible_units_give_null(source: Quantity, unit: str) -> None:
    assert ucum.convert(source, unit) is None


def test_comparisons_across_units() -> None:
    assert ucum.equal(q(1, "cm"), q("0.01", "m")) is True
    assert ucum.compare(q(1, "m"), q(10, "cm")) == 1
    assert ucum.compare(q(8, "mg/dL"), q(100, "mg/L")) == -1
    assert ucum.compare(q(1, "g"), q(1, "m")) is None  # different dimensions: unknown, not an error
    assert ucum.equal(q(1, "g"), q(1, "m")) is None


@pytest.mark.parametrize(
    ("left", "right", "equal", "equivalent"),
    [
        (q(1, "minute"), q(1, "min"), True, True),
        (q(1, "minute"), q(60, "seconds"), True, True),
        (q(1, "week"), q(1, "wk"), True, True),
        (q(1, "days"), q(1, "d"), True, True),
        (q(1, "millisecond"), q(1, "ms"), True, True),
        (q(1, "years"), q(1, "year"), True, True),
        (q(1, "month"), q(1, "mo"), None, True),
        (q(1, "year"), q(1, "a"), None, True),
        (q(1, "year"), q(12, "months"), True, True),
        (q(1, "month"), q(30, "days"), None, True),
        (q(1, "year"), q(13, "months"), False, False),
    ],
)
def test_calendar_words_against_ucum_time_units(left: Quantity, right: Quantity, equal: bool | None, equivalent: bool) -> None:
    assert ucum.equal(left, right) is equal
    assert ucum.equivalent(left, right) is equivalent


def test_arithmetic_and_compound_units() -> None:
    assert ucum.add(q(1, "g/cm3"), q(1, "g/cm3")) == q(2, "g/cm3")
    assert ucum.add(q(1, "g"), q(500, "mg")) == q("1.5", "g")
    assert ucum.add(q(1, "g"), q(1, "m")) is None
    assert ucum.subtract(q("1.0", "cm"), q("2.0", "cm")) == q("-1.0", "cm")
    assert ucum.multiply(q("1.0", "cm"), q("2.0", "cm")) == q("2.00", "cm2")
    assert ucum.multiply(q(2, "mg"), q(3, "1")) == q(6, "mg")
    assert ucum.divide(q(1, "g/cm3"), q(1, "g/cm3")) == q(1, "1")
    assert ucum.divide(q(10, "mg"), q(2, "dL")) == q(5, "mg/dL")
    assert ucum.divide(q(10, "mg"), q(0, "dL")) is None
    assert ucum.modulo(q("3.5", "cm"), q(3, "cm")) == q("0.5", "cm")
    assert ucum.modulo(q(10, "g"), q(0, "g")) is None
    assert ucum.truncated_divide(q("10.1", "cm"), q("-3.1", "cm")) == q(-3, "cm")
    assert ucum.negate(q(1, "cm")) == q(-1, "cm")
    assert ucum.abs_(q(-1, "cm")) == q(1, "cm")


def test_parse_unit_handles_annotations_exponents_and_rejects_garbage() -> None:
    assert ucum.parse_unit("{eskimo_kisses}") == ucum.parse_unit("1")
    info = ucum.parse_unit("kg/m2")
    assert info is not None and dict(info.dims) == {"g": 1, "m": -2}
    assert ucum.parse_unit("mg{total}/dL") == ucum.parse_unit("mg/dL")
    assert ucum.parse_unit("not a unit") is None
    assert ucum.convertible("[lb_av]", "kg")
    assert not ucum.convertible("mg", "mL")


@pytest.mark.parametrize(
    ("source", "unit", "expected"),
    [
        (q(180, "K/uL"), "10*9/L", Decimal(180)),  # platelets as many EHRs print them
        (q(180, "x10E3/uL"), "10*9/L", Decimal(180)),
        (q(12, "mg/dl"), "mg/L", Decimal(120)),  # CRP reported in mg/dl, threshold in mg/L
        (q(101, "degF"), "Cel", Decimal("38.33333333")),
        (q(250, "mcg"), "mg", Decimal("0.25")),
        (q(15, "mm/h"), "mm/h", Decimal(15)),
        (q("1.9", "{INR}"), "1", Decimal("1.9")),
        (q("-2.7", "{T-score}"), "1", Decimal("-2.7")),
    ],
)
def test_clinical_lab_units_and_common_non_ucum_spellings(source: Quantity, unit: str, expected: Decimal) -> None:
    converted = ucum.convert(source, unit)
    assert converted is not None and converted.value == expected


def test_clinical_thresholds_compare_across_reporting_units() -> None:
    assert ucum.compare(q(45, "10*3/uL"), q(50, "10*9/L")) == -1  # platelets below the hard stop
    assert ucum.compare(q("1.2", "mg/dL"), q(10, "mg/L")) == 1  # CRP 12 mg/L above 10 mg/L
    assert ucum.compare(q("100.8", "[degF]"), q("38.0", "Cel")) == 1
