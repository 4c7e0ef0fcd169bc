"""The engine type-checks under mypy --strict (STYLE.md): a method that lands in the wrong class, or a call
with the wrong arguments, fails here before any test of behaviour has to find it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_cql_engine_and_its_compiled_build_loader_pass_mypy_strict(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy"),
         "cds_service/cql", "cds_service/accel.py"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
