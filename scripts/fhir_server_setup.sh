#!/usr/bin/env bash
# Installs the integration-test FHIR server (sekmet-fhir, pinned) in its own venv at <repo>/.fhir-venv.
# Idempotent: does nothing when the pinned version is already installed. Its pins never touch .venv.
# See /work/shared/fhir-server.md and docs/security.md. Usage: scripts/fhir_server_setup.sh [--print-python]
set -euo pipefail

SEKMET_VERSION="0.1.1"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CDS_FHIR_VENV:-$REPO_ROOT/.fhir-venv}"
PYTHON_BIN="${PYTHON:-python3}"

installed_version() {
  "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("sekmet-fhir"))' 2>/dev/null || true
}

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON_BIN" -m venv "$VENV"
fi
if [[ "$(installed_version)" != "$SEKMET_VERSION" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "sekmet-fhir==$SEKMET_VERSION"
fi
# Fail here, not in the middle of a test session, if the app factory or uvicorn is not importable.
"$VENV/bin/python" -c 'import uvicorn, sekmet.main; assert callable(sekmet.main.app_factory)'

if [[ "${1:-}" == "--print-python" ]]; then
  echo "$VENV/bin/python"
else
  echo "sekmet-fhir $SEKMET_VERSION ready in $VENV"
fi
