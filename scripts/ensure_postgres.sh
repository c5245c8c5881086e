#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster if it does not answer (the tests create and drop their own databases).
set -euo pipefail
host=${CHATMEM_TEST_PG_HOST:-127.0.0.1}
ready() { pg_isready -q -h "$host" -p 5432; }
if ready; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
for _ in $(seq 1 60); do
    if ready; then exit 0; fi
    sleep 1
done
echo "PostgreSQL is not answering on $host:5432" >&2
exit 1
