"""ENGINE builder: turns pyparsing results into the frozen AST of cql/ast.py, and parses text (syntax errors)."""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
import threading
from pathlib import Path
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal
from typing import Any, Callable

import pyparsing as pp

from cds_service.cql import ast as A
from cds_service.cql.errors import CqlSyntaxError
from cds_service.cql.grammar import build_grammar, enable_packrat

_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "f": "\f"}
_ESCAPE_RE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.S)


def unescape(body: str) -> str:
    """Resolve CQL string escapes (\\' \\" \\n \\t \\uXXXX ...)."""

    def repl(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] == "u" and len(esc) == 5:
            return chr(int(esc[1:], 16))
        return _ESCAPES.get(esc, esc)

    return _ESCAPE_RE.sub(repl, body)


def _ident(text: str) -> str:
    if text[:1] in ('"', "`"):
        return unescape(text[1:-1])
    return text


def _str(text: str) -> str:
    return unescape(text[1:-1])


_MISSING = object()


def _n(t: pp.ParseResults, name: str, default: Any = _MISSING) -> Any:
    """The value of a named result; a named copy of a Forward wraps its one token in a ParseResults."""
    if name not in t:
        if default is _MISSING:
            raise KeyError(name)
        return default
    value = t[name]
    while isinstance(value, pp.ParseResults) and len(value) == 1:
        value = value[0]
    return value


# --- actions ----------------------------------------------------------------------------------------------


