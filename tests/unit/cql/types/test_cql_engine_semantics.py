"""The value semantics seen through CQL text: the engine evaluating date/time, interval and quantity expressions."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cds_service.cql import EvaluationContext, evaluate_expression
from cds_service.cql.errors import CqlError
from cds_service.cql.types import Date, DateTime, Interval, Quantity

UTC = dt.timezone.utc
EASTERN = dt.timezone(dt.timedelta(hours=-5))


def run(text: str, now: dt.datetime | None = None) -> object:
    ctx = EvaluationContext(now=now) if now is not None else EvaluationContext()
    return evaluate_expression(text, ctx)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DateTime(2012, 1, 31) + 1 month", DateTime(2012, 2, 29)),
        ("Date(2014, 6) - 33 days", Date(2014, 5)),
        ("years between DateTime(2005) and DateTime(2010)", Interval(4, 5)),
        ("difference in days between @2017-03-12T00:00:00-07:00 and @2017-03-13T00:00:00-06:00", 1),
        ("@2012-03-10T10:20:00.999+07:00 after hour of @2012-03-10T08:20:00.999+06:00", True),
        ("DateTime(2014) > DateTime(2014, 2, 15)", None),
        ("Interval[1, 10] overlaps Interval(10, 20]", False),
        ("Interval(null, 5] meets after Interval[11, null)", False),
        ("Interval[1.0 'g', 10.0 'g'] except Interval[5.0 'g', 10.0 'g']",
         Interval(Quantity(Decimal("1.0"), "g"), Quantity(Decimal("4.99999999"), "g"))),
        ("150 '10*3/uL' < 50 '10*9/L'", False),
        ("1 month = 1 'mo'", None),
        ("1 year ~ 12 months", True),
    ],
)
def test_expressions(text: str, expected: object) -> None:
    assert run(text) == expected


def test_datetime_without_offset_takes_the_offset_of_the_evaluation_clock() -> None:
    # 09:00 written without an offset means 09:00 where the evaluation runs.
    text = "DateTime(2020, 1, 1, 9, 0, 0, 0) = @2020-01-01T14:00:00.000Z"
    assert run(text, now=dt.datetime(2026, 5, 1, 12, tzinfo=EASTERN)) is True
    assert run(text, now=dt.datetime(2026, 5, 1, 12, tzinfo=UTC)) is False


def test_today_is_the_date_in_the_clock_offset() -> None:
    late_evening_eastern = dt.datetime(2026, 5, 1, 22, 30, tzinfo=EASTERN)  # already May 2nd in UTC
    assert run("Today()", now=late_evening_eastern) == Date(2026, 5, 1)
    assert run("days between Today() and Today() + 42 days", now=late_evening_eastern) == 42


@pytest.mark.parametrize("text", ["DateTime(2005, 10, 10) + 8000 years", "Interval[5, 5)",
                                  "width of Interval[DateTime(2012, 1, 5), DateTime(2012, 1, 25)]",
                                  "predecessor of @T00:00:00.000", "point from Interval[1, 2]"])
def test_run_time_errors_are_cql_errors(text: str) -> None:
    with pytest.raises(CqlError):
        run(text)
