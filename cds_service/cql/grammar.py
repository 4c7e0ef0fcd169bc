"""ENGINE grammar: the pure pyparsing grammar of CQL 1.5 (expressions, timing phrases, literals, libraries)."""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping

import pyparsing as pp

# Words that can never be a plain identifier: they start or continue an operator phrase, so allowing them
# as names would make `X during Y` or `A and B` ambiguous. Quoted identifiers ("start") are always allowed.
RESERVED = frozenset(
    """
    after aggregate all and as asc ascending before between by called case cast collapse contains convert
    day days define desc descending difference distinct div during else end ends except exists expand false
    flatten from hour hours if implies in include includes included intersect is let maximum meets millisecond
    milliseconds minimum minute minutes mod month months not null occurs of or overlaps per point predecessor
    properly return same second seconds singleton sort start starts successor such that then to true union
    using week weeks when where width with within without xor year years
    """.split()
)

PRECISIONS = ("year", "month", "week", "day", "hour", "minute", "second", "millisecond")
COMPONENTS = PRECISIONS + ("date", "time", "timezoneoffset", "timezone")

Actions = Mapping[str, Callable[..., Any]]

_ENABLED = False

_WORD_RE = pp.Regex(r"[A-Za-z_][A-Za-z0-9_]*").re


_SPACE_RE = re.compile(r"\s*")


class OperatorLoop(pp.ParserElement):
    """`first (tail)*` where a tail is tried only when its first character or word can start it.

    Produces `[first, [tail, ...]]` like `first + Group(ZeroOrMore(tail))`, without raising a pyparsing
    exception at every operand for the operators that do not follow it (the common case).
    """

    def __init__(self, first: pp.ParserElement, tail: pp.ParserElement, chars: str,
                 words: frozenset[str] = frozenset(), digits: bool = False) -> None:
        super().__init__()
        self.first = first
        self.tail = tail
        self.chars = chars
        self.words = words
        self.digits = digits
        self.mayReturnEmpty = False
        self.mayIndexError = False

    def _may_start(self, instring: str, pos: int) -> bool:
        if pos >= len(instring):
            return False
        ch = instring[pos]
        if ch in self.chars or (self.digits and ch.isdigit()):
            return True
        if self.words:
            match = _WORD_RE.match(instring, pos)
            return match is not None and match.group(0) in self.words
        return False

    def parseImpl(self, instring: str, loc: int, do_actions: bool = True) -> tuple[int, Any]:
        loc, first = self.first._parse(instring, loc, do_actions, callPreParse=False)
        tails: list[Any] = []
        while True:
            pos = _SPACE_RE.match(instring, loc).end()  # type: ignore[union-attr]
            if not self._may_start(instring, pos):
                break
            try:
                loc, found = self.tail._parse(instring, loc, do_actions)
            except pp.ParseException:
                break
            tails.extend(found)
        return loc, pp.ParseResults([*first, tails])

    def streamline(self) -> "OperatorLoop":
        super().streamline()
        self.first.streamline()
        self.tail.streamline()
        return self

    def _generateDefaultName(self) -> str:
        return "operator sequence"


class FirstCharDispatch(pp.ParserElement):
    """An ordered choice decided by the next character (and, for words, the word itself).

    CQL terms are told apart by their first token, so trying each alternative in turn (and raising a
    pyparsing exception for every miss) is wasted work; this element jumps straight to the candidates.
    """

    def __init__(self, by_char: dict[str, pp.ParserElement], by_word: dict[str, pp.ParserElement],
                 default_word: pp.ParserElement, default_other: pp.ParserElement | None = None) -> None:
        super().__init__()
        self.by_char = by_char
        self.by_word = by_word
        self.default_word = default_word
        self.default_other = default_other
        self.mayReturnEmpty = False
        self.mayIndexError = False

    def parseImpl(self, instring: str, loc: int, do_actions: bool = True) -> tuple[int, Any]:
        if loc >= len(instring):
            raise pp.ParseException(instring, loc, "expected an expression", self)
        ch = instring[loc]
        target = self.by_char.get(ch)
        if target is None:
            match = _WORD_RE.match(instring, loc)
            if match is not None:
                target = self.by_word.get(match.group(0), self.default_word)
            elif self.default_other is not None:
                target = self.default_other
            else:
                raise pp.ParseException(instring, loc, "expected an expression", self)
        return target._parse(instring, loc, do_actions, callPreParse=False)

    def streamline(self) -> "FirstCharDispatch":
        super().streamline()
        others = (self.default_other,) if self.default_other is not None else ()
        for element in (*self.by_char.values(), *self.by_word.values(), self.default_word, *others):
            element.streamline()
        return self

    def _generateDefaultName(self) -> str:
        return "term"


