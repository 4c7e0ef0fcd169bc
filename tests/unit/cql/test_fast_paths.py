"""Engine fast paths against the general paths they shortcut: each test fails if a shortcut answers differently."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cql import EvaluationContext, evaluate_expression
from cds_service.cql import ast as A
from cds_service.cql import compiler as C
from cds_service.cql import logic
from cds_service.cql.errors import CqlEvaluationError
from cds_service.cql.fhirmodel import FHIR_MODEL, fhir_type_accepts, to_concept
from cds_service.cql.functions import valueset_contains
from cds_service.cql.operators import conversion as conv
from cds_service.cql.operators import list as lst
from cds_service.cql.operators import temporal as t
from cds_service.cql.types import Code, Concept, Date, DateTime, Interval, Long, Quantity, Ratio, Time, Tuple
from cds_service.cql.types.equality import _fields_equal, equal
from tests.unit.cql.conftest import NOW, ListDataSource, compile_library

# -- values -----------------------------------------------------------------------------------------------

texts = st.one_of(st.none(), st.sampled_from(["a", "b", "http://loinc.org", "6301-6", ""]))
# What a malformed record may hold where a String belongs (1 and True are == in Python, not in CQL).
loose = st.one_of(texts, st.integers(min_value=0, max_value=2), st.booleans(), st.just(1.0))
codes = st.builds(Code, texts, texts, texts, texts)
concepts = st.builds(lambda cs, d: Concept(tuple(cs), d), st.lists(codes, max_size=3), texts)
quantities = st.builds(Quantity, st.decimals(allow_nan=False, allow_infinity=False, places=2), st.sampled_from(["mg", "1", "d"]))
intervals = st.builds(lambda lo, hi, lc, hc: Interval(min(lo, hi), max(lo, hi), lc, hc, "Integer"),
                      st.integers(-5, 5), st.integers(-5, 5), st.booleans(), st.booleans())
tuples = st.dictionaries(st.sampled_from(["a", "code", "low", "value"]), st.one_of(st.none(), st.integers(0, 3), texts),
                         max_size=3).map(Tuple)
system_values = st.one_of(codes, concepts, quantities, intervals, tuples)
PATHS = ["code", "system", "version", "display", "codes", "coding", "text", "value", "unit", "low", "high",
         "lowClosed", "highClosed", "start", "end", "a", "numerator"]


def strict(value: Any) -> Any:
    """A value with the Python type of every field spelled out (so 1, 1.0 and True differ)."""
    if isinstance(value, Concept):
        return ("Concept", tuple(strict(c) for c in value.codes), strict(value.display))
    if isinstance(value, Code):
        return ("Code",) + tuple(strict(f) for f in (value.code, value.system, value.version, value.display))
    if isinstance(value, list):
        return [strict(v) for v in value]
    return (type(value).__name__, value)


def general_property(value: Any, path: str, with_model: bool) -> Any:
    """The general reading of a property of a System value (what the reader tables shortcut)."""
    found = C._system_property(value, path)
    if found is C._NO_PROPERTY:
        return FHIR_MODEL.get_property(value, path) if with_model else "error"
    return found


@settings(max_examples=300, deadline=None)
@given(system_values, st.sampled_from(PATHS), st.booleans())
def test_direct_system_readers_match_the_general_property_path(value: Any, path: str, with_model: bool) -> None:
    reader = C._direct_system_readers(path, with_model=with_model).get(type(value))
    if reader is not None:
        assert strict(reader(value)) == strict(general_property(value, path, with_model))


# -- typed alias properties and the per-evaluation Concept conversion ----------------------------------

codings = st.lists(st.one_of(st.fixed_dictionaries({}, optional={"system": loose, "code": loose, "display": loose,
                                                                  "version": loose}), st.just("junk")), max_size=2)
codeable = st.one_of(st.none(), st.just("text only"),
                     st.fixed_dictionaries({}, optional={"coding": st.one_of(codings, st.just({"code": "x"})),
                                                         "text": loose}))


@st.composite
def observations(draw: st.DrawFn) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "id": str(draw(st.integers(0, 999)))}
    for key, strategy in (("status", st.one_of(st.sampled_from(["final", "amended"]), st.integers(0, 1))),
                          ("code", codeable), ("effectiveDateTime", st.sampled_from(["2026-04-01T08:00:00Z", "2026-04", "bad"])),
                          ("effectivePeriod", st.just({"start": "2026-03-01"})),
                          ("valueQuantity", st.just({"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org"})),
                          ("valueCodeableConcept", codeable), ("issued", st.just("2026-04-02T00:00:00Z"))):
        if draw(st.booleans()):
            obs[key] = draw(strategy)
    return obs


TYPED = """library Main
using FHIR version '4.0.1'
context Patient
define "Status": [Observation] O return all O.status
define "Code": [Observation] O return all O.code
define "Effective": [Observation] O return all O.effective
define "Value": [Observation] O return all O.value
define "Issued": [Observation] O return all O.issued
define function "CodeOf"(X Observation): X.code
define "Code Again": [Observation] O return all "CodeOf"(O)
"""
_TYPED = compile_library(TYPED)


@settings(max_examples=150, deadline=None)
@given(st.lists(observations(), max_size=4))
def test_typed_alias_properties_match_the_model_navigation(obs: list[dict[str, Any]]) -> None:
    ctx = EvaluationContext(data=ListDataSource(obs), now=NOW)
    out = _TYPED.evaluate(ctx, ["Status", "Code", "Effective", "Value", "Issued", "Code Again"])
    for define, path in (("Status", "status"), ("Code", "code"), ("Effective", "effective"), ("Value", "value"),
                         ("Issued", "issued"), ("Code Again", "code")):
        assert [strict(v) for v in out[define]] == [strict(FHIR_MODEL.get_property(o, path)) for o in obs], define


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={"coding": codings, "text": loose}), min_size=1, max_size=4))
def test_converted_concepts_equal_to_concept_and_are_shared_only_when_identical(raws: list[dict[str, Any]]) -> None:
    rt = C.Runtime(None, None, {}, NOW, FHIR_MODEL)
    for raw in raws + raws:  # the second round answers from the per-evaluation memo
        assert strict(C._converted_concept(raw, rt)) == strict(to_concept(raw))


# -- membership, exists and First -----------------------------------------------------------------------

OPERANDS = ["'a'", "'c'", "''", "null", "1", "1.0", "true", "{'a'}", "@2020-01-01", "(Code { code: 'a' })", "('a' + 'b')", "(null as String)"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(OPERANDS), st.lists(st.sampled_from(["a", "b", "ab", "A"]), min_size=1, max_size=3))
def test_in_a_list_of_string_literals_is_list_membership(operand: str, members: list[str]) -> None:
    literal = "{" + ", ".join(f"'{m}'" for m in members) + "}"
    assert evaluate_expression(f"{operand} in {literal}") == lst.in_(evaluate_expression(operand), members)


int_lists = st.one_of(st.none(), st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=6))


def cql_list(values: list[int | None] | None) -> str:
    if values is None:
        return "(null as List<Integer>)"
    return "(List<Integer>{" + ", ".join("null" if v is None else str(v) for v in values) + "})"


@settings(max_examples=150, deadline=None)
@given(int_lists, st.integers(-3, 3))
def test_exists_stops_early_with_the_answer_of_the_whole_query(values: list[int | None] | None, k: int) -> None:
    source = cql_list(values)
    # A sort clause keeps the general path (a query, then Exists over its list): the order does not matter here.
    fast = evaluate_expression(f"exists ({source} X where X > {k} or X is null)")
    general = evaluate_expression(f"exists ({source} X where X > {k} or X is null sort asc)")
    assert fast == general


@settings(max_examples=150, deadline=None)
@given(int_lists, st.integers(-3, 3))
def test_first_stops_early_with_the_first_element_of_the_whole_query(values: list[int | None] | None, k: int) -> None:
    source = cql_list(values)
    for query in (f"{source} X where X > {k}", f"{source} X where X >= {k} return X * 2",
                  f"{source} X return all X", f"{source} X where X is null"):
        general = evaluate_expression(f"({query})[0]") if values is not None else None
        assert evaluate_expression(f"First({query})") == general, query


@settings(max_examples=150, deadline=None)
@given(int_lists, st.integers(-3, 3))
def test_last_scans_from_the_end_with_the_last_element_of_the_whole_query(values: list[int | None] | None,
                                                                         k: int) -> None:
    source = cql_list(values)
    # `return X` (distinct) keeps the general path; the others scan backwards. Each must equal the last
    # element of the whole query's list, computed by indexing (which has no fast path).
    for query in (f"{source} X where X > {k}", f"{source} X where X >= {k} return all X * 2",
                  f"{source} X return all X", f"{source} X where X is null", f"{source} X return X div 2"):
        whole = evaluate_expression(f"({query})")
        expected = whole[-1] if whole else None
        assert evaluate_expression(f"Last({query})") == expected, query


def test_last_of_a_distinct_return_is_the_value_whose_first_occurrence_comes_last() -> None:
    # {1, 2, 1} returned distinct is {1, 2}: Last is 2, not the last row's value 1.
    assert evaluate_expression("Last(({1, 2, 1}) X return X)") == 2
    assert evaluate_expression("Last(({1, 2, 1}) X return all X)") == 1


def test_exists_and_first_over_a_single_value_keep_the_general_answers() -> None:
    # A query over one value (not a list) returns one value; First and exists then see a non-list, as before.
    for text in ("First((5) X where X > 1)", "exists ((5) X where X > 1)", "Last((5) X where X > 1)"):
        with pytest.raises(CqlEvaluationError, match="expects a list"):
            evaluate_expression(text)
    assert evaluate_expression("First((5) X where X > 9)") is None
    assert evaluate_expression("Last((5) X where X > 9)") is None
    assert evaluate_expression("exists ((null as List<Integer>) X where X > 1)") is False


# -- casts to FHIR types ----------------------------------------------------------------------------------

converted = st.one_of(st.booleans(), st.integers(-2, 2), st.integers(0, 2).map(Long), st.decimals(places=1, allow_nan=False,
                      allow_infinity=False), texts.filter(lambda v: v is not None), st.just(DateTime(2026, 4, 1, 8)),
                      st.just(Date(2026, 4, 1)), st.just(Time(8, 30)), quantities, codes, concepts,
                      st.just(Ratio(Quantity(Decimal(1), "mg"), Quantity(Decimal(2), "mL"))))
FHIR_NAMES = ["dateTime", "instant", "date", "time", "boolean", "string", "code", "uri", "integer", "positiveInt",
              "integer64", "decimal", "CodeableConcept", "Coding", "Period", "Range", "Age", "Duration",
              "SimpleQuantity", "Reference", "Observation"]


@settings(max_examples=300, deadline=None)
@given(converted, st.sampled_from(FHIR_NAMES), st.sampled_from([None, "FHIR"]))
def test_fhir_type_of_a_converted_value_depends_on_its_class_as_the_model_says(value: Any, name: str, ns: str | None) -> None:
    assert type(value) in C._CLASS_DECIDED
    expected = C.value_is(value, A.NamedTypeSpecifier(ns, name), FHIR_MODEL)
    assert fhir_type_accepts(value, name) is expected


def test_as_fhir_type_in_cql() -> None:
    obs = [{"resourceType": "Observation", "id": "1", "effectiveDateTime": "2026-04-01T08:00:00Z"},
           {"resourceType": "Observation", "id": "2", "effectivePeriod": {"start": "2026-03-01", "end": "2026-03-05"}}]
    lib = compile_library("""library Main
