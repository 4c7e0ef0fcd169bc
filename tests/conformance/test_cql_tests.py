"""Conformance: every HL7 cql-tests public case as one pytest id `Suite.Group.Name`, with a reviewed skip list."""
from __future__ import annotations

import pytest

from tests.conformance.cases import Case, load_cases, load_skiplist, run_case

CASES = load_cases()
SKIPS = load_skiplist()


def _param(case: Case) -> object:
    marks = []
    reason = case.out_of_scope()
    if reason:
        marks.append(pytest.mark.skip(reason=reason))
    elif case.id in SKIPS:
        marks.append(pytest.mark.xfail(reason=SKIPS[case.id], strict=True))
    return pytest.param(case, id=case.id, marks=marks)


def test_skiplist_names_real_cases() -> None:
    ids = {c.id for c in CASES}
    unknown = sorted(set(SKIPS) - ids)
    assert not unknown, f"skiplist.txt names cases that do not exist: {unknown[:5]}"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: Case) -> None:
    passed, detail = run_case(case)
    assert passed, f"{case.expression!r}: {detail}"
