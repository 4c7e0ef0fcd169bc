"""ENGINE operators: CQL nullological operators (IsNull, IsTrue, IsFalse, Coalesce)."""
from __future__ import annotations

from typing import Any, Iterable


def is_null(value: Any) -> bool:
    return value is None


def is_true(value: Any) -> bool:
    return value is True


def is_false(value: Any) -> bool:
    return value is False


def coalesce(values: Iterable[Any]) -> Any:
    """The first non-null value; a single List argument is searched element by element."""
    for value in values:
        if value is not None:
            return value
    return None