using FHIR version '4.0.1'
context Patient
define "D": [Observation] O return all O.effective as dateTime
define "P": [Observation] O return all (O.effective as Period)."end"
define "S": [Observation] O return all O.effective as FHIR.string
""")
    out = lib.evaluate(EvaluationContext(data=ListDataSource(obs), now=NOW), ["D", "P", "S"])
    assert out["D"] == [DateTime(2026, 4, 1, 8, 0, 0, offset=Decimal(0)), None]
    assert out["P"] == [None, DateTime(2026, 3, 5)]
    assert out["S"] == [None, None]


# -- difference in days / hours -------------------------------------------------------------------------

modern = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 1, 1))


@st.composite
def datetimes(draw: st.DrawFn) -> DateTime:
    value = DateTime.from_python(draw(modern))
    keep = draw(st.integers(1, 7))  # year ... millisecond precision
    offset = draw(st.sampled_from([None, Decimal(0), Decimal(-5), Decimal("5.5")]))
    parts = list(value.components()[:keep])
    if keep < 4:
        offset = None
    return DateTime(*parts, offset=offset)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(datetimes(), datetimes(), st.sampled_from(["day", "days", "hour", "hours", "minute", "week"]))
def test_calendar_difference_shortcut_matches_the_general_measurement(a: DateTime, b: DateTime, unit: str) -> None:
    assert t.difference_between(a, b, unit) == t._between(a, b, unit, difference=True)


# -- three-valued logic, null tests, Coalesce --------------------------------------------------------------

BOOLS = {"true": True, "false": False, "null": None}


def test_inline_and_or_not_and_null_tests_follow_the_logic_module() -> None:
    for left, a in BOOLS.items():
        assert evaluate_expression(f"not ({left} as Boolean)") == logic.not_(a)
        assert evaluate_expression(f"({left} as Boolean) is null") is (a is None)
        assert evaluate_expression(f"({left} as Boolean) is not null") is (a is not None)
        assert evaluate_expression(f"({left} as Boolean) is true") is (a is True)
        assert evaluate_expression(f"({left} as Boolean) is false") is (a is False)
        for right, b in BOOLS.items():
            assert evaluate_expression(f"({left} as Boolean) and ({right} as Boolean)") == logic.and_(a, b)
            assert evaluate_expression(f"({left} as Boolean) or ({right} as Boolean)") == logic.or_(a, b)


def test_coalesce_is_the_first_non_null_and_stops_there() -> None:
    assert evaluate_expression("Coalesce(null, null, 3, 1 / 0)") == 3
    assert evaluate_expression("Coalesce(null as Integer, null)") is None


# -- memoised calls: Codes and Concepts by value, only when plain ------------------------------------------


def test_plain_coded_values_key_the_memo_and_malformed_ones_do_not() -> None:
    assert C._plain_coded(Code("a", "s")) and C._plain_coded(Concept((Code("a"),), "d"))
    for bad in (Code(1), Code("a", True), Concept((Code(1.0),)), Concept((), 1)):  # type: ignore[arg-type]
        assert not C._plain_coded(bad)
        assert C._memo_key([bad]) is None
    assert C._memo_key([Code("1")]) != C._memo_key([Code("1", "s")])


def test_function_calls_on_concepts_answer_per_concept() -> None:
    lib = compile_library("""library Main
