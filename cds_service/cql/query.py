"""ENGINE queries: compiles Query nodes (sources, let, with/without, where, return, aggregate, sort) to closures."""
from __future__ import annotations

import itertools
from functools import cmp_to_key
from typing import TYPE_CHECKING, Any, Callable

from cds_service.cql import ast as A
from cds_service.cql.operators import list as lst
from cds_service.cql.types import Tuple

if TYPE_CHECKING:
    from cds_service.cql.compiler import Fn, LibraryCompiler, Runtime, Scope

_slots = itertools.count(1_000_000_000)


def _element_type(t: str | None) -> str | None:
    if t and t.startswith("List<") and t.endswith(">"):
        return t[5:-1]
    return None


def compile_query(comp: "LibraryCompiler", node: A.Query, outer: "Scope") -> tuple["Fn", str | None]:
    scope = outer.child()
    sources: list[tuple[int, "Fn"]] = []
    source_types: list[str | None] = []
    for src in node.sources:
        fn, typ = comp.expr(src.expression, outer)
        slot = next(_slots)
        scope.names[src.alias] = slot
        scope.types[src.alias] = _element_type(typ)
        sources.append((slot, fn))
        source_types.append(typ)
    lets: list[tuple[int, "Fn"]] = []
    for let in node.lets:
        slot = next(_slots)
        fn, typ = comp.expr(let.expression, scope)
        scope.names[let.identifier] = slot
        scope.types[let.identifier] = typ
        lets.append((slot, fn))
    relationships: list[tuple[bool, int, "Fn", "Fn"]] = []
    for rel in node.relationships:
        rel_scope = scope.child()
        fn, typ = comp.expr(rel.source.expression, scope)
        slot = next(_slots)
        rel_scope.names[rel.source.alias] = slot
        rel_scope.types[rel.source.alias] = _element_type(typ)
        cond = comp.fn(rel.such_that, rel_scope)
        relationships.append((isinstance(rel, A.With), slot, fn, cond))
    where = comp.fn(node.where, scope) if node.where is not None else None
    ret: "Fn | None" = None
    ret_type: str | None = None
    tuple_rows: list[tuple[str, int]] = []
    if node.return_clause is not None:
        ret, ret_type = comp.expr(node.return_clause.expression, scope)
    elif len(sources) > 1:
        names = [(src.alias, slot) for src, (slot, _) in zip(node.sources, sources)]

        def tuple_row(rt: "Runtime") -> Any:
            vars_ = rt.vars
            return Tuple([(n, vars_.get(s)) for n, s in names])

        ret = tuple_row
        tuple_rows = names
    else:
        ret_type = scope.types.get(node.sources[0].alias)
    distinct_return = node.return_clause is not None and node.return_clause.distinct
    aggregate = node.aggregate
    agg_slot = next(_slots)
    agg_fn: "Fn | None" = None
    agg_start: "Fn | None" = None
    if aggregate is not None:
        agg_scope = scope.child()
        agg_scope.names[aggregate.identifier] = agg_slot
        agg_fn = comp.fn(aggregate.expression, agg_scope)
        agg_start = comp.fn(aggregate.starting, outer) if aggregate.starting is not None else None
    sort_fn = _compile_sort(comp, node.sort, scope) if node.sort is not None else None
    first_slot, first_fn = sources[0]
    single_source = len(sources) == 1

    def rows(rt: "Runtime") -> tuple[list[Any], bool]:
        """The source rows; the flag says the (single) source was a list rather than one value."""
        if single_source:
            value = first_fn(rt)
            if isinstance(value, list):
                return value, True
            return ([] if value is None else [value]), False
        values = [fn(rt) for _, fn in sources]
        is_list = any(isinstance(v, list) for v in values)
        lists = [v if isinstance(v, list) else ([] if v is None else [v]) for v in values]
        return list(itertools.product(*lists)), is_list

    def accept(rt: "Runtime") -> bool:
        vars_ = rt.vars
        for slot, fn in lets:
            vars_[slot] = fn(rt)
        for is_with, slot, fn, cond in relationships:
            related = fn(rt)
            if not isinstance(related, list):
                related = [] if related is None else [related]
            found = False
            for item in related:
                vars_[slot] = item
                if cond(rt) is True:
                    found = True
                    break
            if found is not is_with:
                return False
        return where is None or where(rt) is True

    simple_filter = single_source and not lets and not relationships and ret is None and aggregate is None

    def run(rt: "Runtime") -> Any:
        if single_source:
            # rows(), inline: this runs for every query evaluation.
            value = first_fn(rt)
            if isinstance(value, list):
                source_rows, is_list = value, True
            else:
                source_rows, is_list = ([] if value is None else [value]), False
        else:
            source_rows, is_list = rows(rt)
        if simple_filter:
            # The common `[X] A where ...` shape: one tight loop, no per-row clause dispatch.
            vars_ = rt.vars
            if where is None:
                kept = list(source_rows)
            else:
                kept = []
                append = kept.append
                for item in source_rows:
                    vars_[first_slot] = item
                    if where(rt) is True:
                        append(item)
            if sort_fn is not None:
                kept = sort_fn(kept, rt)
            if not is_list:
                return kept[0] if kept else None
            return kept
        vars_ = rt.vars
        out: list[Any] = []
        if single_source:
            for item in source_rows:
                vars_[first_slot] = item
                if accept(rt):
                    out.append(ret(rt) if ret is not None else item)
        else:
            for combo in source_rows:
                for (slot, _), item in zip(sources, combo):
                    vars_[slot] = item
                if accept(rt):
                    out.append(ret(rt) if ret is not None else None)
        if aggregate is not None:
            assert agg_fn is not None
            items = out
            if aggregate.distinct:
                items = lst.distinct(items) or []
            acc = agg_start(rt) if agg_start is not None else None
            for item in items:
                if ret is None:
                    vars_[first_slot] = item
                elif tuple_rows:
                    for alias, slot in tuple_rows:
                        vars_[slot] = item[alias]
                vars_[agg_slot] = acc
                acc = agg_fn(rt)
            return acc
        if distinct_return:
            out = lst.distinct(out) or []
        if sort_fn is not None:
            out = sort_fn(out, rt)
        if not is_list:
            return out[0] if out else None
        return out

    if aggregate is not None:
        return run, None
    single_value = len(source_types) == 1 and source_types[0] is not None and not source_types[0].startswith("List")
    if single_value:
        return run, ret_type
    return run, f"List<{ret_type}>" if ret_type else "List"


