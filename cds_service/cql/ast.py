"""ENGINE AST: frozen dataclass nodes named after ELM, produced once by the builder and compiled once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Element:
    """Base of every AST node."""


@dataclass(frozen=True)
class Expression(Element):
    """Base of every expression node; `origin` is (source text, line, column), for error messages only.

    `origin` is set once by the builder, never compared, and not part of the node's identity.
    """

    origin: tuple[str, int, int] | None = field(default=None, kw_only=True, compare=False, repr=False)


# --- type specifiers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeSpecifier(Element):
    pass


@dataclass(frozen=True)
class NamedTypeSpecifier(TypeSpecifier):
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class ListTypeSpecifier(TypeSpecifier):
    element_type: TypeSpecifier

    def __str__(self) -> str:
        return f"List<{self.element_type}>"


@dataclass(frozen=True)
class IntervalTypeSpecifier(TypeSpecifier):
    point_type: TypeSpecifier

    def __str__(self) -> str:
        return f"Interval<{self.point_type}>"


@dataclass(frozen=True)
class TupleTypeSpecifier(TypeSpecifier):
    elements: tuple[tuple[str, TypeSpecifier], ...]

    def __str__(self) -> str:
        return "Tuple{" + ", ".join(f"{n} {t}" for n, t in self.elements) + "}"


@dataclass(frozen=True)
class ChoiceTypeSpecifier(TypeSpecifier):
    choices: tuple[TypeSpecifier, ...]

    def __str__(self) -> str:
        return "Choice<" + ", ".join(str(c) for c in self.choices) + ">"


# --- leaves and selectors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal(Expression):
    """A System literal; `value_type` is the System type name ('Integer', 'Decimal', 'DateTime', ...)."""

    value_type: str
    value: Any


@dataclass(frozen=True)
class Null(Expression):
    pass


@dataclass(frozen=True)
class IdentifierRef(Expression):
    """An unqualified name; the compiler resolves it (alias, let, operand, define, parameter, code, ...)."""

    name: str


@dataclass(frozen=True)
class ExternalConstant(Expression):
    name: str


@dataclass(frozen=True)
class Property(Expression):
    """`source.path`; `source` None means an implicit alias ($this)."""

    source: Expression | None
    path: str


@dataclass(frozen=True)
class FunctionRef(Expression):
    """A call `name(operands)`; `library` set for `Lib.name(...)`, `fluent` for `x.name(...)`."""

    name: str
    operands: tuple[Expression, ...]
    library: str | None = None
    fluent: bool = False


@dataclass(frozen=True)
class Indexer(Expression):
    source: Expression
    index: Expression


@dataclass(frozen=True)
class ListSelector(Expression):
    elements: tuple[Expression, ...]
    type_specifier: TypeSpecifier | None = None


@dataclass(frozen=True)
class TupleSelector(Expression):
    elements: tuple[tuple[str, Expression], ...]


@dataclass(frozen=True)
class Instance(Expression):
    class_type: NamedTypeSpecifier
    elements: tuple[tuple[str, Expression], ...]


@dataclass(frozen=True)
class IntervalSelector(Expression):
    low: Expression
    high: Expression
    low_closed: bool
    high_closed: bool


@dataclass(frozen=True)
class CodeSystemRef(Expression):
    name: str
    library: str | None = None


@dataclass(frozen=True)
class CodeRef(Expression):
    name: str
    library: str | None = None


@dataclass(frozen=True)
class CodeSelector(Expression):
    code: str
    system: CodeSystemRef
    display: str | None = None


@dataclass(frozen=True)
class ConceptSelector(Expression):
    codes: tuple[CodeRef, ...]
    display: str | None = None


@dataclass(frozen=True)
class Retrieve(Expression):
    data_type: NamedTypeSpecifier
    code_property: str | None = None
    codes: Expression | None = None


# --- queries --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AliasedQuerySource(Element):
    expression: Expression
    alias: str


@dataclass(frozen=True)
class LetClause(Element):
    identifier: str
    expression: Expression


@dataclass(frozen=True)
class RelationshipClause(Element):
    source: AliasedQuerySource
    such_that: Expression


@dataclass(frozen=True)
class With(RelationshipClause):
    pass


@dataclass(frozen=True)
class Without(RelationshipClause):
    pass


@dataclass(frozen=True)
class ReturnClause(Element):
    expression: Expression
    distinct: bool = True


@dataclass(frozen=True)
class AggregateClause(Element):
    identifier: str
    expression: Expression
    starting: Expression | None = None
    distinct: bool = False


@dataclass(frozen=True)
class SortByItem(Element):
    direction: str  # 'asc' | 'desc'
    expression: Expression | None = None  # None: sort by the element itself


@dataclass(frozen=True)
class SortClause(Element):
    by: tuple[SortByItem, ...]


@dataclass(frozen=True)
class Query(Expression):
    sources: tuple[AliasedQuerySource, ...]
    lets: tuple[LetClause, ...] = ()
    relationships: tuple[RelationshipClause, ...] = ()
    where: Expression | None = None
    return_clause: ReturnClause | None = None
    aggregate: AggregateClause | None = None
    sort: SortClause | None = None


# --- conditionals and types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class If(Expression):
    condition: Expression
    then: Expression
    else_: Expression


@dataclass(frozen=True)
class CaseItem(Element):
    when: Expression
    then: Expression


@dataclass(frozen=True)
class Case(Expression):
    comparand: Expression | None
    items: tuple[CaseItem, ...]
    else_: Expression


@dataclass(frozen=True)
class Is(Expression):
    operand: Expression
    type_specifier: TypeSpecifier


@dataclass(frozen=True)
class As(Expression):
    operand: Expression
    type_specifier: TypeSpecifier
    strict: bool = False


@dataclass(frozen=True)
class Convert(Expression):
    operand: Expression
    type_specifier: TypeSpecifier


@dataclass(frozen=True)
class ConvertQuantity(Expression):
    operand: Expression
    unit: str


@dataclass(frozen=True)
class MinValue(Expression):
    value_type: NamedTypeSpecifier


@dataclass(frozen=True)
class MaxValue(Expression):
    value_type: NamedTypeSpecifier


@dataclass(frozen=True)
class DateTimeComponentFrom(Expression):
    operand: Expression
    precision: str


# --- operators --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnaryExpression(Expression):
    operand: Expression


@dataclass(frozen=True)
class BinaryExpression(Expression):
    """Two operands; `precision` for the temporal forms (`before day of`, `same month as`, `in day of`)."""

    operands: tuple[Expression, Expression]
    precision: str | None = None


@dataclass(frozen=True)
class TimingPoint(Expression):
    """The point a timing phrase with an offset compares: the value itself, or an interval's start or end."""

    operand: Expression
    boundary: str  # 'start' | 'end'


