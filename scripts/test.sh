#!/usr/bin/env bash
# Quick start, command 2: install everything and run the whole check suite (what CI runs):
# ruff, mypy, the import-layer contract, and pytest against SQLite and the local PostgreSQL, including
# the real zep-python SDK and LangChain in their own virtual environment. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "install chatmem and its dev tools into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[dev]'

step "install the Zep SDK / LangChain compatibility environment (.venv-compat)"
bash scripts/compat_venv.sh

step "make sure Debian's Chromium is installed (the admin page's browser tests drive it with Playwright)"
if [ ! -x /usr/bin/chromium ]; then
    # Playwright never downloads a browser here: tests/admin launch /usr/bin/chromium.
    export DEBIAN_FRONTEND=noninteractive
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium >/dev/null
fi

step "make sure PostgreSQL answers on 127.0.0.1:5432"
bash scripts/ensure_postgres.sh

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

step "mypy"
.venv/bin/mypy

step "import layers (lint-imports; the contract is in pyproject.toml)"
.venv/bin/lint-imports

step "pytest"
status=0
.venv/bin/pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