def _literal(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    if "null" in t:
        return A.Null()
    if "bool" in t:
        return A.Literal("Boolean", _n(t, "bool") == "true")
    if "datetime" in t:
        return A.Literal("DateTime", _n(t, "datetime"))
    if "date" in t:
        return A.Literal("Date", _n(t, "date"))
    if "time" in t:
        return A.Literal("Time", _n(t, "time"))
    if "ratio" in t:
        return _n(t, "ratio")  # type: ignore[no-any-return]
    if "quantity" in t:
        return _n(t, "quantity")  # type: ignore[no-any-return]
    if "long" in t:
        return A.Literal("Long", int(_n(t, "long")[:-1]))
    if "number" in t:
        text = _n(t, "number")
        if "." in text:
            return A.Literal("Decimal", Decimal(text))
        return A.Literal("Integer", int(text))
    return A.Literal("String", _str(_n(t, "string")))


def _quantity(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    unit = _n(t, "unit")
    unit = _str(unit) if unit.startswith("'") else unit
    return A.Literal("Quantity", (Decimal(_n(t, "value")), unit))


def _ratio(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.Literal("Ratio", (_n(t, "numerator").value, _n(t, "denominator").value))


def _named_type(s: str, loc: int, t: pp.ParseResults) -> A.NamedTypeSpecifier:
    parts = [str(p) for p in t[0]]
    if len(parts) == 1:
        return A.NamedTypeSpecifier(None, parts[0])
    return A.NamedTypeSpecifier(".".join(parts[:-1]), parts[-1])


def _list_type(s: str, loc: int, t: pp.ParseResults) -> A.TypeSpecifier:
    return A.ListTypeSpecifier(_n(t, "element"))


def _interval_type(s: str, loc: int, t: pp.ParseResults) -> A.TypeSpecifier:
    return A.IntervalTypeSpecifier(_n(t, "point"))


def _tuple_type(s: str, loc: int, t: pp.ParseResults) -> A.TypeSpecifier:
    return A.TupleTypeSpecifier(tuple((str(_n(e, "name")), _n(e, "type")) for e in t["elements"]))


def _choice_type(s: str, loc: int, t: pp.ParseResults) -> A.TypeSpecifier:
    return A.ChoiceTypeSpecifier(tuple(t["choices"]))


def _interval(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.IntervalSelector(_n(t, "low"), _n(t, "high"), _n(t, "open") == "[", _n(t, "close") == "]")


def _elements(group: pp.ParseResults) -> tuple[tuple[str, A.Expression], ...]:
    out: list[tuple[str, A.Expression]] = []
    for e in group:
        if isinstance(e, pp.ParseResults):
            out.append((str(_n(e, "name")), _n(e, "value")))
    return tuple(out)


def _tuple(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.TupleSelector(_elements(t["elements"]))


def _instance(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.Instance(_n(t, "type"), _elements(t["elements"]))


def _list(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.ListSelector(tuple(t["items"]), _n(t, "type", None))


def _code_ref(group: pp.ParseResults, cls: type) -> Any:
    lib = group.get("library")  # type: ignore[no-untyped-call]
    return cls(_ident(str(group["name"])), _ident(str(lib)) if lib is not None else None)


def _code_selector(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    display = _str(_n(t, "display")) if "display" in t else None
    return A.CodeSelector(_str(_n(t, "code")), _code_ref(t["system"], A.CodeSystemRef), display)


def _concept_selector(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    display = _str(_n(t, "display")) if "display" in t else None
    return A.ConceptSelector(tuple(_code_ref(c, A.CodeRef) for c in t["codes"]), display)


def _function_call(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.FunctionRef(str(_n(t, "name")), tuple(t["args"]))


def _external(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    name = str(_n(t, "name"))
    return A.ExternalConstant(_str(name) if name.startswith("'") else name)


def _special(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.IdentifierRef(t[0])


def _identifier(s: str, loc: int, t: pp.ParseResults) -> str:
    return _ident(t[0])


def _identifier_ref(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.IdentifierRef(str(_n(t, "name")))


def _parenthesized(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return _n(t, "inner")  # type: ignore[no-any-return]


def _retrieve(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    path = _n(t, "code_path", None)
    codes = _n(t, "terminology", None)
    return A.Retrieve(_n(t, "type"), str(path) if path is not None else None, codes)


def _member(s: str, loc: int, t: pp.ParseResults) -> Any:
    return _Postfix("member", str(_n(t, "name")), tuple(t["args"]) if "args" in t else None)


def _indexer(s: str, loc: int, t: pp.ParseResults) -> Any:
    return _Postfix("index", index=_n(t, "index"))


def _postfix(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    node: A.Expression = t[0]
    for op in t[1]:
        if op.kind == "index":
            node = A.Indexer(node, op.index)
        elif op.args is None:
            node = A.Property(node, op.name)
        else:
            node = A.FunctionRef(op.name, (node, *op.args), fluent=True)
    return node


def _convert(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    if "unit" in t:
        return A.ConvertQuantity(_n(t, "operand"), _str(_n(t, "unit")))
    return A.Convert(_n(t, "operand"), _n(t, "type"))


def _polarity(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    operand = _n(t, "operand")
    if _n(t, "op") == "+":
        return operand  # type: ignore[no-any-return]
    # Fold `-literal` so that -2147483648 and -9223372036854775808L are representable.
    if isinstance(operand, A.Literal) and operand.value_type in ("Integer", "Long", "Decimal"):
        return A.Literal(operand.value_type, -operand.value)
    if isinstance(operand, A.Literal) and operand.value_type == "Quantity":
        return A.Literal("Quantity", (-operand.value[0], operand.value[1]))
    return A.Negate(operand)


def _boundary(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return (A.Start if _n(t, "op") == "start" else A.End)(_n(t, "operand"))


_COMPONENT_NODES: dict[str, Callable[[A.Expression], A.Expression]] = {
    "date": A.DateFrom,
    "time": A.TimeFrom,
    "timezoneoffset": A.TimezoneOffsetFrom,
    "timezone": A.TimezoneOffsetFrom,
}


def _component(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    name = str(_n(t, "component"))
    if name in _COMPONENT_NODES:
        return _COMPONENT_NODES[name](_n(t, "operand"))
    return A.DateTimeComponentFrom(_n(t, "operand"), name)


def _singular(precision: str) -> str:
    return precision[:-1] if precision.endswith("s") else precision


def _duration_of(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    # `duration in days of X` is `days between start of X and end of X`.
    operand = _n(t, "operand")
    cls = A.DurationBetween if _n(t, "op") == "duration" else A.DifferenceBetween
    return cls((A.Start(operand), A.End(operand)), _singular(str(t["precision"])))


def _width_of(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return {"width": A.Width, "successor": A.Successor, "predecessor": A.Predecessor}[_n(t, "op")](_n(t, "operand"))


def _element_from(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return (A.SingletonFrom if _n(t, "op") == "singleton" else A.PointFrom)(_n(t, "operand"))


def _type_extent(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return (A.MinValue if _n(t, "op") == "minimum" else A.MaxValue)(_n(t, "type"))


_BINARY: dict[str, Callable[..., A.Expression]] = {
    "^": A.Power, "*": A.Multiply, "/": A.Divide, "div": A.TruncatedDivide, "mod": A.Modulo,
    "+": A.Add, "-": A.Subtract, "&": A.Concatenate,
    "<": A.Less, "<=": A.LessOrEqual, ">": A.Greater, ">=": A.GreaterOrEqual,
    "=": A.Equal, "!=": A.NotEqual, "~": A.Equivalent, "!~": A.NotEquivalent,
    "and": A.And, "or": A.Or, "xor": A.Xor, "implies": A.Implies,
    "|": A.Union, "union": A.Union, "intersect": A.Intersect, "except": A.Except,
    "in": A.In, "contains": A.Contains,
}


_ARITH_PRECEDENCE = {"^": 3, "*": 2, "/": 2, "div": 2, "mod": 2, "+": 1, "-": 1, "&": 1}
# cql.g4's expression alternatives, tightest first: inequality, timing, equality, membership, and, or/xor,
# implies, set operators.
_INFIX_PRECEDENCE = {
    "<": 8, "<=": 8, ">": 8, ">=": 8, "=": 6, "!=": 6, "~": 6, "!~": 6,
    "and": 4, "or": 3, "xor": 3, "implies": 2, "|": 1, "union": 1, "intersect": 1, "except": 1,
}
_TIMING_PRECEDENCE = 7
_MEMBERSHIP_PRECEDENCE = 5


def _infix_precedence(op: Any) -> int:
    if isinstance(op, _Postfix):
        return _MEMBERSHIP_PRECEDENCE
    if callable(op):
        return _TIMING_PRECEDENCE
    return _INFIX_PRECEDENCE[op]


def _apply(op: Any, left: A.Expression, right: A.Expression) -> A.Expression:
    if isinstance(op, _Postfix):  # membership, maybe with a precision
        return _BINARY[op.name]((left, right), op.precision)
    if callable(op):  # a timing phrase builds its own node
        return op(left, right)  # type: ignore[no-any-return]
    return _BINARY[op]((left, right))


def _fold(first: A.Expression, pairs: pp.ParseResults, precedence: Callable[[Any], int]) -> A.Expression:
    """Operator-precedence folding of `a op b op c ...`, all operators left-associative."""
    operands: list[A.Expression] = [first]
    ops: list[Any] = []
    for pair in pairs:
        op, operand = pair[0], pair[1]
        level = precedence(op)
        while ops and precedence(ops[-1]) >= level:
            right, left = operands.pop(), operands.pop()
            operands.append(_apply(ops.pop(), left, right))
        ops.append(op)
        operands.append(operand)
    while ops:
        right, left = operands.pop(), operands.pop()
        operands.append(_apply(ops.pop(), left, right))
    return operands[0]


def _arithmetic(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return _fold(t[0], t[1], lambda op: _ARITH_PRECEDENCE[op])


def _infix(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return _fold(t[0], t[1], _infix_precedence)


@dataclass(frozen=True)
class _Postfix:
    """A parsed suffix (`.name`, `.name(args)`, `[index]`) or a membership operator with its precision."""

    kind: str
    name: str = ""
    args: tuple[Any, ...] | None = None
    index: Any = None
    precision: str | None = None


def _membership_op(s: str, loc: int, t: pp.ParseResults) -> Any:
    return _Postfix("membership", str(_n(t, "op")), precision=str(t["precision"]) if "precision" in t else None)


def _if(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.If(_n(t, "condition"), _n(t, "then"), _n(t, "else"))


def _case(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    items = tuple(A.CaseItem(_n(i, "when"), _n(i, "then")) for i in t["items"])
    return A.Case(_n(t, "comparand", None), items, _n(t, "else"))


def _list_unary(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return (A.Distinct if _n(t, "op") == "distinct" else A.Flatten)(_n(t, "operand"))


def _set_aggregate(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    cls = A.ExpandPer if _n(t, "op") == "expand" else A.CollapsePer
    precision = str(t["precision"]) if "precision" in t else None
    return cls(_n(t, "operand"), _n(t, "per", None), precision)


def _qualified_ref(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    parts = [str(p) for p in t[0]]
    node: A.Expression = A.IdentifierRef(parts[0])
    for p in parts[1:]:
        node = A.Property(node, p)
    return node


def _aliased_source(s: str, loc: int, t: pp.ParseResults) -> A.AliasedQuerySource:
    return A.AliasedQuerySource(t[0], str(t[1]))


def _inclusion(s: str, loc: int, t: pp.ParseResults) -> A.RelationshipClause:
    cls = A.With if _n(t, "kind") == "with" else A.Without
    return cls(_n(t, "source"), _n(t, "condition"))


def _direction(value: Any) -> str:
    return "desc" if str(value).startswith("desc") else "asc"


def _query(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    sources = tuple(t["sources"])
    lets = tuple(A.LetClause(str(_n(i, "name")), _n(i, "value")) for i in t["lets"]) if "lets" in t else ()
    ret = None
    if "return_expr" in t:
        ret = A.ReturnClause(_n(t, "return_expr"), distinct=_n(t, "return_mod", None) != "all")
    agg = None
    if "aggregate_expr" in t:
        starting = t["starting"] if "starting" in t else None
        if isinstance(starting, pp.ParseResults):
            starting = starting[0]
        agg = A.AggregateClause(
            str(_n(t, "aggregate_name")), _n(t, "aggregate_expr"), starting, distinct=_n(t, "aggregate_mod", None) == "distinct"
        )
    sort = None
    if "sort_items" in t:
        sort = A.SortClause(
            tuple(
                A.SortByItem(_direction(_n(i, "direction")) if "direction" in i else "asc", _n(i, "key"))
                for i in t["sort_items"]
            )
        )
    elif "sort_direction" in t:
        sort = A.SortClause((A.SortByItem(_direction(_n(t, "sort_direction")), None),))
    return A.Query(sources, lets, tuple(t["inclusions"]), _n(t, "where", None), ret, agg, sort)


def _postfix_test(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    node: A.Expression = t[0]
    for test in t[1]:
        if "test" in test:
            cls = {"null": A.IsNull, "true": A.IsTrue, "false": A.IsFalse}[_n(test, "test")]
            node = cls(node)
            if "not" in test:
                node = A.Not(node)
        elif _n(test, "type_op") == "is":
            node = A.Is(node, _n(test, "type"))
        else:
            node = A.As(node, _n(test, "type"))
    return node


def _cast(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.As(t[0], _n(t, "type"), strict=True)


def _not(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.Not(_n(t, "operand"))


def _exists(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.Exists(_n(t, "operand"))


def _duration_between(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.DurationBetween((_n(t, "low"), _n(t, "high")), _singular(str(t["precision"])))


def _difference_between(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    return A.DifferenceBetween((_n(t, "low"), _n(t, "high")), _singular(str(t["precision"])))


def _between(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    if len(t) == 1:
        return t[0]  # type: ignore[no-any-return]
    return A.Between(t[0], _n(t, "low"), _n(t, "high"), proper="properly" in t)


# --- timing phrases: each phrase action returns a builder taking (left, right) ------------------------------


def _qualify(expr: A.Expression, qualifier: str | None) -> A.Expression:
    if qualifier == "starts" or qualifier == "start":
        return A.Start(expr)
    if qualifier == "ends" or qualifier == "end":
        return A.End(expr)
    return expr


def _opt(t: pp.ParseResults, name: str) -> str | None:
    if name not in t:
        return None
    value = t[name]
    if isinstance(value, pp.ParseResults):
        return str(value[0]) if len(value) else None
    return str(value)


def _timing_same(s: str, loc: int, t: pp.ParseResults) -> Callable[[A.Expression, A.Expression], A.Expression]:
    qualifier, boundary = _opt(t, "qualifier"), _opt(t, "boundary")
    precision = _opt(t, "precision")
    relation = _opt(t, "relation")
    cls = {"as": A.SameAs, "before": A.SameOrBefore, "after": A.SameOrAfter}[relation or "as"]
    return lambda left, right: cls((_qualify(left, qualifier), _qualify(right, boundary)), precision)


def _timing_includes(s: str, loc: int, t: pp.ParseResults) -> Callable[[A.Expression, A.Expression], A.Expression]:
    proper = "properly" in t
    precision = _opt(t, "precision")
    boundary = _opt(t, "boundary")
    cls = A.ProperIncludes if proper else A.Includes
    return lambda left, right: cls((left, _qualify(right, boundary)), precision)


def _timing_included_in(s: str, loc: int, t: pp.ParseResults) -> Callable[[A.Expression, A.Expression], A.Expression]:
    proper = "properly" in t
    precision = _opt(t, "precision")
    qualifier = _opt(t, "qualifier")
    cls = A.ProperIncludedIn if proper else A.IncludedIn
    return lambda left, right: cls((_qualify(left, qualifier), right), precision)


def _timing_before_after(s: str, loc: int, t: pp.ParseResults) -> Callable[[A.Expression, A.Expression], A.Expression]:
    qualifier, boundary = _opt(t, "qualifier"), _opt(t, "boundary")
    precision = _opt(t, "precision")
    relation = str(t["relation"])
    on_or = "on_or" in t or "or_on" in t
    offset = _n(t, "offset", None)
    offset_qual = _opt(t, "offset_qual")

    def build(left: A.Expression, right: A.Expression) -> A.Expression:
        cls: type[A.BinaryExpression]
        shifted: A.Expression
        lq, rq = _qualify(left, qualifier), _qualify(right, boundary)
        if offset is None:
            if on_or:
                cls = A.SameOrBefore if relation == "before" else A.SameOrAfter
            else:
                cls = A.Before if relation == "before" else A.After
            return cls((lq, rq), precision)
        # With an offset the phrase compares points: the nearest boundaries unless start/end was named.
        lp = lq if qualifier else A.TimingPoint(lq, "end" if relation == "before" else "start")
        rp = rq if boundary else A.TimingPoint(rq, "start" if relation == "before" else "end")
        if relation == "before":
            shifted = A.Subtract((rp, offset))
        else:
            shifted = A.Add((rp, offset))
        if offset_qual is None:
            return A.SameAs((lp, shifted), precision)
        if offset_qual == "or more":
            cls = A.SameOrBefore if relation == "before" else A.SameOrAfter
            return cls((lp, shifted), precision)
        if offset_qual == "more than":
            cls = A.Before if relation == "before" else A.After
            return cls((lp, shifted), precision)
        closed = offset_qual == "or less"
        if relation == "before":
            window = A.IntervalSelector(shifted, rp, closed, False)
        else:
            window = A.IntervalSelector(rp, shifted, False, closed)
        return A.And((A.In((lp, window), precision), A.Not(A.IsNull(rp))))

    return build


def _timing_within(s: str, loc: int, t: pp.ParseResults) -> Callable[[A.Expression, A.Expression], A.Expression]:
    qualifier = _opt(t, "qualifier")
    proper = "properly" in t
    offset = _n(t, "offset")
    return lambda left, right: A.Within(_qualify(left, qualifier), right, offset, proper)


def _simple_phrase(names: dict[str | None, Callable[..., A.Expression]]) -> Callable[..., Any]:
    def action(s: str, loc: int, t: pp.ParseResults) -> Callable[[A.Expression, A.Expression], A.Expression]:
        cls = names[_opt(t, "relation")]
        precision = _opt(t, "precision")
        return lambda left, right: cls((left, right), precision)

    return action


# --- library ----------------------------------------------------------------------------------------------


def _qualified(group: pp.ParseResults | str) -> str:
    if isinstance(group, str):
        return group
    return ".".join(str(p) for p in group)


def _access(t: pp.ParseResults) -> str:
    value = t.get("access")  # type: ignore[no-untyped-call]
    if isinstance(value, pp.ParseResults):
        value = value[0] if len(value) else None
    return str(value) if value else "public"


def _library_header(s: str, loc: int, t: pp.ParseResults) -> Any:
    return ("library", _qualified(_n(t, "name")), _str(_n(t, "version")) if "version" in t else None)


def _using(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    return A.UsingDef(_qualified(_n(t, "name")), _str(_n(t, "version")) if "version" in t else None)


def _include(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    name = _qualified(_n(t, "name"))
    alias = str(_n(t, "alias")) if "alias" in t else name.split(".")[-1]
    return A.IncludeDef(name, _str(_n(t, "version")) if "version" in t else None, alias)


def _codesystem(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    return A.CodeSystemDef(str(_n(t, "name")), _str(_n(t, "id")), _str(_n(t, "version")) if "version" in t else None, _access(t))


def _valueset(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    return A.ValueSetDef(str(_n(t, "name")), _str(_n(t, "id")), _str(_n(t, "version")) if "version" in t else None, _access(t))


def _code_def(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    display = _str(_n(t, "display")) if "display" in t else None
    return A.CodeDef(str(_n(t, "name")), _str(_n(t, "code")), _code_ref(t["system"], A.CodeSystemRef), display, _access(t))


def _concept_def(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    display = _str(_n(t, "display")) if "display" in t else None
    codes = tuple(_code_ref(c, A.CodeRef) for c in t["codes"])
    return A.ConceptDef(str(_n(t, "name")), codes, display, _access(t))


def _parameter(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    return A.ParameterDef(str(_n(t, "name")), _n(t, "type", None), _n(t, "default", None), _access(t))


def _context(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    return A.ContextDef(str(_n(t, "name")))


def _function_def(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    operands = tuple(A.OperandDef(str(_n(o, "name")), _n(o, "type")) for o in t["operands"])
    body = _n(t, "body", None) if "external" not in t else None
    return A.FunctionDef(
        str(_n(t, "name")), operands, body, _n(t, "returns", None), fluent="fluent" in t, access=_access(t),
        text=_statement_text(s, loc),
    )


def _expression_def(s: str, loc: int, t: pp.ParseResults) -> A.Element:
    return A.ExpressionDef(str(_n(t, "name")), _n(t, "body"), access=_access(t), text=_statement_text(s, loc))


def _statement_text(s: str, loc: int) -> str:
    # The first line of a statement is what error messages quote; the full text may hold PHI-free CQL only.
    return s[loc:].lstrip().split("\n", 1)[0][:200]


def _library(s: str, loc: int, t: pp.ParseResults) -> A.Library:
    name = version = None
    header = t.get("header")  # type: ignore[no-untyped-call]
    if isinstance(header, pp.ParseResults):
        header = header[0] if len(header) else None
    if header:
        _, name, version = header
    usings: list[A.UsingDef] = []
    includes: list[A.IncludeDef] = []
    codesystems: list[A.CodeSystemDef] = []
    valuesets: list[A.ValueSetDef] = []
    codes: list[A.CodeDef] = []
    concepts: list[A.ConceptDef] = []
    parameters: list[A.ParameterDef] = []
    statements: list[A.ExpressionDef | A.FunctionDef] = []
    context = "Unfiltered"
    buckets: dict[type, list[Any]] = {
        A.UsingDef: usings, A.IncludeDef: includes, A.CodeSystemDef: codesystems, A.ValueSetDef: valuesets,
        A.CodeDef: codes, A.ConceptDef: concepts, A.ParameterDef: parameters,
    }
    for st in t["statements"]:
        if isinstance(st, A.ContextDef):
            context = st.name
        elif isinstance(st, A.ExpressionDef):
            statements.append(A.ExpressionDef(st.name, st.expression, context, st.access, st.text))
        elif isinstance(st, A.FunctionDef):
            statements.append(
                A.FunctionDef(st.name, st.operands, st.expression, st.return_type, st.fluent, st.access, context, st.text)
            )
        else:
            buckets[type(st)].append(st)
    return A.Library(
        name, version, tuple(usings), tuple(includes), tuple(codesystems), tuple(valuesets), tuple(codes),
        tuple(concepts), tuple(parameters), tuple(statements),
    )


def _signed_literal(s: str, loc: int, t: pp.ParseResults) -> A.Expression:
    node: A.Expression = _n(t, "literal")
    if _n(t, "sign", None) == "-":
        if isinstance(node, A.Literal) and node.value_type in ("Integer", "Long", "Decimal"):
            return A.Literal(node.value_type, -node.value)
        if isinstance(node, A.Literal) and node.value_type == "Quantity":
            return A.Literal("Quantity", (-node.value[0], node.value[1]))
        return A.Negate(node)
    return node


ACTIONS: dict[str, Callable[..., Any]] = {
    "literal": _literal, "quantity": _quantity, "ratio": _ratio,
    "named_type": _named_type, "list_type": _list_type, "interval_type": _interval_type,
    "tuple_type": _tuple_type, "choice_type": _choice_type,
    "interval_selector": _interval, "tuple_selector": _tuple, "instance_selector": _instance,
    "list_selector": _list, "code_selector": _code_selector, "concept_selector": _concept_selector,
    "function_call": _function_call, "external_constant": _external, "special_identifier": _special,
    "identifier": _identifier,
    "identifier_ref": _identifier_ref, "parenthesized": _parenthesized,
    "retrieve": _retrieve, "member": _member, "indexer": _indexer, "postfix": _postfix,
    "convert": _convert, "polarity": _polarity, "boundary": _boundary, "component_from": _component,
    "duration_of": _duration_of, "width_of": _width_of, "element_from": _element_from, "type_extent": _type_extent,
    "arithmetic": _arithmetic, "infix": _infix, "membership_op": _membership_op, "if": _if, "case": _case, "list_unary": _list_unary,
    "set_aggregate": _set_aggregate, "qualified_ref": _qualified_ref, "aliased_source": _aliased_source,
    "inclusion": _inclusion, "query": _query, "postfix_test": _postfix_test, "cast": _cast, "not": _not,
    "exists": _exists, "duration_between": _duration_between, "difference_between": _difference_between,
    "between": _between, "timing_same": _timing_same, "timing_includes": _timing_includes,
    "timing_included_in": _timing_included_in, "timing_before_after": _timing_before_after,
    "timing_within": _timing_within,
    "timing_meets": _simple_phrase({None: A.Meets, "before": A.MeetsBefore, "after": A.MeetsAfter}),
    "timing_overlaps": _simple_phrase({None: A.Overlaps, "before": A.OverlapsBefore, "after": A.OverlapsAfter}),
    "timing_starts": _simple_phrase({None: A.Starts}), "timing_ends": _simple_phrase({None: A.Ends}),
    "library_header": _library_header, "using_def": _using, "include_def": _include,
    "codesystem_def": _codesystem, "valueset_def": _valueset, "code_def": _code_def, "concept_def": _concept_def,
    "parameter_def": _parameter, "context_def": _context, "function_def": _function_def,
    "expression_def": _expression_def, "library": _library,
    "signed_literal": _signed_literal,
}

# pyparsing's packrat cache is process-wide and reset at the start of every parse, so parses must not
# overlap: one lock serialises them (parsing happens at library load, never on the request path).
def _located(action: Callable[..., Any]) -> Callable[..., Any]:
    """Stamp the node an action builds with its line, column and source text, for run-time errors."""

    def stamped(s: str, loc: int, t: pp.ParseResults) -> Any:
        node = action(s, loc, t)
        if isinstance(node, A.Expression) and node.origin is None:
            while loc < len(s) and s[loc].isspace():
                loc += 1
            text = s[loc:loc + 60].split("\n", 1)[0].rstrip()
            object.__setattr__(node, "origin", (text, pp.lineno(loc, s), pp.col(loc, s)))  # frozen: set exactly once, right after construction
        return node

    return stamped


_PARSE_LOCK = threading.RLock()
_GRAMMAR: list[dict[str, pp.ParserElement]] = []


def _grammar() -> dict[str, pp.ParserElement]:
    if not _GRAMMAR:
        enable_packrat()
        _GRAMMAR.append(build_grammar({name: _located(action) for name, action in ACTIONS.items()}))
    return _GRAMMAR[0]


_PAIRS = {"(": ")", "[": "]", "{": "}"}
_STRING_OR_COMMENT_RE = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`|//[^\n]*|/\*.*?\*/""", re.S)


def _unbalanced_bracket(text: str) -> tuple[int, str] | None:
    """The position and message of the first bracket that is never closed or closes nothing, if any.

    pyparsing reports where the enclosing statement stopped matching (often the start of the define); an
    unclosed parenthesis is the usual reason, and its own position is what a rule author needs."""
    masked = _STRING_OR_COMMENT_RE.sub(lambda m: " " * len(m.group(0)), text)
    stack: list[tuple[str, int]] = []
    for pos, ch in enumerate(masked):
        if ch in _PAIRS:
            stack.append((ch, pos))
        elif ch in ")]}":
            if not stack or _PAIRS[stack[-1][0]] != ch:
                return pos, f"{ch!r} closes nothing" if not stack else \
                    f"{ch!r} does not match the {stack[-1][0]!r} it would close"
            stack.pop()
    if stack:
        opener, pos = stack[0] if len(stack) == 1 else stack[-1]
        return pos, f"{opener!r} is never closed (expected {_PAIRS[opener]!r})"
    return None


def _syntax_error(text: str, exc: pp.ParseBaseException) -> CqlSyntaxError:
    unbalanced = _unbalanced_bracket(text)
    if unbalanced is not None:
        pos, message = unbalanced
        line_no = text.count("\n", 0, pos) + 1
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        line = text[start:] if end < 0 else text[start:end]
        col = pos - start + 1
        return CqlSyntaxError(message, line_no, col, f"{line}\n{' ' * (col - 1)}^")
    line_no = exc.lineno
    col = exc.col
    line = exc.line
    snippet = f"{line}\n{' ' * (col - 1)}^"
    found = text[exc.loc : exc.loc + 20].split("\n", 1)[0]
    message = f"unexpected {found!r}" if found else "unexpected end of text"
    return CqlSyntaxError(message, line_no, col, snippet)


_COMMENT_RE = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`|//[^\n]*|/\*.*?\*/""", re.S)


def strip_comments(text: str) -> str:
    """Blank out comments (keeping newlines, so line/column stay right); strings are left untouched.

    Done once before parsing because pyparsing's per-element `ignore` costs a regex at every element.
    """

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token[0] in "'\"`":
            return token
        return re.sub(r"[^\n]", " ", token)

    return _COMMENT_RE.sub(repl, text)


def parse_library(text: str) -> A.Library:
    """Parse a whole CQL library; raises CqlSyntaxError with line, column and a caret snippet.

    The AST is immutable, so parses are memoised by text: a process that builds several managers (tests,
    one per configuration version) parses each library once.
    """
    return _parse_library_cached(text)


# Parsing is the slow part of start-up (pyparsing: seconds for the clinical libraries; compiling the AST
# takes milliseconds), so parsed libraries are also kept on disk, keyed by the library text and the
# engine's own grammar/AST source: any change to either parses again. CDS_CQL_CACHE_DIR chooses the folder
# (default: $XDG_CACHE_HOME/cds-service/cql, else ~/.cache/cds-service/cql); set it empty to disable.
_ENGINE_SOURCES = ("ast.py", "builder.py", "grammar.py")


@lru_cache(maxsize=1)
def _engine_fingerprint() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _ENGINE_SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def _cache_dir() -> Path | None:
    configured = os.environ.get("CDS_CQL_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cds-service" / "cql"


def _cache_path(text: str) -> Path | None:
    folder = _cache_dir()
    if folder is None:
        return None
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return folder / f"{_engine_fingerprint()}-{key}.pickle"


def _load_cached(path: Path | None) -> A.Library | None:
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            value = pickle.load(handle)
    except Exception:  # a truncated or foreign file: parse again (and overwrite it)
        return None
    if not isinstance(value, A.Library):
        return None
    try:
        os.utime(path)  # in use: pruning removes the least recently used entries first
    except OSError:
        pass
    return value


def _store_cached(path: Path | None, library: A.Library) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
            pickle.dump(library, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)  # atomic: a concurrent reader sees the old file or the whole new one
        _prune(path.parent)
    except OSError:
        pass  # a read-only or full disk only costs the next start-up a parse


_CACHE_KEEP = 256


def _prune(folder: Path) -> None:
    """Keep the most recently written entries only (old engine versions and edited libraries age out)."""
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in entries[_CACHE_KEEP:]:
        stale.unlink(missing_ok=True)


@lru_cache(maxsize=64)
def _parse_library_cached(text: str) -> A.Library:
    path = _cache_path(text)
    cached = _load_cached(path)
    if cached is not None:
        return cached
    library = _parse_library_uncached(text)
    _store_cached(path, library)
    return library


def _parse_library_uncached(text: str) -> A.Library:
    try:
        with _PARSE_LOCK:
            result = _grammar()["library"].parse_string(strip_comments(text), parse_all=True)
    except pp.ParseBaseException as exc:
        raise _syntax_error(text, exc) from None
    except RecursionError:
        raise CqlSyntaxError("expression nested too deeply", 1, 1, text.split("\n", 1)[0][:80] + "\n^") from None
    return result[0]  # type: ignore[no-any-return]


def parse_expression(text: str) -> A.Expression:
    """Parse one CQL expression (no library around it)."""
    try:
        with _PARSE_LOCK:
            result = _grammar()["expression"].parse_string(strip_comments(text), parse_all=True)
    except pp.ParseBaseException as exc:
        raise _syntax_error(text, exc) from None
    except RecursionError:
        raise CqlSyntaxError("expression nested too deeply", 1, 1, text.split("\n", 1)[0][:80] + "\n^") from None
    return result[0]  # type: ignore[no-any-return]