def _bind_single_source(comp: "LibraryCompiler", node: A.Query,
                        outer: "Scope") -> tuple["Fn", int, "Scope"]:
    """The source of a one-source query compiled in the outer scope, and a child scope whose alias names a
    fresh variable slot (typed with the source's element type): the setup of the early-stopping shapes."""
    src = node.sources[0]
    scope = outer.child()
    source_fn, typ = comp.expr(src.expression, outer)
    slot = next(_slots)
    scope.names[src.alias] = slot
    scope.types[src.alias] = _element_type(typ)
    return source_fn, slot, scope


def compile_exists(comp: "LibraryCompiler", node: A.Query, outer: "Scope", general: "Fn") -> "Fn | None":
    """`exists (X A where cond)` that stops at the first row whose condition is true, or None when the
    query has another shape. A source that is not a list goes through `general` (the compiled query and
    Exists as usual), so the answer, and any error, stay those of the general path."""
    if len(node.sources) != 1 or node.lets or node.relationships or node.return_clause is not None \
            or node.aggregate is not None or node.sort is not None or node.where is None:
        return None
    source_fn, slot, scope = _bind_single_source(comp, node, outer)
    where = comp.fn(node.where, scope)

    def exists_where(rt: "Runtime") -> Any:
        rows = source_fn(rt)
        if type(rows) is not list:
            if rows is None:
                return False
            return general(rt)
        vars_ = rt.vars
        for item in rows:
            vars_[slot] = item
            if where(rt) is True and item is not None:
                return True
        return False

    return exists_where


