#!/usr/bin/env bash
# Builds .venv-bench: chatmem (editable) plus the bench-only dependencies, kept out of the main venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${BENCH_VENV:-$root/.venv-bench}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e "$root" -r "$root/requirements/bench.txt"
echo "bench venv ready: $venv (run: $venv/bin/python -m bench run --db sqlite --quick)"