define function "Codes"(c Concept, n Integer): (c.codes) K return all K.code + ToString(n)
define function "Display"(c Concept): c.display
define "R": {
  "Codes"(Concept { codes: { Code { code: 'a' } }, display: 'x' }, 1),
  "Codes"(Concept { codes: { Code { code: 'a' } }, display: 'x' }, 1),
  "Codes"(Concept { codes: { Code { code: 'b' } }, display: 'x' }, 1),
  "Codes"(Concept { codes: { Code { code: 'a' } }, display: 'x' }, 2)
}
define "D": { "Display"(Concept { codes: { Code { code: 'a' } }, display: 'x' }), "Display"(Concept { codes: { Code { code: 'a' } }, display: 'y' }) }
""")
    out = lib.evaluate(EvaluationContext(now=NOW), ["R", "D"])
    assert out["R"] == [["a1"], ["a1"], ["b1"], ["a2"]]
    assert out["D"] == ["x", "y"]


# -- value set membership once per code ---------------------------------------------------------------------


class CountingValueSet:
    codes: tuple[Code, ...] = ()

    def __init__(self) -> None:
        self.asked: list[Code] = []

    def contains(self, code: Code) -> bool:
        self.asked.append(code)
        return code.code == "in" and code.version != "old"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(Code, st.sampled_from(["in", "out"]), st.sampled_from(["s", "t"]),
                          st.sampled_from([None, "old"]), st.sampled_from([None, "d"])), max_size=8))
def test_value_set_membership_is_asked_once_per_code_and_answers_as_the_value_set(codes_: list[Code]) -> None:
    vs = CountingValueSet()
    rt = C.Runtime(None, None, {}, NOW, FHIR_MODEL)
    for code in codes_ + codes_:
        assert valueset_contains(vs, code, rt) is (code.code == "in" and code.version != "old")
    assert len(vs.asked) == len(set(codes_))


# -- Tuple equality -----------------------------------------------------------------------------------------


def mapping_equal(a: Tuple, b: Tuple) -> bool | None:
    """The Tuple case of `equal` through the Mapping interface (what the fast path reads directly)."""
    if set(a.keys()) != set(b.keys()):
        return False
    return _fields_equal([(a[key], b[key]) for key in a])


field_values = st.one_of(st.none(), st.integers(0, 2), st.sampled_from(["x", "y"]), st.just(DateTime(2026, 4)),
                         st.just(DateTime(2026, 4, 1)))
small_tuples = st.dictionaries(st.sampled_from(["a", "b", "c"]), field_values, max_size=3).map(Tuple)


@settings(max_examples=300, deadline=None)
@given(small_tuples, small_tuples)
def test_tuple_equality_reads_the_same_fields_as_the_mapping_interface(a: Tuple, b: Tuple) -> None:
    assert equal(a, b) == mapping_equal(a, b)
    assert equal(a, a) == mapping_equal(a, a)


def test_system_type_names_are_not_fhir_fast_path_names() -> None:
    # The FHIR `as` shortcut assumes a converted value's System type name never equals the FHIR name asked.
    assert not set(FHIR_NAMES) & set(conv.SYSTEM_TYPES)


# -- `Concept in "Value Set"` decided once per pair -----------------------------------------------------------

VS_LIBRARY = """library Main
using FHIR version '4.0.1'
valueset "Wanted": 'wanted'
context Patient
define "In": [Condition] C return all C.code in "Wanted"
define "In Again": [Condition] C return all C.code in "Wanted"
define "Retrieved": [Condition: "Wanted"] C return all C.id
"""
_VS = compile_library(VS_LIBRARY)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({"resourceType": st.just("Condition")}, optional={"code": codeable}), max_size=5))
def test_concept_in_value_set_answers_as_in_valueset(conditions: list[dict[str, Any]]) -> None:
    from cds_service.cql.functions import in_valueset
    from tests.unit.cql.conftest import DictValueSets, SimpleValueSet

    wanted = SimpleValueSet((Code("x", None), Code("a", "a"), Code("6301-6", "http://loinc.org")))
    valuesets = DictValueSets({"wanted": wanted})
    conditions = [dict(c, id=str(i)) for i, c in enumerate(conditions)]
    ctx = EvaluationContext(data=ListDataSource(conditions), valuesets=valuesets, now=NOW)
    out = _VS.evaluate(ctx, ["In", "In Again", "Retrieved"])
    rt = C.Runtime(None, valuesets, {}, NOW, FHIR_MODEL)
    ref = Tuple([("__type", "ValueSet"), ("id", "wanted"), ("version", None), ("name", "Wanted")])
    expected = [in_valueset(FHIR_MODEL.get_property(c, "code"), ref, rt) for c in conditions]
    assert out["In"] == expected
    assert out["In Again"] == expected
    # The retrieve filters on the same membership (the naive source returns every Condition).
    assert out["Retrieved"] == [c["id"] for c, found in zip(conditions, expected) if found is True]


def test_value_set_membership_of_malformed_codes_is_never_shared() -> None:
    class TypeStrict:
        codes: tuple[Code, ...] = ()

        def contains(self, code: Code) -> bool:
            return code.code is True

    rt = C.Runtime(None, None, {}, NOW, FHIR_MODEL)
    vs = TypeStrict()
    assert valueset_contains(vs, Code(1), rt) is False  # type: ignore[arg-type]
    assert valueset_contains(vs, Code(True), rt) is True  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(datetimes(), datetimes())
def test_compiled_calendar_difference_matches_the_operator(a: DateTime, b: DateTime) -> None:
    got = _DIFF.evaluate(EvaluationContext(parameters={"A": a, "B": b}, now=NOW), ["Days", "Hours"])
    assert got["Days"] == t._between(a, b, "day", difference=True)
    assert got["Hours"] == t._between(a, b, "hour", difference=True)


_DIFF = compile_library("""library Main
parameter "A" DateTime
parameter "B" DateTime
define "Days": difference in days between "A" and "B"
define "Hours": difference in hours between "A" and "B"
""")


# -- ordering, equality and String + on the compiled binary operators ---------------------------------------

from cds_service.cql import library as L  # noqa: E402
from cds_service.cql.dispatch import binary_impl  # noqa: E402
from cds_service.cql.operators import comparison as cmp  # noqa: E402

operands = st.one_of(
    st.none(), st.integers(-3, 3), st.sampled_from([Decimal("1.0"), Decimal("-2.50"), Decimal("0.00000001")]),
    st.booleans(), st.sampled_from(["", "a", "b", "1"]), st.just(Long(2)), st.just(Quantity(Decimal(1), "mg")),
    st.just(DateTime(2026, 1, 1)), st.just(Interval(1, 3, True, True, "Integer")),
)

_OPERATORS = compile_library("""library Main
parameter "A" System.Any
parameter "B" System.Any
define "Less": "A" < "B"
define "LessOrEqual": "A" <= "B"
define "Greater": "A" > "B"
define "GreaterOrEqual": "A" >= "B"
define "Equal": "A" = "B"
define "Add": "A" + "B"
""")


def _outcome(thunk: Any) -> tuple[str, Any]:
    try:
        return "value", thunk()
    except CqlEvaluationError:
        return "error", None


@settings(max_examples=400, deadline=None)
@given(operands, operands)
def test_compiled_ordering_equality_and_add_answer_as_their_operators(a: Any, b: Any) -> None:
    general = {"Less": cmp.less, "LessOrEqual": cmp.less_or_equal, "Greater": cmp.greater,
               "GreaterOrEqual": cmp.greater_or_equal, "Equal": cmp.equal_,
               "Add": binary_impl("Add", None, None, None, None)[0]}
    for name, operator_ in general.items():
        got = _outcome(lambda: _OPERATORS.evaluate(EvaluationContext(parameters={"A": a, "B": b}, now=NOW),
                                                   [name])[name])
        want = _outcome(lambda: operator_(a, b))
        assert got == want, name
        if got[0] == "value":
            assert type(got[1]) is type(want[1]), name


# -- memoised calls on a converted CodeableConcept: the same object is recognised by identity --------------

codings = st.lists(st.fixed_dictionaries({}, optional={
    "system": st.sampled_from(["http://a", "http://b", 7]), "code": st.sampled_from(["x", "y", True]),
    "display": st.sampled_from(["d", None])}), max_size=3)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), codings), max_size=6))
def test_function_calls_on_codeable_concepts_answer_as_the_inline_expression(codes_: list[Any]) -> None:
    obs = [{"resourceType": "Observation", "id": str(i), **({} if c is None else {"code": {"coding": c}})}
           for i, c in enumerate(codes_)]
    obs += obs[:2]  # the same resources again: memo hits
    lib = compile_library("""library Main