def compile_last(comp: "LibraryCompiler", node: A.Query, outer: "Scope", general: "Fn") -> "Fn | None":
    """`Last(X A where cond [return expr])` that scans from the end and stops at the first row whose condition
    is true, or None when the query has another shape (as for `compile_first`). A distinct return (`return
    X`, not `return all X`) stays on the general path: the last element of a distinct list is the value whose
    first occurrence comes last, not the last row's value."""
    if node.return_clause is not None and node.return_clause.distinct:
        return None
    return _compile_scan(comp, node, outer, general, from_end=True)


def compile_first(comp: "LibraryCompiler", node: A.Query, outer: "Scope", general: "Fn") -> "Fn | None":
    """`First(X A where cond [return expr])` that stops at the first row whose condition is true, or None
    when the query has another shape (lets, with/without, sort, aggregate, several sources). The first
    element of the query's list is that row's value (a distinct return keeps first occurrences). A source
    that is not a list goes through `general` (the compiled query and First as usual)."""
    return _compile_scan(comp, node, outer, general, from_end=False)


def _compile_scan(comp: "LibraryCompiler", node: A.Query, outer: "Scope", general: "Fn", *,
                  from_end: bool) -> "Fn | None":
    """The early-stopping scan behind `compile_first` / `compile_last`: the value of the first row (from the
    start or from the end) whose condition is true."""
    if len(node.sources) != 1 or node.lets or node.relationships or node.aggregate is not None \
            or node.sort is not None:
        return None
    source_fn, slot, scope = _bind_single_source(comp, node, outer)
    where = comp.fn(node.where, scope) if node.where is not None else None
    ret = comp.fn(node.return_clause.expression, scope) if node.return_clause is not None else None

    def scan(rt: "Runtime") -> Any:
        rows = source_fn(rt)
        if type(rows) is not list:
            if rows is None:
                return None
            return general(rt)
        vars_ = rt.vars
        for item in (reversed(rows) if from_end else rows):
            vars_[slot] = item
            if where is None or where(rt) is True:
                return ret(rt) if ret is not None else item
        return None

    return scan


def _compile_sort(comp: "LibraryCompiler", clause: A.SortClause, scope: "Scope") -> Callable[[list[Any], "Runtime"], list[Any]]:
    keys: list[tuple[Callable[[Any, "Runtime"], Any] | None, bool]] = []
    for item in clause.by:
        descending = item.direction == "desc"
        if item.expression is None:
            keys.append((None, descending))
            continue
        item_scope = scope.child()
        slot = next(_slots)
        item_scope.implicit = slot
        item_scope.names["$this"] = slot
        fn = comp.fn(item.expression, item_scope)

        def key(value: Any, rt: "Runtime", fn: "Fn" = fn, slot: int = slot) -> Any:
            rt.vars[slot] = value
            return fn(rt)

        keys.append((key, descending))

    single = keys[0] if len(keys) == 1 else None

    def sort(values: list[Any], rt: "Runtime") -> list[Any]:
        if single is not None:
            key_fn, desc = single
            pairs = [(key_fn(v, rt) if key_fn is not None else v, v) for v in values]
            natural = lst.natural_sort_key(k for k, _ in pairs)
            if natural is not None:
                # Same order as the comparator below (stable, nulls first), without a comparison call per pair.
                pairs.sort(key=lambda p: natural(p[0]), reverse=desc)  # reverse=True stays stable
                return [v for _, v in pairs]
        decorated = [([k(v, rt) if k is not None else v for k, _ in keys], v) for v in values]

        def cmp(a: tuple[list[Any], Any], b: tuple[list[Any], Any]) -> int:
            for (ka, kb, (_, desc)) in zip(a[0], b[0], keys):
                c = lst.cql_compare(ka, kb)
                if c:
                    return -c if desc else c
            return 0

        decorated.sort(key=cmp_to_key(cmp))
        return [v for _, v in decorated]

    return sort