@dataclass(frozen=True)
class Between(Expression):
    operand: Expression
    low: Expression
    high: Expression
    proper: bool = False


@dataclass(frozen=True)
class Within(Expression):
    """`A (starts|ends)? (properly)? within q of B`, kept whole so intervals and points both work."""

    left: Expression
    right: Expression
    quantity: Expression
    proper: bool = False



@dataclass(frozen=True)
class Negate(UnaryExpression):
    pass


@dataclass(frozen=True)
class Not(UnaryExpression):
    pass


@dataclass(frozen=True)
class Exists(UnaryExpression):
    pass


@dataclass(frozen=True)
class IsNull(UnaryExpression):
    pass


@dataclass(frozen=True)
class IsTrue(UnaryExpression):
    pass


@dataclass(frozen=True)
class IsFalse(UnaryExpression):
    pass


@dataclass(frozen=True)
class Start(UnaryExpression):
    pass


@dataclass(frozen=True)
class End(UnaryExpression):
    pass


@dataclass(frozen=True)
class Width(UnaryExpression):
    pass


@dataclass(frozen=True)
class Size(UnaryExpression):
    pass


@dataclass(frozen=True)
class Successor(UnaryExpression):
    pass


@dataclass(frozen=True)
class Predecessor(UnaryExpression):
    pass


@dataclass(frozen=True)
class SingletonFrom(UnaryExpression):
    pass


@dataclass(frozen=True)
class PointFrom(UnaryExpression):
    pass


@dataclass(frozen=True)
class Distinct(UnaryExpression):
    pass


@dataclass(frozen=True)
class Flatten(UnaryExpression):
    pass


@dataclass(frozen=True)
class DateFrom(UnaryExpression):
    pass


@dataclass(frozen=True)
class TimeFrom(UnaryExpression):
    pass


@dataclass(frozen=True)
class TimezoneOffsetFrom(UnaryExpression):
    pass


@dataclass(frozen=True)
class Add(BinaryExpression):
    pass


@dataclass(frozen=True)
class Subtract(BinaryExpression):
    pass


@dataclass(frozen=True)
class Multiply(BinaryExpression):
    pass


@dataclass(frozen=True)
class Divide(BinaryExpression):
    pass


@dataclass(frozen=True)
class TruncatedDivide(BinaryExpression):
    pass


@dataclass(frozen=True)
class Modulo(BinaryExpression):
    pass


@dataclass(frozen=True)
class Power(BinaryExpression):
    pass


@dataclass(frozen=True)
class Concatenate(BinaryExpression):
    pass


@dataclass(frozen=True)
class Equal(BinaryExpression):
    pass


@dataclass(frozen=True)
class NotEqual(BinaryExpression):
    pass


@dataclass(frozen=True)
class Equivalent(BinaryExpression):
    pass


@dataclass(frozen=True)
class NotEquivalent(BinaryExpression):
    pass


@dataclass(frozen=True)
class Less(BinaryExpression):
    pass


@dataclass(frozen=True)
class Greater(BinaryExpression):
    pass


@dataclass(frozen=True)
class LessOrEqual(BinaryExpression):
    pass


@dataclass(frozen=True)
class GreaterOrEqual(BinaryExpression):
    pass


@dataclass(frozen=True)
class And(BinaryExpression):
    pass


