"""ENGINE operators: CQL list operators (membership, inclusion, set operations, ordering, element access)."""
from __future__ import annotations

from functools import cmp_to_key
from typing import Any, Callable, Iterable

from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.types import Interval
from cds_service.cql.types.equality import compare, equal, equivalent


def _same(a: Any, b: Any) -> bool:
    """Identity for set operations: `=` when it answers, and null counts as equal to null."""
    if a is None or b is None:
        return a is None and b is None
    return equal(a, b) is True


def exists(source: list[Any] | None) -> bool:
    if source is None:
        return False
    return any(x is not None for x in source)


def contains(source: list[Any] | None, element: Any) -> bool | None:
    if source is None:
        return False
    if element is None:
        return any(x is None for x in source)
    unknown = False
    for x in source:
        r = equal(element, x)
        if r is True:
            return True
        if r is None and x is not None:
            unknown = True
    return None if unknown else False


def in_(element: Any, source: list[Any] | None) -> bool | None:
    return contains(source, element)


def includes(a: list[Any] | None, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    if not isinstance(b, list):
        return contains(a, b)
    return all(any(_same(y, x) for x in a) for y in b)


def included_in(a: Any, b: list[Any] | None) -> bool | None:
    if a is None or b is None:
        return None
    if not isinstance(a, list):
        return contains(b, a)
    return includes(b, a)


def proper_includes(a: list[Any] | None, b: Any) -> bool | None:
    if not isinstance(b, list):
        return proper_contains(a, b)
    if a is None or b is None:
        return None
    if not isinstance(b, list):
        return proper_contains(a, b)
    inc = includes(a, b)
    if inc is not True:
        return inc
    return len(distinct(a)) > len(distinct(b))  # type: ignore[arg-type]


def proper_included_in(a: Any, b: list[Any] | None) -> bool | None:
    if not isinstance(a, list) and a is not None:
        return proper_in(a, b)
    return proper_includes(b, a)


def proper_contains(source: list[Any] | None, element: Any) -> bool | None:
    if source is None:
        return False
    c = contains(source, element)
    if c is not True:
        return c
    others = [x for x in source if not _same(x, element)]
    if any(x is not None for x in others):
        return True
    # Only nulls besides the element: each could equal it, so properness is unknown.
    return None if others else False


def proper_in(element: Any, source: list[Any] | None) -> bool | None:
    return proper_contains(source, element)


def distinct(source: list[Any] | None) -> list[Any] | None:
    if source is None:
        return None
    out: list[Any] = []
    hashed: set[Any] = set()
    for x in source:
        # Plain hashable scalars (str, int, bool) dedupe in O(1); everything else by CQL equality.
        if isinstance(x, (str, int)) and not isinstance(x, bool):
            key = (type(x) is str, x)
            if key in hashed:
                continue
            if not any(_same(x, y) for y in out if not isinstance(y, (str, int)) or isinstance(y, bool)):
                hashed.add(key)
                out.append(x)
            continue
        if not any(_same(x, y) for y in out):
            out.append(x)
    return out


def union(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    if a is None and b is None:
        return None
    return distinct((a or []) + (b or []))


def intersect(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    if a is None or b is None:
        return None
    return distinct([x for x in a if any(_same(x, y) for y in b)])


def except_(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    if a is None:
        return None
    if b is None:
        return distinct(a)
    return distinct([x for x in a if not any(_same(x, y) for y in b)])


def flatten(source: list[Any] | None) -> list[Any] | None:
    if source is None:
        return None
    out: list[Any] = []
    for x in source:
        if isinstance(x, list):
            out.extend(x)
        else:
            out.append(x)
    return out


def first(source: list[Any] | None) -> Any:
    return source[0] if source else None


def last(source: list[Any] | None) -> Any:
    return source[-1] if source else None


def index_of(source: list[Any] | None, element: Any) -> int | None:
    if source is None or element is None:
        return None
    for i, x in enumerate(source):
        if equal(x, element) is True:
            return i
    return -1


def skip(source: list[Any] | None, n: int | None) -> list[Any] | None:
    if source is None:
        return None
    if n is None:
        return list(source)
    return list(source[max(n, 0):])


def take(source: list[Any] | None, n: int | None) -> list[Any] | None:
    if source is None:
        return None
    if n is None or n <= 0:
        return []
    return list(source[:n])


def tail(source: list[Any] | None) -> list[Any] | None:
    if source is None:
        return None
    return list(source[1:])


def slice_(source: list[Any] | None, start: int | None, end: int | None = None) -> list[Any] | None:
    if source is None:
        return None
    return list(source[(start or 0) : end])


def singleton_from(source: list[Any] | None) -> Any:
    if source is None or not source:
        return None
    if len(source) > 1:
        raise CqlEvaluationError("singleton from: the list has more than one element")
    return source[0]


def list_equal(a: list[Any] | None, b: list[Any] | None) -> bool | None:
    return equal(a, b)


def list_equivalent(a: list[Any] | None, b: list[Any] | None) -> bool:
    return equivalent(a, b)


def natural_sort_key(values: Iterable[Any]) -> Callable[[Any], Any] | None:
    """A Python sort key that orders `values` exactly as `cql_compare` does, or None when there is none.

    It exists when every non-null value is a String, or every one an Integer/Decimal, or every one a
    Date/DateTime of the same precision (compared in the evaluation's offset): then a key sort replaces the
    comparator sort, which costs a Python call and a CQL comparison per pair. Nulls sort first either way."""
    from decimal import Decimal

    from cds_service.cql.operators.temporal import normalized_components
    from cds_service.cql.types import Date, DateTime

    kinds: set[Any] = set()
    precisions: set[Any] = set()
    for v in values:
        if v is None:
            continue
        t = type(v)
        if t is str:
            kinds.add(str)
        elif t is int or t is Decimal:
            kinds.add(Decimal)
        elif t is DateTime or t is Date:
            kinds.add(t)
            precisions.add(v.precision)
        else:
            return None
        if len(kinds) > 1 or len(precisions) > 1:
            return None
    if not kinds:
        return lambda v: 0
    kind = kinds.pop()
    if kind is DateTime:
        return lambda v: (0,) if v is None else (1, normalized_components(v))
    if kind is Date:
        return lambda v: (0,) if v is None else (1, v.components())
    return lambda v: (0, v) if v is None else (1, v)


def cql_compare(a: Any, b: Any) -> int:
    """Sort order: nulls first, then CQL ordering; date/times of different precision order the less
    precise first when they agree on the shared components; other incomparable values keep their order."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    c = compare(a, b)
    if c is None and hasattr(a, "components") and hasattr(b, "components"):
        ka = tuple(-1 if v is None else v for v in a.components())
        kb = tuple(-1 if v is None else v for v in b.components())
        return (ka > kb) - (ka < kb)
    return 0 if c is None else c


def sort(source: list[Any] | None, descending: bool = False, key: Callable[[Any], Any] | None = None) -> list[Any] | None:
    if source is None:
        return None
    if key is None:
        ordered = sorted(source, key=cmp_to_key(cql_compare))
    else:
        keyed = [(key(x), x) for x in source]
        keyed.sort(key=cmp_to_key(lambda p, q: cql_compare(p[0], q[0])))  # type: ignore[index]
        ordered = [x for _, x in keyed]
    if descending:
        ordered.reverse()
    return ordered


def is_interval(value: Any) -> bool:
    return isinstance(value, Interval)


def iterate(values: Iterable[Any]) -> list[Any]:
    return list(values)
