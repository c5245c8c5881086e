#!/bin/sh
# The container's entrypoint: `chatmem serve` when no command is given, any chatmem command
# (`worker`, `migrate`, `purge`, `queue status`, ...) when one is, and anything else (a shell, say)
# as given. `exec` hands PID 1 to chatmem, so the SIGTERM of `docker stop` reaches it directly and
# its graceful shutdown runs (CHATMEM_SHUTDOWN_GRACE_SECONDS).
set -eu
if [ "$#" -eq 0 ]; then
    set -- serve
fi
case "$1" in
    -*|serve|worker|migrate|purge|queue|reembed)
        exec chatmem "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