using FHIR version '4.0.1'
context Patient
define function "HasA"(cc FHIR.CodeableConcept): exists (cc.coding C where C.system = 'http://a')
define function "FirstCode"(cc FHIR.CodeableConcept): First(cc.coding C return C.code)
define "ByCall": [Observation] O return all { "HasA"(O.code), "HasA"(O.code) }
define "Inline": [Observation] O return all { exists (O.code.coding C where C.system = 'http://a'),
  exists (O.code.coding C where C.system = 'http://a') }
define "CodeByCall": [Observation] O return all "FirstCode"(O.code)
define "CodeInline": [Observation] O return all First(O.code.coding C return C.code)
""")
    out = lib.evaluate(EvaluationContext(data=ListDataSource(obs), now=NOW),
                       ["ByCall", "Inline", "CodeByCall", "CodeInline"])
    assert out["ByCall"] == out["Inline"]
    assert out["CodeByCall"] == out["CodeInline"]


# -- Tuple reads and parameter coercion shortcuts ---------------------------------------------------------


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.one_of(st.none(), st.integers())),
       st.sampled_from(["a", "b", "z"]))
def test_tuple_reads_agree_with_the_mapping_interface(items: dict[str, Any], key: str) -> None:
    from collections.abc import Mapping

    t_ = Tuple(items)
    assert t_.get(key) == Mapping.get(t_, key) and t_.get(key, 5) == Mapping.get(t_, key, 5)
    assert (key in t_) == Mapping.__contains__(t_, key)
    assert list(t_.keys()) == list(Mapping.keys(t_))
    assert list(t_.items()) == list(Mapping.items(t_))
    assert list(t_.values()) == list(Mapping.values(t_))


_SPECS = [A.NamedTypeSpecifier(ns, n) for n in ("String", "Boolean", "Integer", "Decimal", "Long", "Any", "Code")
          for ns in (None, "System")] + [A.TupleTypeSpecifier(()), A.ListTypeSpecifier(A.NamedTypeSpecifier(None, "Integer"))]


@given(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.just(Decimal("1.5")), st.text(max_size=2),
                 st.just(1.5), st.just(Tuple(a=1)), st.just(Long(3))), st.sampled_from(_SPECS))
def test_parameters_already_of_their_type_are_what_the_coercion_gives(value: Any, spec: A.TypeSpecifier) -> None:
    if not L._already_declared_type(value, spec):
        return
    original = L._already_declared_type
    try:
        L._already_declared_type = lambda v, s: False  # type: ignore[assignment]
        general = _outcome(lambda: L._coerce_parameter("P", value, spec))
    finally:
        L._already_declared_type = original  # type: ignore[assignment]
    assert general == ("value", value) and general[1] is value


# -- a retrieve by value set matches each shared Concept once --------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), codings), max_size=8))
def test_retrieve_by_value_set_keeps_the_rows_whose_code_is_in_it(codes_: list[Any]) -> None:
    from tests.unit.cql.conftest import SimpleValueSet

    obs = [{"resourceType": "Observation", "id": str(i), **({} if c is None else {"code": {"coding": c}})}
           for i, c in enumerate(codes_)]
    obs += obs[:3]
    lib = compile_library("""library Main
