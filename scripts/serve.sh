#!/usr/bin/env bash
# Quick start, command 1: install chatmem into .venv and serve the API on the embedded SQLite default.
# Extra arguments go to `chatmem serve` (e.g. --port 8080, --database-url postgresql://...).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet .
exec .venv/bin/chatmem serve "$@"