@dataclass(frozen=True)
class Or(BinaryExpression):
    pass


@dataclass(frozen=True)
class Xor(BinaryExpression):
    pass


@dataclass(frozen=True)
class Implies(BinaryExpression):
    pass


@dataclass(frozen=True)
class Union(BinaryExpression):
    pass


@dataclass(frozen=True)
class Intersect(BinaryExpression):
    pass


@dataclass(frozen=True)
class Except(BinaryExpression):
    pass


@dataclass(frozen=True)
class In(BinaryExpression):
    pass


@dataclass(frozen=True)
class Contains(BinaryExpression):
    pass


@dataclass(frozen=True)
class Includes(BinaryExpression):
    pass


@dataclass(frozen=True)
class IncludedIn(BinaryExpression):
    pass


@dataclass(frozen=True)
class ProperIncludes(BinaryExpression):
    pass


@dataclass(frozen=True)
class ProperIncludedIn(BinaryExpression):
    pass


@dataclass(frozen=True)
class ProperIn(BinaryExpression):
    pass


@dataclass(frozen=True)
class ProperContains(BinaryExpression):
    pass


@dataclass(frozen=True)
class Before(BinaryExpression):
    pass


@dataclass(frozen=True)
class After(BinaryExpression):
    pass


@dataclass(frozen=True)
class SameAs(BinaryExpression):
    pass


@dataclass(frozen=True)
class SameOrBefore(BinaryExpression):
    pass


@dataclass(frozen=True)
class SameOrAfter(BinaryExpression):
    pass


@dataclass(frozen=True)
class Meets(BinaryExpression):
    pass


@dataclass(frozen=True)
class MeetsBefore(BinaryExpression):
    pass


@dataclass(frozen=True)
class MeetsAfter(BinaryExpression):
    pass


@dataclass(frozen=True)
class Overlaps(BinaryExpression):
    pass


@dataclass(frozen=True)
class OverlapsBefore(BinaryExpression):
    pass


@dataclass(frozen=True)
class OverlapsAfter(BinaryExpression):
    pass


@dataclass(frozen=True)
class Starts(BinaryExpression):
    pass


@dataclass(frozen=True)
class Ends(BinaryExpression):
    pass


@dataclass(frozen=True)
class DurationBetween(BinaryExpression):
    pass


@dataclass(frozen=True)
class DifferenceBetween(BinaryExpression):
    pass


@dataclass(frozen=True)
class Collapse(BinaryExpression):
    pass


@dataclass(frozen=True)
class Expand(BinaryExpression):
    pass


@dataclass(frozen=True)
class ExpandPer(Expression):
    operand: Expression
    per: Expression | None = None
    precision: str | None = None


@dataclass(frozen=True)
class CollapsePer(Expression):
    operand: Expression
    per: Expression | None = None
    precision: str | None = None


# --- library ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsingDef(Element):
    name: str
    version: str | None = None


@dataclass(frozen=True)
class IncludeDef(Element):
    name: str
    version: str | None
    alias: str


@dataclass(frozen=True)
class CodeSystemDef(Element):
    name: str
    id: str
    version: str | None = None
    access: str = "public"


@dataclass(frozen=True)
class ValueSetDef(Element):
    name: str
    id: str
    version: str | None = None
    access: str = "public"


@dataclass(frozen=True)
class CodeDef(Element):
    name: str
    id: str
    system: CodeSystemRef
    display: str | None = None
    access: str = "public"


@dataclass(frozen=True)
class ConceptDef(Element):
    name: str
    codes: tuple[CodeRef, ...]
    display: str | None = None
    access: str = "public"


@dataclass(frozen=True)
class ParameterDef(Element):
    name: str
    type_specifier: TypeSpecifier | None
    default: Expression | None
    access: str = "public"


@dataclass(frozen=True)
class ContextDef(Element):
    name: str


@dataclass(frozen=True)
class OperandDef(Element):
    name: str
    type_specifier: TypeSpecifier


@dataclass(frozen=True)
class ExpressionDef(Element):
    name: str
    expression: Expression
    context: str = "Patient"
    access: str = "public"
    text: str = ""


@dataclass(frozen=True)
class FunctionDef(Element):
    name: str
    operands: tuple[OperandDef, ...]
    expression: Expression | None  # None: external
    return_type: TypeSpecifier | None = None
    fluent: bool = False
    access: str = "public"
    context: str = "Patient"
    text: str = ""


@dataclass(frozen=True)
class Library(Element):
    name: str | None
    version: str | None
    usings: tuple[UsingDef, ...] = ()
    includes: tuple[IncludeDef, ...] = ()
    codesystems: tuple[CodeSystemDef, ...] = ()
    valuesets: tuple[ValueSetDef, ...] = ()
    codes: tuple[CodeDef, ...] = ()
    concepts: tuple[ConceptDef, ...] = ()
    parameters: tuple[ParameterDef, ...] = ()
    statements: tuple[ExpressionDef | FunctionDef, ...] = field(default_factory=tuple)