using FHIR version '4.0.1'
valueset "VS": 'vs'
context Patient
define "Retrieved": [Observation: "VS"] O return all O.id
define "Filtered": [Observation] O where O.code in "VS" return all O.id
""")

    class Resolver:
        def resolve(self, id_or_url: str) -> Any:
            return SimpleValueSet((Code("x", "http://a"), Code("y", "http://b")))

    out = lib.evaluate(EvaluationContext(data=ListDataSource(obs), valuesets=Resolver(), now=NOW),
                       ["Retrieved", "Filtered"])
    assert out["Retrieved"] == out["Filtered"]


def test_classes_the_two_argument_call_skips_are_never_memo_keys() -> None:
    samples = [Date(2020), DateTime(2020, 1, 2, 3), Time(1), Decimal(1), Quantity(Decimal(1), "mg"),
               Ratio(Quantity(Decimal(1), "mg"), Quantity(Decimal(2), "mL")), Interval(1, 2, True, True, "Integer"),
               Tuple(a=1), [1], Long(3)]
    assert {type(v) for v in samples} == set(C._UNMEMOISED)
    for v in samples:
        assert C._memo_key([v]) is None and C._memo_key(["a", v]) is None


@given(st.one_of(st.integers(), st.text(max_size=3)), st.one_of(st.integers(), st.text(max_size=3)))
def test_equality_of_two_strings_or_integers_is_the_general_answer(a: Any, b: Any) -> None:
    from cds_service.cql.types import equality

    general = (Decimal(a) == Decimal(b)) if type(a) is int and type(b) is int else \
        (a == b) if type(a) is str and type(b) is str else equality.equal([a], [b])
    assert equality.equal(a, b) == general
