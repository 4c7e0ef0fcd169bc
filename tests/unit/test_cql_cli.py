"""`cds-service cql eval` and `cds-service cql check` as a user runs them (through cds_service.cli.main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["cql", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("expression", "printed"), [
    ("Interval[1, 10] contains 5", "true"),
    ("{1, 'a', null}", "{1, 'a', null}"),
    ("@2012-01-01 + 1 month", "@2012-02-01"),
    ("Tuple { a: 2.50 }", "Tuple { a: 2.50 }"),
    ("5 'mg' + 1 'mg'", "6 'mg'"),
    ("Interval[1, 3)", "Interval[1, 3)"),
])
def test_eval_prints_the_value_as_a_cql_literal(capsys: pytest.CaptureFixture[str], expression: str,
                                                printed: str) -> None:
    assert run(capsys, "eval", expression) == (0, printed + "\n", "")


def test_eval_with_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "eval", "Limit * 2 > Value", "--param", "Limit=1.8", "--param", "Value=3")
    assert (code, out, err) == (0, "true\n", "")


def test_eval_with_a_bundle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "va-pat-1", "birthDate": "1950-06-01"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/va-pat-1"},
                      "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M80.08XA"}]}}}]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    code, out, err = run(capsys, "eval", "Count([Condition])", "--data", str(path))
    assert (code, out, err) == (0, "1\n", "")
    code, out, _ = run(capsys, "eval", "singleton from ([Patient] P return P.birthDate)", "--data", str(path))
    assert (code, out) == (0, "@1950-06-01\n")


def test_eval_syntax_error_shows_the_line_and_a_caret(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "eval", "1 +")
    assert code == 1 and out == ""
    assert err.splitlines() == ["expression:1:3: syntax error: unexpected '+'", "1 +", "  ^"]


def test_eval_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "eval", "1", "--param", "not an assignment")[0] == 2
    assert run(capsys, "eval", "1", "--data", str(tmp_path / "missing.json"))[0] == 2
    (tmp_path / "p.json").write_text('{"resourceType": "Patient"}', encoding="utf-8")
    code, _, err = run(capsys, "eval", "1", "--data", str(tmp_path / "p.json"))
    assert code == 2 and "not a FHIR Bundle" in err


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_passes_good_libraries_with_includes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path, "Common.cql", "library Common version '1.0'\ndefine One: 1\n")
    main_lib = write(tmp_path, "Main.cql",
                     "library Main\ninclude Common version '1.0'\ndefine Two: Common.One + 1\n")
    code, out, err = run(capsys, "check", str(main_lib))
    assert code == 0 and err == ""
    assert out.startswith(f"{main_lib}: ok")


def test_check_reports_syntax_errors_as_file_line_col_with_caret(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    good = write(tmp_path, "Good.cql", "library Good\ndefine A: 1\n")
    bad = write(tmp_path, "Bad.cql", "library Bad\ndefine A: 1\ndefine B: 2 +\ndefine C: 3\n")
    code, out, err = run(capsys, "check", str(good), str(bad))
    assert code == 1
    assert f"{good}: ok" in out
    lines = err.splitlines()
    assert lines[0].startswith(f"{bad}:3:") and "syntax error" in lines[0]
    assert lines[1] == "define B: 2 +"
    column = int(lines[0].split(":")[2])
    assert lines[2] == " " * (column - 1) + "^"


def test_check_reports_semantic_errors_at_their_define(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, "Sem.cql", "library Sem\n\ndefine Fine: 1\n  define \"Broken\":\n    NoSuchThing + 1\n")
    code, _, err = run(capsys, "check", str(bad))
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith(f"{bad}:4:3: error:") and "NoSuchThing" in lines[0]
    assert lines[1:3] == ['  define "Broken":', "  ^"]


def test_check_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "check", str(tmp_path / "none.cql"))
    assert code == 2 and "cannot read" in err


@pytest.mark.parametrize(("body", "line", "col", "message"), [
    # pyparsing alone would point at the start of the define; the author needs the bracket itself.
    ('define "X":\n  1 +\n  (2 * 3\n', 4, 3, "'(' is never closed"),
    ('define "X": Count([Condition] C where C.id = \'a)\'))\n', 2, 51, "')' closes nothing"),
    ('define "X": { (1, 2 }\n', 2, 21, "'}' does not match the '('"),
])
def test_check_points_at_the_unbalanced_bracket(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 body: str, line: int, col: int, message: str) -> None:
    path = tmp_path / "T.cql"
    path.write_text("library T\n" + body, encoding="utf-8")
    code, _, err = run(capsys, "check", str(path))
    assert code == 1
    assert f"T.cql:{line}:{col}: syntax error: {message}" in err
    caret_line = err.splitlines()[-1]
    assert caret_line.index("^") == col - 1
