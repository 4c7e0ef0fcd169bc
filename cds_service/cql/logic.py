"""ENGINE logic: the one three-valued logic module (and/or/xor/implies/not over True/False/None)."""
from __future__ import annotations

from typing import Iterable

Bool3 = bool | None


def and_(a: Bool3, b: Bool3) -> Bool3:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def or_(a: Bool3, b: Bool3) -> Bool3:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def xor(a: Bool3, b: Bool3) -> Bool3:
    if a is None or b is None:
        return None
    return a is not b


def implies(a: Bool3, b: Bool3) -> Bool3:
    if a is False or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def not_(a: Bool3) -> Bool3:
    if a is None:
        return None
    return a is not True


def all_true(values: Iterable[Bool3]) -> Bool3:
    result: Bool3 = True
    for v in values:
        result = and_(result, v)
        if result is False:
            return False
    return result


def any_true(values: Iterable[Bool3]) -> Bool3:
    result: Bool3 = False
    for v in values:
        result = or_(result, v)
        if result is True:
            return True
    return result


def is_true(value: object) -> bool:
    """The only way the engine turns a CQL Boolean into a Python decision: null and false are not true."""
    return value is True
