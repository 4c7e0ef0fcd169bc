"""ENGINE contract: the DataSource / ValueSetResolver protocols the engine reads patient data and value sets through."""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class ValueSet(Protocol):
    """An expanded (or prefix-filtered) value set: membership is decided by the resolver, not the engine."""

    @property
    def codes(self) -> tuple[Any, ...]:
        """Explicit codes (cql.types.Code) of the value set; prefix filters are not listed here."""
        ...

    def contains(self, code: Any) -> bool:
        """True when the Code (system + code) is a member, prefix filters (`A41.*`) included."""
        ...


@runtime_checkable
class ValueSetResolver(Protocol):
    def resolve(self, id_or_url: str) -> ValueSet:
        """The value set declared in CQL as `valueset "X": 'id-or-url'`; raises KeyError if unknown."""
        ...


@runtime_checkable
class DataSource(Protocol):
    """One patient's record as FHIR JSON dicts.

    A source may ignore any filter it cannot apply: the engine re-applies the code and date filters
    itself on whatever comes back, so a naive source that returns every resource of the type is correct.
    """

    def retrieve(
        self,
        data_type: str,
        *,
        code_path: str | None = None,
        codes: Sequence[Any] | None = None,
        valueset: ValueSet | None = None,
        date_path: str | None = None,
        date_range: Any | None = None,
    ) -> Sequence[dict[str, Any]]:
        ...


class EmptyDataSource:
    """A DataSource with no data: used for library-free expressions (conformance, $cql without data)."""

    def retrieve(
        self,
        data_type: str,
        *,
        code_path: str | None = None,
        codes: Sequence[Any] | None = None,
        valueset: ValueSet | None = None,
        date_path: str | None = None,
        date_range: Any | None = None,
    ) -> Sequence[dict[str, Any]]:
        return ()


class EmptyValueSetResolver:
    """A resolver that knows no value set: every lookup is a clear KeyError naming the value set."""

    def resolve(self, id_or_url: str) -> ValueSet:
        raise KeyError(f"unknown value set {id_or_url!r}")
