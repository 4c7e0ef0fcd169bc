"""Library features: parameters (defaults, per-evaluation overrides), includes, functions (fluent too), private."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cds_service.cql import EvaluationContext, LibraryManager
from cds_service.cql.errors import CqlEvaluationError, CqlSemanticError
from tests.unit.cql.conftest import NOW, DictLoader, compile_library

PARAMS = """
library Params version '1.0'
parameter InrHardStop Decimal default 1.8
parameter Levels List<String> default {'T1', 'L5'}
parameter NoDefault Integer
define "Limit": InrHardStop
define "TooHigh": 2.0 > InrHardStop
define "LevelCount": Count(Levels)
define "Missing": NoDefault is null
"""


def test_parameter_defaults_apply_when_not_overridden() -> None:
    lib = LibraryManager(DictLoader({"Params": PARAMS})).load("Params")
    result = lib.evaluate(EvaluationContext(now=NOW))
    assert result == {"Limit": Decimal("1.8"), "TooHigh": True, "LevelCount": 2, "Missing": True}


def test_parameter_override_is_per_evaluation_and_does_not_leak() -> None:
    lib = LibraryManager(DictLoader({"Params": PARAMS})).load("Params")
    strict = lib.evaluate(EvaluationContext(now=NOW, parameters={"InrHardStop": Decimal("2.5"), "NoDefault": 3}))
    assert strict["TooHigh"] is False and strict["Missing"] is False
    again = lib.evaluate(EvaluationContext(now=NOW))
    assert again["TooHigh"] is True and again["Limit"] == Decimal("1.8")


def test_float_parameter_becomes_a_decimal() -> None:
    lib = LibraryManager(DictLoader({"Params": PARAMS})).load("Params")
    result = lib.evaluate(EvaluationContext(now=NOW, parameters={"InrHardStop": 1.5}), ["Limit"])
    assert result["Limit"] == Decimal("1.5") and isinstance(result["Limit"], Decimal)


def test_unknown_parameter_name_is_a_clear_error() -> None:
    lib = LibraryManager(DictLoader({"Params": PARAMS})).load("Params")
    with pytest.raises(CqlEvaluationError, match="InrHardstop"):
        lib.evaluate(EvaluationContext(now=NOW, parameters={"InrHardstop": 1}))


COMMON = """
library Common version '2.0'
define "Two": 2
define private "Secret": 42
define function Double(x Integer): x * 2
define fluent function Triple(x Integer) returns Integer: x * 3
define private function Hidden(x Integer): x
"""


def test_include_resolves_defines_and_functions_through_the_alias() -> None:
    main = """
library Main
include Common version '2.0' called C
define "Four": C.Two + C."Two"
define "Doubled": C.Double(21)
define "Fluent": 5.Triple()
"""
    loader = DictLoader({"Main": main, "Common": COMMON})
    lib = LibraryManager(loader).load("Main")
    assert lib.evaluate(EvaluationContext(now=NOW)) == {"Four": 4, "Doubled": 42, "Fluent": 15}
    assert ("Common", "2.0") in loader.calls


def test_library_is_compiled_once_per_manager() -> None:
    loader = DictLoader({"Common": COMMON})
    manager = LibraryManager(loader)
    assert manager.load("Common") is manager.load("Common")
    assert loader.calls == [("Common", None)]


def test_private_define_of_an_included_library_is_refused() -> None:
    main = "library Main\ninclude Common called C\ndefine \"X\": C.Secret"
    with pytest.raises(CqlSemanticError, match="private"):
        LibraryManager(DictLoader({"Main": main, "Common": COMMON})).load("Main")


def test_private_function_of_an_included_library_is_refused() -> None:
    main = "library Main\ninclude Common called C\ndefine \"X\": C.Hidden(1)"
    with pytest.raises(CqlSemanticError, match="private"):
        LibraryManager(DictLoader({"Main": main, "Common": COMMON})).load("Main")


def test_private_defines_are_not_in_the_default_result_but_usable_inside() -> None:
    lib = compile_library('library Main\ndefine private "P": 1\ndefine "Q": P + 1')
    assert lib.evaluate(EvaluationContext(now=NOW)) == {"Q": 2}


def test_function_overloads_are_chosen_by_argument_type() -> None:
    text = """
