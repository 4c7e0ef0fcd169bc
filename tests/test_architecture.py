"""Architecture contracts (docs/architecture.md), checked with import-linter on the real import graph."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACTS = """
[importlinter]
root_packages =
    cds_service
    cards
include_external_packages = True

[importlinter:contract:layers]
name = Protocol over domain over data and engine (hooks -> services -> fhir -> cql)
type = layers
layers =
    cds_service.app
    cds_service.hooks
    cds_service.services
    cds_service.fhir
    cds_service.cql

[importlinter:contract:engine-pure]
name = The CQL engine imports neither Flask, requests, SQLAlchemy, fhir.resources nor other layers
type = forbidden
source_modules =
    cds_service.cql
forbidden_modules =
    flask
    requests
    sqlalchemy
    fhir
    cds_service.hooks
    cds_service.services
    cds_service.fhir
    cds_service.store
    cds_service.admin
    cds_service.wire
    cds_service.app

[importlinter:contract:fhir-resources-in-data-layer]
name = Only cds_service.fhir imports fhir.resources
type = forbidden
allow_indirect_imports = True
source_modules =
    cds_service.hooks
    cds_service.services
    cds_service.cql
    cds_service.wire
    cds_service.store
    cds_service.admin
    cds_service.app
    cards
forbidden_modules =
    fhir
    fhir_core

[importlinter:contract:wire-standalone]
name = Wire models depend on nothing else of the service
type = forbidden
source_modules =
    cds_service.wire
forbidden_modules =
    cds_service.hooks
    cds_service.services
    cds_service.fhir
    cds_service.store
    cds_service.admin
    cds_service.cql
    flask
    sqlalchemy
"""


def _lint_imports() -> str:
    candidate = Path(sys.executable).with_name("lint-imports")
    found = str(candidate) if candidate.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports (import-linter, a [test] extra) is not installed")
    return found


def test_import_contracts_hold(tmp_path: Path) -> None:
    config = tmp_path / "importlinter.ini"
    config.write_text(CONTRACTS)
    result = subprocess.run([_lint_imports(), "--config", str(config), "--no-cache"], capture_output=True,
                            text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("KEPT") == 4, result.stdout
