"""The compiled (Cython) build of the CQL engine: used only when it matches the source; refused loudly when
required and absent (cds_service/accel.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service import accel

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    child.update(env)
    child["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", code], env=child, capture_output=True, text=True, timeout=120)


PROBE = ("import cds_service.cql.compiler as c, cds_service.accel as a; "
         "print(a.active(), c.__file__.endswith('.py'), a.status())")


@pytest.mark.skipif(os.environ.get("CDS_EXPECT_ACCEL") != "1",
                    reason="scripts/test.sh builds the compiled engine and sets CDS_EXPECT_ACCEL=1")
def test_the_suite_runs_on_the_compiled_engine_when_it_was_built() -> None:
    # Otherwise the "compiled" run of the suite would silently test pure Python only.
    import cds_service.cql.compiler as compiler
    import cds_service.fhir.record as record

    assert accel.active(), accel.status()
    assert not compiler.__file__.endswith(".py")
    assert not record.__file__.endswith(".py")


def test_a_build_made_for_other_source_is_never_loaded(tmp_path: Path) -> None:
    # A folder that is not named by the digest of the current source (as after an edit) is ignored.
    other = tmp_path / "0123456789abcdef0123"
    other.mkdir()
    (other / accel.MANIFEST).write_text(json.dumps({"digest": other.name, "modules": {m: "x.so" for m in accel.MODULES}}))
    done = _python(PROBE, {"CDS_CQL_ACCEL_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    active, pure_file, status = done.stdout.strip().split(" ", 2)
    assert (active, pure_file) == ("False", "True")
    assert "no matching build" in status


def test_a_manifest_whose_files_are_missing_is_not_a_build(tmp_path: Path) -> None:
    folder = tmp_path / accel.digest()
    folder.mkdir()
    (folder / accel.MANIFEST).write_text(json.dumps({"digest": folder.name,
                                                     "modules": {m: f"{m}.so" for m in accel.MODULES}}))
    done = _python(PROBE, {"CDS_CQL_ACCEL_DIR": str(tmp_path)})
    assert done.stdout.startswith("False True"), done.stdout + done.stderr


def test_off_keeps_pure_python_even_with_a_build(tmp_path: Path) -> None:
    done = _python(PROBE, {"CDS_CQL_ACCEL": "off"})
    assert done.stdout.startswith("False True"), done.stdout + done.stderr
    assert "off" in done.stdout


@pytest.mark.parametrize("value, message", [
    ("require", "run `cds-service accel build`"),
    ("turbo", "CDS_CQL_ACCEL must be one of auto, off, require"),
])
def test_serve_refuses_to_start_when_the_compiled_engine_is_required_but_absent_or_the_mode_is_wrong(
        tmp_path: Path, value: str, message: str) -> None:
    done = _python("import sys; from cds_service.cli import main; sys.exit(main(['serve', '--port', '1', "
                   f"'--data-dir', {str(tmp_path / 'data')!r}]))",
                   {"CDS_CQL_ACCEL": value, "CDS_CQL_ACCEL_DIR": str(tmp_path / "empty")})
    assert done.returncode == 2
    assert "cannot start" in done.stderr and message in done.stderr


def test_status_command_says_what_would_load(tmp_path: Path) -> None:
    done = _python("import sys; from cds_service.cli import main; sys.exit(main(['accel', 'status']))",
                   {"CDS_CQL_ACCEL_DIR": str(tmp_path)})
    assert done.returncode == 0
    assert "build for this source: absent" in done.stdout and "pure Python" in done.stdout


def test_the_digest_covers_every_compiled_module_and_changes_with_the_source(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    before = accel.digest()
    # An edited module (simulated by reading a modified copy) gives another digest, hence another folder.
    original = accel.source_path
    target = accel.MODULES[0]
    edited = tmp_path / "compiler.py"
    edited.write_bytes(original(target).read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(accel, "source_path", lambda m: edited if m == target else original(m))
    assert accel.digest() != before
    assert all(original(m).is_file() for m in accel.MODULES)
