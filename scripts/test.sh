#!/usr/bin/env bash
# Install everything the tests need (system packages too) and run the whole suite:
# ruff, mypy, import-linter (the layer contracts in pyproject.toml), the doctests of src/leadstats,
# the Worker's tests inside workerd, and pytest. Exits non-zero on any failure. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Debian's Chromium for the dashboard's browser tests.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  else
    echo "chromium is missing: install Debian's chromium package (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# The Worker half (worker/, TypeScript): Node from Debian's packages when missing; typecheck, then its
# tests inside workerd (Miniflare), the end-to-end one against this checkout's `leadstats serve`.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "node/npm are missing: install Debian's nodejs and npm packages (sudo apt-get install nodejs npm)" >&2
    exit 1
  fi
fi
stage() { echo "== $1 (at ${SECONDS}s)"; }
stage "worker (npm)"
npm ci --prefix worker --no-audit --no-fund --loglevel=error
npm --prefix worker run --silent typecheck
LEADSTATS_BIN="$PWD/.venv/bin/leadstats" npm --prefix worker test

stage ruff; .venv/bin/ruff check src tests benchmarks
stage mypy; .venv/bin/mypy
stage import-linter; .venv/bin/lint-imports
stage doctests; .venv/bin/python -m pytest -q -p no:cacheprovider --doctest-modules src/leadstats \
  --ignore=src/leadstats/__main__.py
# Several workers (pytest-xdist): many tests wait on subprocesses, servers and Chromium, so even a loaded
# 2-core machine gains (tests/conftest.py starts the longest modules first).
stage pytest; .venv/bin/python -m pytest -q -n "${LEADSTATS_TEST_WORKERS:-4}" --durations=12 "$@"
echo "== all passed in ${SECONDS}s"
