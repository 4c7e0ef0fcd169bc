#!/usr/bin/env bash
# Installs everything the tests need on a bare Debian/Ubuntu machine (or CI) and runs the whole suite.
# Idempotent: re-running skips what is already in place. Non-interactive (CI=true, no stdin).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
PYTHON="${PYTHON:-python3}"

log() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# 1. The service's virtual environment with the [test] extras.
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  log "installing python3-venv"
  apt_install python3-venv
fi
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
log "installing cds-service with [test] extras"
.venv/bin/python -m pip install -q --upgrade pip </dev/null
.venv/bin/python -m pip install -q -e '.[test]' </dev/null

# 2. The FHIR server (sekmet-fhir) in its own venv, for the integration tests.
if [ -f scripts/fhir_server_setup.sh ]; then
  log "installing the test FHIR server"
  bash scripts/fhir_server_setup.sh </dev/null
fi

# 3. PostgreSQL for the store tests (127.0.0.1:5432, trust auth, database `test`).
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if [ ! -d /etc/postgresql ]; then
    log "installing PostgreSQL"
    apt_install postgresql
  fi
  log "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 1; done
fi
if command -v psql >/dev/null && ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  # A fresh cluster: trust auth on loopback and the `test` database the tests expect.
  hba="$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -1 || true)"
  if [ -n "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main reload || true
    sleep 1
  fi
  psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null 2>&1 || true
fi

# 4. Chromium for the admin page browser tests (Playwright drives /usr/bin/chromium).
if [ ! -x /usr/bin/chromium ]; then
  log "installing Debian chromium"
  apt_install chromium
fi

# 5. The compiled (Cython) build of the CQL engine, as deployments run it (cds_service/accel.py). Cached by
#    source digest under ~/.cache/cds-service/accel (CDS_CQL_ACCEL_DIR): only an edit of the engine rebuilds.
log "compiling the CQL engine (cds-service accel build)"
.venv/bin/cds-service accel build </dev/null

run_pytest() {
  set +e
  .venv/bin/python -m pytest "$@"
  local status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    return 1
  fi
  return "$status"
}

# 6. The whole suite (or the pytest arguments given) on the compiled engine; CDS_EXPECT_ACCEL makes a test
#    fail if the compiled modules were not the ones loaded. Exit code 5 (no tests collected) is a failure.
full=0
if [ "$#" -eq 0 ]; then set -- tests/; full=1; fi
log "running pytest $* (compiled CQL engine)"
CDS_CQL_ACCEL=require CDS_EXPECT_ACCEL=1 run_pytest "$@"

# 7. The engine as plain Python too (what runs where no C compiler is available): the CQL unit tests, the
#    HL7 conformance cases and the clinical golden files evaluated in-process.
if [ "$full" -eq 1 ]; then
  log "running the engine tests on pure Python (CDS_CQL_ACCEL=off)"
  CDS_CQL_ACCEL=off run_pytest -q tests/unit/cql tests/conformance tests/golden/test_golden_direct.py
fi
