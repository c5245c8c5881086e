#!/usr/bin/env bash
# Create or refresh .venv-compat: the real zep-python 1.x and LangChain Zep clients that tests/compat
# drive against a live chatmem server. They pin httpx 0.24 and the pydantic v1 API, so they get an
# environment of their own instead of sharing chatmem's .venv.
#
# Idempotent and cheap when nothing changed: the environment records a fingerprint of
# requirements/compat.txt and of the interpreter it was built with, and is rebuilt from scratch
# (never patched in place, so no stale package survives a pin change) only when that differs.
#
# Usage: scripts/compat_venv.sh            (COMPAT_PYTHON=/path/to/python3.11 to choose the interpreter)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-compat"
requirements="$root/requirements/compat.txt"
stamp="$venv/.compat-fingerprint"
python="${COMPAT_PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "compat_venv: interpreter '$python' not found (set COMPAT_PYTHON)" >&2
    exit 1
fi

interpreter="$("$python" -c 'import sys; print(sys.version.split()[0], sys.executable)')"
fingerprint="$( { cat "$requirements"; echo "$interpreter"; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$fingerprint" ]]; then
    exit 0
fi

echo "compat_venv: building $venv from requirements/compat.txt ($interpreter)"
rm -rf "$venv"
"$python" -m venv "$venv"
# Every package is pinned, so the resolver only checks the set; `pip check` proves it consistent.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$requirements"
"$venv/bin/python" -m pip check --disable-pip-version-check
"$venv/bin/python" -W ignore -c 'import zep_python, langchain_community, langchain_classic'
# Written last: an interrupted build leaves no fingerprint and is redone on the next call.
echo "$fingerprint" >"$stamp"
echo "compat_venv: ready"
