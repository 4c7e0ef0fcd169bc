"""ENGINE operators: CQL string operators (Concatenate, Combine, Split, Matches, Substring, PositionOf, ...)."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from cds_service.cql.errors import CqlEvaluationError


def concatenate(*parts: Any) -> str | None:
    if any(p is None for p in parts):
        return None
    return "".join(parts)


def combine(source: list[Any] | None, separator: str | None = None) -> str | None:
    if source is None:
        return None
    items = [s for s in source if s is not None]
    if not items:
        return None
    return (separator or "").join(items)


def split(value: str | None, separator: str | None) -> list[str] | None:
    if value is None:
        return None
    if value == "":
        return []
    if separator is None or separator == "":
        return [value]
    return value.split(separator)


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    # Patterns usually are literals in the library, so a small cache makes the request path regex-free.
    try:
        return re.compile(pattern, re.S)
    except re.error as exc:
        raise CqlEvaluationError(f"invalid regular expression {pattern!r}: {exc}") from None


def split_on_matches(value: str | None, pattern: str | None) -> list[str] | None:
    if value is None or pattern is None:
        return None
    return _regex(pattern).split(value)


def length(value: Any) -> int | None:
    if value is None:
        return None
    return len(value)


def upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


def lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def indexer(value: Any, index: int | None) -> Any:
    if value is None or index is None:
        return None
    if index < 0 or index >= len(value):
        return None
    return value[index]


def position_of(pattern: str | None, value: str | None) -> int | None:
    if pattern is None or value is None:
        return None
    return value.find(pattern)


def last_position_of(pattern: str | None, value: str | None) -> int | None:
    if pattern is None or value is None:
        return None
    return value.rfind(pattern)


def substring(value: str | None, start: int | None, length_: int | None = None) -> str | None:
    if value is None or start is None:
        return None
    if start < 0 or start > len(value) or (start == len(value) and value):
        return None
    if length_ is None:
        return value[start:]
    if length_ < 0:
        return None
    return value[start : start + length_]


def starts_with(value: str | None, prefix: str | None) -> bool | None:
    if value is None or prefix is None:
        return None
    return value.startswith(prefix)


def ends_with(value: str | None, suffix: str | None) -> bool | None:
    if value is None or suffix is None:
        return None
    return value.endswith(suffix)


def matches(value: str | None, pattern: str | None) -> bool | None:
    if value is None or pattern is None:
        return None
    return _regex(pattern).fullmatch(value) is not None


def replace_matches(value: str | None, pattern: str | None, substitution: str | None) -> str | None:
    if value is None or pattern is None or substitution is None:
        return None
    # CQL substitutions use $1 for groups; Python's re uses \\1.
    repl = re.sub(r"\$(\d+)", r"\\g<\1>", substitution.replace("\\", "\\\\"))
    return _regex(pattern).sub(repl, value)


def replace(value: str | None, pattern: str | None, substitution: str | None) -> str | None:
    if value is None or pattern is None or substitution is None:
        return None
    return value.replace(pattern, substitution)
