#!/usr/bin/env bash
# The long schemathesis run (the test command runs a short one: tests/test_openapi_fuzz.py).
# Serves chatmem on a throwaway database and fuzzes every operation of its OpenAPI document with the
# server-error, status-code, content-type and response-schema checks.
#   scripts/fuzz.sh [sqlite|postgres] [examples per operation, default 200] [seed, default random]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
examples="${2:-200}"
seed="${3:-$RANDOM}"
work="$(mktemp -d)"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$backend" = postgres ]; then
    db="chatmem_fuzz_$$"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
    url="postgresql://postgres@127.0.0.1:5432/$db"
else
    url="sqlite:///$work/fuzz.db"
fi
CHATMEM_DATA_DIR="$work" CHATMEM_LOG_LEVEL=warning CHATMEM_PURGE_EVERY_MINUTES=0 \
    .venv/bin/chatmem serve --port "$port" --database-url "$url" > "$work/server.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; fi
    echo "server log: $work/server.log"
}
trap cleanup EXIT
echo "fuzzing $backend with seed $seed, $examples examples per operation"
.venv/bin/schemathesis run "http://127.0.0.1:$port/openapi.json" --wait-for-schema 60 \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --seed "$seed" --max-examples "$examples" --generation-database none --workers 2 --no-color