library Main
define function Describe(x Integer): 'integer'
define function Describe(x String): 'string'
define "I": Describe(1)
define "S": Describe('a')
"""
    assert compile_library(text).evaluate(EvaluationContext(now=NOW)) == {"I": "integer", "S": "string"}


def test_functions_calling_functions_keep_their_own_arguments() -> None:
    text = """
library Main
define function Inc(x Integer): x + 1
define function Twice(x Integer): Inc(Inc(x)) + x
define "R": Twice(10)
"""
    assert compile_library(text).evaluate(EvaluationContext(now=NOW))["R"] == 22


def test_defines_may_refer_forward_and_are_evaluated_once() -> None:
    text = "library Main\ndefine \"A\": B + 1\ndefine \"B\": 41"
    assert compile_library(text).evaluate(EvaluationContext(now=NOW)) == {"A": 42, "B": 41}


def test_circular_include_is_a_semantic_error() -> None:
    loader = DictLoader({"A": "library A\ninclude B\ndefine \"x\": 1", "B": "library B\ninclude A\ndefine \"y\": 1"})
    with pytest.raises(CqlSemanticError, match="circular include"):
        LibraryManager(loader).load("A")


def test_missing_library_is_a_semantic_error_naming_it() -> None:
    with pytest.raises(CqlSemanticError, match="Nope"):
        LibraryManager(DictLoader({})).load("Nope")


def test_evaluating_an_unknown_define_names_it() -> None:
    lib = compile_library("library Main\ndefine \"A\": 1")
    with pytest.raises(CqlEvaluationError, match="'B'"):
        lib.evaluate(EvaluationContext(now=NOW), ["B"])


def test_codes_concepts_and_code_systems_resolve() -> None:
    text = """
library Main
codesystem "LOINC": 'http://loinc.org'
code "INR": '6301-6' from "LOINC" display 'INR'
concept "Coag": { "INR" } display 'Coagulation'
define "C": "INR"
define "K": "Coag"
define "Same": "INR" ~ Code '6301-6' from "LOINC"
"""
    result = compile_library(text).evaluate(EvaluationContext(now=NOW))
    assert result["C"].code == "6301-6" and result["C"].system == "http://loinc.org" and result["C"].display == "INR"
    assert result["K"].display == "Coagulation" and result["K"].codes[0].code == "6301-6"
    assert result["Same"] is True


def test_now_and_today_are_fixed_by_the_context() -> None:
    text = "library Main\ndefine \"Y\": year from Today()\ndefine \"Same\": Now() = Now()"
    result = compile_library(text).evaluate(EvaluationContext(now=NOW))
    assert result == {"Y": 2026, "Same": True}


def test_fhirhelpers_is_built_in_when_the_loader_has_none() -> None:
    main = """
library Main
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1'
context Patient
define "Q": FHIRHelpers.ToQuantity(5 'mg')
define "S": FHIRHelpers.ToString('x')
"""
    lib = LibraryManager(DictLoader({"Main": main})).load("Main")
    result = lib.evaluate(EvaluationContext(now=NOW))
    assert str(result["Q"]) == "5 'mg'" and result["S"] == "x"


def test_parameter_values_are_coerced_to_the_declared_type_or_refused() -> None:
    text = """
