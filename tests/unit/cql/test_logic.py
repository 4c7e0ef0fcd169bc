"""Three-valued logic: the logic module and the CQL operators that must go through it."""
from __future__ import annotations

import itertools

import pytest

from cds_service.cql import evaluate_expression, logic

VALUES = [True, False, None]


def lit(v: bool | None) -> str:
    return "null" if v is None else str(v).lower()


def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def kleene_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


@pytest.mark.parametrize("a,b", list(itertools.product(VALUES, VALUES)))
def test_truth_tables_match_the_spec(a: bool | None, b: bool | None) -> None:
    assert evaluate_expression(f"{lit(a)} and {lit(b)}") is kleene_and(a, b)
    assert evaluate_expression(f"{lit(a)} or {lit(b)}") is kleene_or(a, b)
    expected_xor = None if a is None or b is None else a != b
    assert evaluate_expression(f"{lit(a)} xor {lit(b)}") is expected_xor
    expected_implies = kleene_or(logic.not_(a), b)
    assert evaluate_expression(f"{lit(a)} implies {lit(b)}") is expected_implies
    assert logic.and_(a, b) is kleene_and(a, b) and logic.or_(a, b) is kleene_or(a, b)


def test_not_null_is_null_and_is_tests_never_are() -> None:
    assert evaluate_expression("not null") is None
    assert evaluate_expression("null is true") is False
    assert evaluate_expression("null is not false") is True
    assert evaluate_expression("null is null") is True


def test_short_circuit_never_hides_an_unknown() -> None:
    assert evaluate_expression("false and (1/0 > 1)") is False
    assert evaluate_expression("true or (singleton from {1,2} = 1)") is True
    assert evaluate_expression("null and (1/0 > 1)") is None


def test_if_and_case_treat_null_as_not_true() -> None:
    assert evaluate_expression("if null then 1 else 2") == 2
    assert evaluate_expression("case when null then 1 when 1 = 1 then 3 else 2 end") == 3
    assert evaluate_expression("case 2 when 1 then 'a' when 2 then 'b' else 'c' end") == "b"


def test_all_true_any_true_over_nulls() -> None:
    assert logic.all_true([True, None]) is None and logic.all_true([True, False, None]) is False
    assert logic.any_true([False, None]) is None and logic.any_true([None, True]) is True
    assert logic.is_true(None) is False and logic.is_true(True) is True
