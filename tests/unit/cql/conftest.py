"""Shared helpers for the CQL engine unit tests: an in-memory library loader, data source and value sets."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from cds_service.cql import EvaluationContext, LibraryManager
from cds_service.cql.types import Code

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


class DictLoader:
    """Library loader over a dict name -> CQL text (what a hospital's library folder looks like)."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, name: str, version: str | None) -> str:
        self.calls.append((name, version))
        return self.sources[name]


class ListDataSource:
    """A naive DataSource: returns every resource of the type and ignores the filters (allowed by contract)."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.requests: list[dict[str, Any]] = []

    def retrieve(self, data_type: str, *, code_path: str | None = None, codes: Sequence[Any] | None = None,
                 valueset: Any = None, date_path: str | None = None, date_range: Any = None) -> Sequence[dict[str, Any]]:
        self.requests.append({"type": data_type, "code_path": code_path, "codes": codes, "valueset": valueset})
        return [r for r in self.resources if r.get("resourceType") == data_type]


class SimpleValueSet:
    def __init__(self, codes: tuple[Code, ...], prefixes: tuple[tuple[str, str], ...] = ()) -> None:
        self.codes = codes
        self.prefixes = prefixes

    def contains(self, code: Code) -> bool:
        if any(c.code == code.code and c.system == code.system for c in self.codes):
            return True
        return any(code.system == system and (code.code or "").startswith(prefix) for system, prefix in self.prefixes)


class DictValueSets:
    def __init__(self, sets: dict[str, SimpleValueSet]) -> None:
        self.sets = sets

    def resolve(self, id_or_url: str) -> SimpleValueSet:
        return self.sets[id_or_url]


def compile_library(text: str, **others: str) -> Any:
    sources = {"Main": text, **others}
    return LibraryManager(DictLoader(sources)).load("Main")


def run(text: str, define: str, **kwargs: Any) -> Any:
    lib = compile_library(text)
    ctx = EvaluationContext(now=NOW, **kwargs)
    return lib.evaluate(ctx, [define])[define]