library Main
parameter D Decimal default 1.0
parameter Since DateTime
parameter Names List<String> default {}
define "DValue": D
define "SinceValue": Since
define "NamesValue": Names
"""
    import datetime as dt

    lib = compile_library(text)
    result = lib.evaluate(EvaluationContext(now=NOW, parameters={
        "D": 2, "Since": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "Names": ("T1", "L5")}))
    assert result["DValue"] == Decimal(2) and isinstance(result["DValue"], Decimal)
    assert repr(result["SinceValue"]).startswith("@2026-01-01T00:00") and result["NamesValue"] == ["T1", "L5"]
    with pytest.raises(CqlEvaluationError, match="parameter D expects a Decimal"):
        lib.evaluate(EvaluationContext(now=NOW, parameters={"D": "many"}))
    with pytest.raises(CqlEvaluationError, match="parameter Names"):
        lib.evaluate(EvaluationContext(now=NOW, parameters={"Names": ["T1", 5]}))


def test_self_reference_and_duplicate_names_are_semantic_errors() -> None:
    with pytest.raises(CqlSemanticError, match="refers to itself"):
        compile_library('library Main\ndefine "A": B\ndefine "B": A + 1')
    with pytest.raises(CqlSemanticError, match="reuses a name"):
        compile_library('library Main\nparameter X Integer\ndefine "X": 1')


def test_concurrent_loads_and_evaluations_agree() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f'library L{i}\nparameter P Integer default {i}\ndefine "R": ({{1, 2, 3}}) X return all X * P' for i in range(8)]

    def work(i: int) -> list[int]:
        lib = LibraryManager(DictLoader({f"L{i}": texts[i]})).load(f"L{i}")
        return lib.evaluate(EvaluationContext(now=NOW))["R"]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [[i, 2 * i, 3 * i] for i in range(8)]


def test_recursive_function_is_a_semantic_error() -> None:
    with pytest.raises(CqlSemanticError, match="calls itself"):
        compile_library("library Main\ndefine function F(x Integer): if x = 0 then 0 else F(x - 1)\ndefine \"R\": F(3)")



MEMO = """
library Main
using FHIR version '4.0.1'
context Patient
define function "Work"(O Observation): Count((expand Interval[1, 3000]) X where X > Length(O.id))
define function "Echo"(x Integer, y Boolean): if y then x else -x
define "Target": First([Observation] O where O.id = 'o1')
define "Once": "Work"("Target")
define "Many": (expand Interval[1, 100]) I return all "Work"(if I > 0 then "Target" else null)
define "Each": [Observation] O return "Work"(O)
define "Primitives": { "Echo"(1, true), "Echo"(1, false), "Echo"(1, true) }
"""


def test_a_function_called_again_on_the_same_resource_is_computed_once_per_evaluation() -> None:
    import time

    from tests.unit.cql.conftest import ListDataSource

    data = ListDataSource([{"resourceType": "Observation", "id": "o1"},
                           {"resourceType": "Observation", "id": "o22222"}])
    lib = compile_library(MEMO)

    def timed(define: str) -> tuple[float, object]:
        best, value = float("inf"), None
        for _ in range(3):
            started = time.perf_counter()
            value = lib.evaluate(EvaluationContext(data=data, now=NOW), [define])[define]
            best = min(best, time.perf_counter() - started)
        return best, value

    once, one = timed("Once")
    many, values = timed("Many")
    assert one == 2998 and values == [2998] * 100
    # 100 calls on the same resource cost about one call, not a hundred (without the memo: ~15x; the margin absorbs noise).
    assert many < 5 * once
    # Different resources still get their own answers.
    assert timed("Each")[1] == [2998, 2994]


def test_memoised_calls_keep_equal_looking_arguments_apart() -> None:
    result = compile_library(MEMO).evaluate(EvaluationContext(now=NOW), ["Primitives"])
    assert result["Primitives"] == [1, -1, 1]


STEPS = """
library Main version '1.0'
parameter Calls List<Integer> default {1, 2, 3}
define "Base": Calls C return all C * 10
define "Total": Sum("Base")
define "Largest": Max("Base")
define "Broken": 1 / 0 + Length(null as String) + (singleton from {1, 2})
"""


def test_an_evaluation_asked_in_steps_gives_what_one_call_gives_and_reuses_shared_defines() -> None:
    lib = compile_library(STEPS)
    ctx = EvaluationContext(now=NOW)
    whole = lib.evaluate(ctx, ["Total", "Largest"])
    evaluation = lib.start(ctx)
    first = evaluation.evaluate(["Total"])
    base = evaluation.evaluate(["Base"])["Base"]
    second = evaluation.evaluate(["Largest"])
    assert {**first, **second} == whole == {"Total": 60, "Largest": 30}
    # "Base" was computed once for "Total" and is the same list object when asked for again.
    assert evaluation.evaluate(["Base"])["Base"] is base


def test_an_evaluation_in_steps_names_an_unknown_define_and_survives_an_error() -> None:
    evaluation = compile_library(STEPS).start(EvaluationContext(now=NOW))
    with pytest.raises(CqlEvaluationError, match="no define 'Nope'"):
        evaluation.evaluate(["Nope"])
    with pytest.raises(CqlEvaluationError):
        evaluation.evaluate(["Broken"])
    assert evaluation.evaluate(["Total"]) == {"Total": 60}


def test_evaluate_define_gives_one_define_of_the_library() -> None:
    assert compile_library(STEPS).evaluate_define("Total", EvaluationContext(now=NOW)) == 60
