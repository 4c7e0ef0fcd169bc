"""ENGINE types: turns Python type/arithmetic failures inside value operators into CqlEvaluationError."""
from __future__ import annotations

import functools
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from cds_service.cql.errors import CqlError, CqlEvaluationError

__all__ = ["guarded", "guard_module"]

F = TypeVar("F", bound=Callable[..., Any])

# What operands of a type an operator was not written for make Python raise; the engine must answer
# those with a CQL run-time error naming the operator, never with a crash (a 500 at the service edge).
_MISUSE = (TypeError, AttributeError, ValueError, ArithmeticError, KeyError, IndexError)


def _describe(args: tuple[Any, ...]) -> str:
    return ", ".join("null" if arg is None else type(arg).__name__ for arg in args)


def guarded(function: F) -> F:
    """Wrap an operator so that misuse raises CqlEvaluationError('<operator>(<types>): ...')."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except CqlError:
            raise
        except _MISUSE as exc:
            raise CqlEvaluationError(f"{function.__name__}({_describe(args)}) is not defined: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def guard_module(namespace: MutableMapping[str, Any], names: list[str]) -> None:
    """Replace the public functions `names` of a module namespace by their guarded versions."""
    for name in names:
        value = namespace.get(name)
        # Plain functions, and the same functions when the module is compiled (cds_service.accel).
        if callable(value) and not isinstance(value, type):
            namespace[name] = guarded(value)