def enable_packrat() -> None:
    """Packrat makes the ordered choices of the expression grammar linear; done once, on first use."""
    global _ENABLED
    if not _ENABLED:
        pp.ParserElement.enable_packrat(cache_size_limit=None)
        _ENABLED = True


def build_grammar(actions: Actions | None = None) -> dict[str, pp.ParserElement]:
    """Build a fresh grammar; `actions[rule]` (if given) becomes that rule's parse action.

    Returns the top rules: `library`, `expression`, `type_specifier`, `literal_term`.
    Each call builds new elements, so no parser state is shared between grammars.
    """
    acts = dict(actions or {})

    def rule(name: str, element: pp.ParserElement) -> pp.ParserElement:
        element = element.set_name(name)
        if name in acts:
            element = element.add_parse_action(acts[name])
        return element

    def K(word: str) -> pp.ParserElement:
        return pp.Keyword(word)

    def phrase(words: str) -> pp.ParserElement:
        parts = [pp.Keyword(w) for w in words.split()]
        return pp.Combine(pp.And(parts), join_string=" ", adjacent=False)

    def kw_any(words: tuple[str, ...] | list[str]) -> pp.ParserElement:
        # One regex instead of a MatchFirst of Keywords: a miss costs one failed match, not one per word.
        alternatives = "|".join(sorted(words, key=len, reverse=True))
        return pp.Regex(rf"(?:{alternatives})(?![A-Za-z0-9_])")

    LPAR, RPAR, LBRACK, RBRACK, LBRACE, RBRACE = map(pp.Suppress, "()[]{}")
    COMMA, COLON, DOT = pp.Suppress(","), pp.Suppress(":"), pp.Suppress(".")

    # --- lexical -------------------------------------------------------------------------------------
    string_lit = rule("string", pp.Regex(r"'(?:[^'\\]|\\.)*'"))
    quoted = r'"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`'
    # One regex per identifier (plain, "quoted" or `back-ticked`); plain ones may not be reserved words.
    identifier = rule(
        "identifier",
        pp.Regex(rf"[A-Za-z_][A-Za-z0-9_]*|{quoted}").add_condition(lambda t: t[0] not in RESERVED),
    )
    # After a dot, in tuple element names and in type names any word is a name.
    any_identifier = rule("identifier", pp.Regex(rf"[A-Za-z_][A-Za-z0-9_]*|{quoted}"))
    special_ident = rule("special_identifier", pp.Regex(r"\$(this|index|total)"))

    number = pp.Regex(r"\d+(\.\d+)?")
    long_number = pp.Regex(r"\d+L")
    date_time_lit = rule(
        "datetime_literal",
        pp.Regex(
            r"@\d{4}(-\d{2}(-\d{2})?)?T((\d{2})(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}:\d{2})?"
        ),
    )
    date_lit = rule("date_literal", pp.Regex(r"@\d{4}(-\d{2}(-\d{2})?)?(?![\dT])"))
    time_lit = rule("time_literal", pp.Regex(r"@T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?"))

    plural_precision = kw_any([p + "s" for p in PRECISIONS])
    singular_precision = kw_any(list(PRECISIONS))
    temporal_unit = plural_precision | singular_precision
    unit = temporal_unit | string_lit
    quantity = rule("quantity", number("value") + unit("unit"))
    ratio = rule("ratio", quantity("numerator") + COLON + quantity("denominator"))

    literal = rule(
        "literal",
        K("null")("null")
        | K("true")("bool")
        | K("false")("bool")
        | date_time_lit("datetime")
        | date_lit("date")
        | time_lit("time")
        | (pp.FollowedBy(pp.Regex(r"\d")) + (ratio("ratio") | quantity("quantity") | long_number("long") | number("number")))
        | string_lit("string"),
    )

    expression = pp.Forward()
    expression_term = pp.Forward()
    type_specifier = pp.Forward()
    expression.set_name("expression")
    expression_term.set_name("expression_term")
    type_specifier.set_name("type_specifier")

    # --- type specifiers -----------------------------------------------------------------------------
    qualified_name = pp.Group(any_identifier + pp.ZeroOrMore(DOT + any_identifier))
    named_type = rule("named_type", qualified_name("parts"))
    list_type = rule("list_type", K("List").suppress() + pp.Suppress("<") + type_specifier("element") + pp.Suppress(">"))
    interval_type = rule(
        "interval_type", K("Interval").suppress() + pp.Suppress("<") + type_specifier("point") + pp.Suppress(">")
    )
    tuple_type_element = pp.Group(any_identifier("name") + type_specifier("type"))
    tuple_type = rule(
        "tuple_type",
        K("Tuple").suppress() + LBRACE + pp.Group(pp.DelimitedList(tuple_type_element))("elements") + RBRACE,
    )
    choice_type = rule(
        "choice_type",
        K("Choice").suppress() + pp.Suppress("<") + pp.Group(pp.DelimitedList(type_specifier))("choices") + pp.Suppress(">"),
    )
    type_specifier <<= list_type | interval_type | tuple_type | choice_type | named_type

    # --- selectors -----------------------------------------------------------------------------------
    interval_selector = rule(
        "interval_selector",
        K("Interval").suppress()
        + pp.one_of("[ (")("open")
        + expression("low")
        + COMMA
        + expression("high")
        + pp.one_of("] )")("close"),
    )
    tuple_element = pp.Group(any_identifier("name") + COLON + expression("value"))
    tuple_body = (COLON + pp.Empty()) | pp.DelimitedList(tuple_element)
    tuple_selector = rule(
        "tuple_selector",
        (K("Tuple").suppress() + LBRACE + pp.Group(pp.Optional(tuple_body))("elements") + RBRACE)
        | (LBRACE + pp.Group(pp.DelimitedList(tuple_element) | COLON)("elements") + RBRACE),
    )
    instance_selector = rule(
        "instance_selector",
        named_type("type") + LBRACE + pp.Group(pp.DelimitedList(tuple_element) | COLON)("elements") + RBRACE,
    )
    list_selector = rule(
        "list_selector",
        pp.Optional(K("List").suppress() + pp.Optional(pp.Suppress("<") + type_specifier("type") + pp.Suppress(">")))
        + LBRACE
        + pp.Group(pp.Optional(pp.DelimitedList(expression)))("items")
        + RBRACE,
    )
    display_clause = K("display").suppress() + string_lit("display")
    code_ref = pp.Group(pp.Optional(identifier("library") + DOT) + identifier("name"))
    code_selector = rule(
        "code_selector",
        K("Code").suppress() + string_lit("code") + K("from").suppress() + code_ref("system") + pp.Optional(display_clause),
    )
    concept_selector = rule(
        "concept_selector",
        K("Concept").suppress() + LBRACE + pp.Group(pp.DelimitedList(code_ref))("codes") + RBRACE + pp.Optional(display_clause),
    )

    # --- invocations and terms -----------------------------------------------------------------------
    arguments = LPAR + pp.Group(pp.Optional(pp.DelimitedList(expression)))("args") + RPAR
    function_call = rule("function_call", identifier("name") + arguments)
    external_constant = rule("external_constant", pp.Suppress("%") + (any_identifier | string_lit)("name"))
    identifier_ref = rule("identifier_ref", identifier("name"))
    parenthesized = rule("parenthesized", LPAR + expression("inner") + RPAR)

    retrieve_terminology = pp.Optional(any_identifier("code_path") + K("in").suppress()) + expression_term("terminology")
    retrieve = rule(
        "retrieve",
        LBRACK
        + named_type("type")
        + pp.Optional(COLON + retrieve_terminology)
        + RBRACK,
    )

    named_term = instance_selector | function_call | identifier_ref
    word_terms: dict[str, pp.ParserElement] = {
        "null": literal, "true": literal, "false": literal,
        "Interval": interval_selector | named_term,
        "Tuple": tuple_selector | named_term,
        "Code": code_selector | named_term,
        "Concept": concept_selector | named_term,
        "List": list_selector | named_term,
    }
    term = FirstCharDispatch(
        {
            "'": literal, "@": literal, "[": retrieve, "(": parenthesized, "{": tuple_selector | list_selector,
            "%": external_constant, "$": special_ident, '"': named_term, "`": named_term,
            **{d: literal for d in "0123456789"},
        },
        word_terms,
        named_term,
    ).set_name("term")

    member = rule("member", DOT + (any_identifier("name") + pp.Optional(arguments)))
    indexer = rule("indexer", LBRACK + expression("index") + RBRACK)
    postfix_term = rule("postfix", OperatorLoop(term, member | indexer, ".["))

    # --- expression terms (prefix/extractor forms bind tighter than the binary arithmetic) ------------
    unary_term = pp.Forward()
    convert = rule(
        "convert",
        K("convert").suppress() + expression("operand") + K("to").suppress() + (type_specifier("type") | string_lit("unit")),
    )
    polarity = rule("polarity", pp.one_of("+ -")("op") + unary_term("operand"))
    boundary = rule("boundary", (K("start") | K("end"))("op") + K("of").suppress() + unary_term("operand"))
    component = rule(
        "component_from", kw_any(list(COMPONENTS))("component") + K("from").suppress() + unary_term("operand")
    )
    duration_of = rule(
        "duration_of",
        (K("duration") | K("difference"))("op")
        + K("in").suppress()
        + plural_precision("precision")
        + K("of").suppress()
        + unary_term("operand"),
    )
    width_of = rule(
        "width_of", (K("width") | K("successor") | K("predecessor"))("op") + K("of").suppress() + unary_term("operand")
    )
    element_from = rule(
        "element_from", (K("singleton") | K("point"))("op") + K("from").suppress() + unary_term("operand")
    )
    type_extent = rule("type_extent", (K("minimum") | K("maximum"))("op") + named_type("type"))
    unary_term <<= FirstCharDispatch(
        {"+": polarity, "-": polarity},
        {
            "convert": convert | postfix_term, "start": boundary | postfix_term, "end": boundary | postfix_term,
            "duration": duration_of | postfix_term, "difference": duration_of | postfix_term,
            "width": width_of | postfix_term, "successor": width_of | postfix_term,
            "predecessor": width_of | postfix_term, "singleton": element_from | postfix_term,
            "point": element_from | postfix_term, "minimum": type_extent | postfix_term,
            "maximum": type_extent | postfix_term, **{c: component | postfix_term for c in COMPONENTS},
        },
        postfix_term,
        postfix_term,
    )

    # Arithmetic is one flat operand/operator sequence; the builder applies the precedence (^ > * / div mod
    # > + - &). One regex per operator position keeps failed attempts (pyparsing exceptions) to one.
    arith_op = pp.Regex(r"\^|\*|/|\+|-|&|(?:div|mod)\b")
    add_level = rule(
        "arithmetic", OperatorLoop(unary_term, pp.Group(arith_op + unary_term), "^*/+-&", frozenset({"div", "mod"}))
    )

    case_item = pp.Group(K("when").suppress() + expression("when") + K("then").suppress() + expression("then"))
    if_then_else = rule(
        "if",
        K("if").suppress() + expression("condition") + K("then").suppress() + expression("then")
        + K("else").suppress() + expression("else"),
    )
    case_expr = rule(
        "case",
        K("case").suppress()
        + pp.Optional(~K("when") + expression("comparand"))
        + pp.Group(pp.OneOrMore(case_item))("items")
        + K("else").suppress()
        + expression("else")
        + K("end").suppress(),
    )
    list_unary = rule("list_unary", (K("distinct") | K("flatten"))("op") + expression("operand"))
    set_aggregate = rule(
        "set_aggregate",
        (K("expand") | K("collapse"))("op")
        + expression("operand")
        + pp.Optional(K("per").suppress() + (singular_precision("precision") | expression("per"))),
    )
    expression_term <<= FirstCharDispatch(
        {},
        {"if": if_then_else | add_level, "case": case_expr | add_level, "distinct": list_unary | add_level,
         "flatten": list_unary | add_level, "expand": set_aggregate | add_level, "collapse": set_aggregate | add_level},
        add_level,
        add_level,
    )

    # --- queries -------------------------------------------------------------------------------------
    alias = identifier
    qualified_ref = rule("qualified_ref", pp.Group(identifier + pp.ZeroOrMore(DOT + any_identifier))("parts"))
    query_source = retrieve | parenthesized | qualified_ref
    aliased_source = rule("aliased_source", query_source("source") + alias("alias"))
    let_item = pp.Group(identifier("name") + COLON + expression("value"))
    let_clause = K("let").suppress() + pp.Group(pp.DelimitedList(let_item))("lets")
    inclusion = rule(
        "inclusion",
        (K("with") | K("without"))("kind")
        + aliased_source("source")
        + K("such").suppress()
        + K("that").suppress()
        + expression("condition"),
    )
    where_clause = K("where").suppress() + expression("where")
    return_clause = (
        K("return").suppress() + pp.Optional(K("all") | K("distinct"))("return_mod") + expression("return_expr")
    )
    starting = K("starting").suppress() + (
        (LPAR + expression + RPAR) | quantity | literal
    )("starting")
    aggregate_clause = (
        K("aggregate").suppress()
        + pp.Optional(K("all") | K("distinct"))("aggregate_mod")
        + identifier("aggregate_name")
        + pp.Optional(starting)
        + COLON
        + expression("aggregate_expr")
    )
    sort_direction = K("asc") | K("ascending") | K("desc") | K("descending")
    sort_item = pp.Group(expression_term("key") + pp.Optional(sort_direction)("direction"))
    sort_clause = K("sort").suppress() + (
        (K("by").suppress() + pp.Group(pp.DelimitedList(sort_item))("sort_items")) | sort_direction("sort_direction")
    )
    query = rule(
        "query",
        pp.Optional(K("from")).suppress()
        + pp.Group(pp.DelimitedList(aliased_source))("sources")
        + pp.Optional(let_clause)
        + pp.Group(pp.ZeroOrMore(inclusion))("inclusions")
        + pp.Optional(where_clause)
        + pp.Optional(aggregate_clause | return_clause)
        + pp.Optional(sort_clause),
    )

    # --- the expression precedence ladder (tightest first, as in cql.g4) ------------------------------
    query_or_term = query | expression_term
    # Only `[`, `(` and names can start a query source; everything else is a term straight away.
    primary = FirstCharDispatch(
        {"[": query_or_term, "(": query_or_term, '"': query_or_term, "`": query_or_term},
        {w: expression_term for w in ("null", "true", "false", "if", "case", "distinct", "flatten", "expand",
                                      "collapse", "Interval", "Tuple", "List", "Code", "Concept", "convert",
                                      "minimum", "maximum")},
        query_or_term,
        expression_term,
    )
    is_null = rule(
        "postfix_test",
        OperatorLoop(
            primary,
            pp.Group(
                K("is").suppress() + pp.Optional(K("not"))("not") + (K("null") | K("true") | K("false"))("test")
            )
            | pp.Group((K("is") | K("as"))("type_op") + type_specifier("type")),
            "",
            frozenset({"is", "as"}),
        ),
    )
    cast = rule("cast", K("cast").suppress() + primary("operand") + K("as").suppress() + type_specifier("type"))
    prefix_level = pp.Forward()
    not_expr = rule("not", K("not").suppress() + prefix_level("operand"))
    exists_expr = rule("exists", K("exists").suppress() + prefix_level("operand"))
    prefix_level <<= FirstCharDispatch(
        {}, {"cast": cast | is_null, "not": not_expr | is_null, "exists": exists_expr | is_null}, is_null, is_null
    )

    duration_between = rule(
        "duration_between",
        pp.Optional(K("duration") + K("in")).suppress()
        + plural_precision("precision")
        + K("between").suppress()
        + expression_term("low")
        + K("and").suppress()
        + expression_term("high"),
    )
    difference_between = rule(
        "difference_between",
        K("difference").suppress()
        + K("in").suppress()
        + plural_precision("precision")
        + K("between").suppress()
        + expression_term("low")
        + K("and").suppress()
        + expression_term("high"),
    )
    between_operand = FirstCharDispatch(
        {},
        {"difference": difference_between | prefix_level, "duration": duration_between | prefix_level,
         **{p + "s": duration_between | prefix_level for p in PRECISIONS}},
        prefix_level,
        prefix_level,
    )
    between_level = rule(
        "between",
        between_operand
        + pp.Optional(
            pp.Optional(K("properly"))("properly")
            + K("between").suppress()
            + expression_term("low")
            + K("and").suppress()
            + expression_term("high")
        ),
    )

    # Timing phrases.
    precision_of = singular_precision("precision") + K("of").suppress()
    rel_qual = K("starts") | K("ends") | K("occurs")
    start_end = K("start") | K("end")
    concurrent = rule(
        "timing_same",
        pp.Optional(rel_qual)("qualifier")
        + K("same").suppress()
        + pp.Optional(singular_precision)("precision")
        + (K("as") | (K("or").suppress() + (K("before") | K("after"))))("relation")
        + pp.Optional(start_end + ~K("of"))("boundary"),
    )
    includes_phrase = rule(
        "timing_includes",
        pp.Optional(K("properly"))("properly")
        + K("includes").suppress()
        + pp.Optional(precision_of)
        + pp.Optional(start_end + ~K("of"))("boundary"),
    )
    included_in_phrase = rule(
        "timing_included_in",
        pp.Optional(rel_qual)("qualifier")
        + pp.Optional(K("properly"))("properly")
        + (K("during") | (K("included") + K("in")).suppress())("relation")
        + pp.Optional(precision_of),
    )
    quantity_offset = (
        (quantity("offset") + pp.Optional(phrase("or more") | phrase("or less"))("offset_qual"))
        | ((phrase("less than") | phrase("more than"))("offset_qual") + quantity("offset"))
    )
    temporal_rel = (
        (pp.Optional(phrase("on or"))("on_or") + (K("before") | K("after"))("relation"))
        | ((K("before") | K("after"))("relation") + phrase("or on")("or_on"))
    )
    before_after = rule(
        "timing_before_after",
        pp.Optional(rel_qual)("qualifier")
        + pp.Optional(quantity_offset)
        + temporal_rel
        + pp.Optional(precision_of)
        + pp.Optional(start_end + ~K("of"))("boundary"),
    )
    within_phrase = rule(
        "timing_within",
        pp.Optional(rel_qual)("qualifier")
        + pp.Optional(K("properly"))("properly")
        + K("within").suppress()
        + quantity("offset")
        + K("of").suppress(),
    )
    meets_phrase = rule(
        "timing_meets",
        K("meets").suppress() + pp.Optional(K("before") | K("after"))("relation") + pp.Optional(precision_of),
    )
    overlaps_phrase = rule(
        "timing_overlaps",
        K("overlaps").suppress() + pp.Optional(K("before") | K("after"))("relation") + pp.Optional(precision_of),
    )
    starts_phrase = rule("timing_starts", K("starts").suppress() + pp.Optional(precision_of))
    ends_phrase = rule("timing_ends", K("ends").suppress() + pp.Optional(precision_of))
    timing_start = pp.FollowedBy(
        pp.Regex(r"(starts|ends|occurs|same|properly|includes|during|included|within|before|after|on|meets|overlaps|"
                 r"less|more)\b|\d")
    )
    timing_phrase = timing_start + (
        concurrent
        | includes_phrase
        | included_in_phrase
        | within_phrase
        | before_after
        | meets_phrase
        | overlaps_phrase
        | starts_phrase
        | ends_phrase
    )
    membership_op = rule(
        "membership_op", (K("in") | K("contains"))("op") + pp.Optional(precision_of)
    )
    # Inequality, timing, equality, membership, and, or/xor, implies and set operators form one flat
    # operand/operator sequence; the builder applies cql.g4's precedence (in that order, tightest first).
    simple_op = pp.Regex(r"<=|>=|!=|!~|<|>|=|~|\||(?:and|or|xor|implies|union|intersect|except)\b(?!\s+(?:more|less|before|after|on)\b)")
    infix_op = simple_op | membership_op | timing_phrase
    infix_words = frozenset(
        "and or xor implies union intersect except in contains starts ends occurs same properly includes during "
        "included within before after on meets overlaps less more".split()
    )
    infix = rule("infix", OperatorLoop(between_level, pp.Group(infix_op + between_level), "<>=!~|", infix_words,
                                       digits=True))
    expression <<= infix

    # --- library -------------------------------------------------------------------------------------
    version_clause = K("version").suppress() + string_lit("version")
    access = pp.Optional(K("public") | K("private"))("access")
    library_header = rule("library_header", K("library").suppress() + qualified_name("name") + pp.Optional(version_clause))
    using_def = rule(
        "using_def",
        K("using").suppress() + qualified_name("name") + pp.Optional(version_clause)
        + pp.Optional(K("called").suppress() + identifier("alias")),
    )
    include_def = rule(
        "include_def",
        K("include").suppress() + qualified_name("name") + pp.Optional(version_clause)
        + pp.Optional(K("called").suppress() + identifier("alias")),
    )
    codesystem_def = rule(
        "codesystem_def",
        access + K("codesystem").suppress() + identifier("name") + COLON + string_lit("id") + pp.Optional(version_clause),
    )
    valueset_def = rule(
        "valueset_def",
        access + K("valueset").suppress() + identifier("name") + COLON + string_lit("id") + pp.Optional(version_clause)
        + pp.Optional(K("codesystems").suppress() + LBRACE + pp.DelimitedList(code_ref) + RBRACE).suppress(),
    )
    code_def = rule(
        "code_def",
        access + K("code").suppress() + identifier("name") + COLON + string_lit("code")
        + K("from").suppress() + code_ref("system") + pp.Optional(display_clause),
    )
    concept_def = rule(
        "concept_def",
        access + K("concept").suppress() + identifier("name") + COLON + LBRACE
        + pp.Group(pp.DelimitedList(code_ref))("codes") + RBRACE + pp.Optional(display_clause),
    )
    parameter_def = rule(
        "parameter_def",
        access + K("parameter").suppress() + identifier("name") + pp.Optional(~K("default") + type_specifier("type"))
        + pp.Optional(K("default").suppress() + expression("default")),
    )
    context_def = rule(
        "context_def", K("context").suppress() + pp.Optional(identifier + DOT).suppress() + identifier("name")
    )
    operand_def = pp.Group(any_identifier("name") + type_specifier("type"))
    function_def = rule(
        "function_def",
        K("define").suppress()
        + access
        + pp.Optional(K("fluent"))("fluent")
        + K("function").suppress()
        + any_identifier("name")
        + LPAR
        + pp.Group(pp.Optional(pp.DelimitedList(operand_def)))("operands")
        + RPAR
        + pp.Optional(K("returns").suppress() + type_specifier("returns"))
        + COLON
        + (K("external")("external") | expression("body")),
    )
    expression_def = rule(
        "expression_def", K("define").suppress() + access + identifier("name") + COLON + expression("body")
    )
    statement = (
        using_def | include_def | codesystem_def | valueset_def | code_def | concept_def | parameter_def
        | context_def | function_def | expression_def
    )
    library = rule(
        "library", pp.Optional(library_header)("header") + pp.Group(pp.ZeroOrMore(statement))("statements")
    )

    signed_literal = rule("signed_literal", pp.Optional(pp.one_of("+ -"))("sign") + literal("literal"))

    return {
        "library": library,
        "expression": expression,
        "type_specifier": type_specifier,
        "literal_term": expression,
        "signed_literal": signed_literal,
    }
