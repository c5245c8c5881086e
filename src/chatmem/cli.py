"""The ``chatmem`` command: ``serve``, ``migrate``, ``purge``, ``worker``, ``reembed``, ``queue``, ``keys``,
``tenants``, ``token``, and the data portability commands ``export``, ``import``, ``import-zep``,
``erase-user``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from chatmem.config import Settings, get_settings
from chatmem.version import __version__

if TYPE_CHECKING:
    from chatmem.store import Database

# prometheus_client reads it when first imported (chatmem.base.metrics says why this matters).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _database_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--database-url",
        envvar="CHATMEM_DATABASE_URL",
        default=None,
        help="sqlite:///path/file.db or postgresql://user@host:port/db (default: SQLite in the data dir).",
    )(func)


def _configure_logging(settings: Settings) -> None:
    from chatmem.base.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    if settings.log_level != "debug":
        # SQLAlchemy logs every statement with its parameters (message content) at INFO once the root
        # logger is at INFO; that belongs to debugging only.
        logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


def _use_database(database_url: str | None) -> None:
    if database_url:
        # Through the environment, so that every uvicorn worker process sees the same choice.
        os.environ["CHATMEM_DATABASE_URL"] = database_url
        get_settings.cache_clear()


@contextmanager
def _migrated(database_url: str | None) -> Iterator[Database]:
    """The configured database, migrated to the current schema, for one command; a domain error in the
    block (an unknown key, a bad tenant name) becomes a usage error with its message."""
    from chatmem.base.errors import ChatmemError
    from chatmem.store import Database
    from chatmem.store import migrate as apply

    _use_database(database_url)
    db = Database(get_settings().resolved_database_url(), pool_size=1)
    try:
        apply(db)
        yield db
    except ChatmemError as exc:
        raise click.UsageError(exc.message) from None
    finally:
        db.dispose()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextmanager
def _metrics_dir(settings: Settings) -> Iterator[None]:
    """Give this server's processes one empty directory for their metric files, before anything
    imports prometheus_client: CHATMEM_METRICS_DIR (its old files removed: they would add an earlier
    server's counts to this one's), or a temporary directory removed again on exit."""
    if not settings.metrics:
        yield
        return
    configured = settings.metrics_dir
    path = configured or Path(tempfile.mkdtemp(prefix="chatmem-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield
    finally:
        if configured is None:
            shutil.rmtree(path, ignore_errors=True)


def _prepare_embeddings(settings: Settings) -> None:
    """Fetch a hub model once, before any server or worker process starts, or stop with the reason."""
    from chatmem.embeddings import ModelUnavailableError, prepare

    try:
        logging.getLogger("chatmem.embeddings").info("%s", prepare(settings))
    except ModelUnavailableError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(__version__, prog_name="chatmem")
def main() -> None:
    """chatmem: long-term memory for LLM chat applications (Zep 0.x compatible)."""


@main.command()
@_database_option
def migrate(database_url: str | None) -> None:
    """Create or upgrade the database schema."""
    from chatmem.store import Database
    from chatmem.store import migrate as apply

    _use_database(database_url)
    settings = get_settings()
    db = Database(settings.resolved_database_url(), pool_size=1)
    try:
        apply(db)
    finally:
        db.dispose()
    click.echo(f"schema up to date: {db.url.render_as_string(hide_password=True)}")


@main.command()
@_database_option
def purge(database_url: str | None) -> None:
    """Hard-delete soft-deleted sessions and messages now."""
    from chatmem.memory.purge import purge as run_purge
    from chatmem.store import Database

    _use_database(database_url)
    db = Database(get_settings().resolved_database_url(), pool_size=1)
    try:
        result = run_purge(db)
    finally:
        db.dispose()
    click.echo(f"purged {result.sessions} sessions and {result.messages} messages")


@main.command()
@_database_option
@click.option("--host", default=None, help="Interface to listen on (CHATMEM_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (CHATMEM_PORT, default 8000).")
@click.option("--workers", type=int, default=None, help="Server processes (CHATMEM_WORKERS, default 1).")
@click.option(
    "--dangerously-allow-public-without-auth",
    "allow_public",
    is_flag=True,
    help="Serve a non-loopback address with CHATMEM_AUTH=off: anyone who reaches the port reads and "
    "deletes everything.",
)
def serve(
    database_url: str | None, host: str | None, port: int | None, workers: int | None, allow_public: bool
) -> None:
    """Migrate the schema, then serve the API."""
    import uvicorn

    from chatmem.base.logs import logging_config
    from chatmem.store import Database
    from chatmem.store import migrate as apply

    _use_database(database_url)
    settings = get_settings()
    host = host or settings.host
    if not settings.auth_on and not is_loopback(host):
        if not (allow_public or settings.dangerously_allow_public_without_auth):
            raise click.UsageError(
                f"refusing to serve {host} with authentication off: anyone who can reach it could read and "
                "delete every memory. Set CHATMEM_AUTH=on and create a key (`chatmem keys create --tenant "
                "NAME --role writer`), listen on 127.0.0.1, or, if something in front of chatmem "
                "authenticates, pass --dangerously-allow-public-without-auth."
            )
        click.echo(
            f"WARNING: serving {host} with authentication OFF (--dangerously-allow-public-without-auth)",
            err=True,
        )
    _configure_logging(settings)
    db = Database(settings.resolved_database_url(), pool_size=1)
    try:
        apply(db)
    finally:
        db.dispose()
    _prepare_embeddings(settings)
    if not settings.admin_secret.get_secret_value():
        # One signing key for the admin page's session cookies, shared by every worker process (they
        # inherit the environment); a restart signs everyone out.
        os.environ["CHATMEM_ADMIN_SECRET"] = secrets.token_urlsafe(32)
    with _metrics_dir(settings):
        uvicorn.run(
            "chatmem.server.app:create_app",
            factory=True,
            host=host,
            port=port or settings.port,
            workers=workers or settings.workers,
            log_level=settings.log_level,
            log_config=logging_config(settings.log_format, settings.log_level),
            # chatmem writes its own access log (chatmem.server.observe), with the route template.
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
            # uvicorn types it as int, but takes any number of seconds (asyncio's call_later).
            timeout_keep_alive=cast(int, settings.keep_alive_seconds),
            # By name, so that this process does not import chatmem.server: it would import
            # prometheus_client (and count itself as a server process) before the directory is set,
            # and the workers import the class anyway. Its limits come from the environment.
            http="chatmem.server.connections:LimitedHttp",
            # A worker imports chatmem before it answers the supervisor's first health ping, which on
            # a loaded two-core machine took longer than uvicorn's 5 s default (workers restarted forever).
            timeout_worker_healthcheck=30,
        )


@main.command()
@_database_option
@click.option(
    "--threads", type=int, default=None, help="Worker threads (default CHATMEM_ENRICH_WORKERS, min 1)."
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve this process's /metrics on this port (CHATMEM_WORKER_METRICS_PORT; 0 = off).",
)
def worker(database_url: str | None, threads: int | None, metrics_port: int | None) -> None:
    """Run enrichment workers (token counts, embeddings, summaries) until stopped (SIGINT/SIGTERM).

    Run as many as you like against one PostgreSQL; set CHATMEM_ENRICH_WORKERS=0 on the servers then.
    """
    import signal

    from chatmem.enrich.worker import WorkerPool
    from chatmem.server.shutdown import Deadline
    from chatmem.store import Database
    from chatmem.store import migrate as apply

    _use_database(database_url)
    settings = get_settings()
    _configure_logging(settings)
    _prepare_embeddings(settings)
    count = threads if threads is not None else max(1, settings.enrich_workers)
    db = Database(settings.resolved_database_url(), pool_size=count + 1)
    apply(db)
    pool = WorkerPool(db, settings, count)
    deadline = Deadline(settings.shutdown_grace_seconds)

    def terminate(*_: object) -> None:
        deadline.start()
        pool.drain()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, terminate)
    click.echo(f"chatmem worker: {count} thread(s) on {db.url.render_as_string(hide_password=True)}")
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        # One process, values in memory: prometheus_client's own small server is enough here.
        from prometheus_client import start_http_server

        start_http_server(port, addr=settings.host)
        click.echo(f"chatmem worker: metrics on http://{settings.host}:{port}/metrics")
    pool.start()
    try:
        # Until every thread stopped (drained by a signal, batches finished) or the grace ran out.
        while not pool.wait(timeout=0.5) and not deadline.expired():
            pass
    finally:
        pool.stop(timeout=deadline.remaining())
        db.dispose()


@main.command()
@_database_option
@click.option(
    "--queue",
    "as_jobs",
    is_flag=True,
    help="Queue the work as enrichment jobs for the workers instead of doing it here.",
)
def reembed(database_url: str | None, as_jobs: bool) -> None:
    """Embed every message and summary that has no vector of the configured model (after a model
    change). Resumable: run it again to finish an interrupted run."""
    from tqdm import tqdm

    from chatmem.embeddings import make_embedder
    from chatmem.enrich import reembed as work
    from chatmem.store import Database
    from chatmem.store import migrate as apply

    _use_database(database_url)
    settings = get_settings()
    _prepare_embeddings(settings)
    embedder = make_embedder(settings)
    if embedder is None:
        raise click.ClickException("embeddings are off (CHATMEM_EMBEDDINGS=off): nothing to embed with")
    db = Database(settings.resolved_database_url(), pool_size=1)
    try:
        apply(db)
        if as_jobs:
            click.echo(f"queued {work.enqueue(db, embedder.model)} job(s) for model {embedder.model}")
            return
        missing = sum(work.count_missing(db, embedder.model).values())
        with tqdm(total=missing, unit="row", desc=f"reembed {embedder.model}") as bar:

            def advance(rows: int) -> None:
                bar.update(rows)

            done = work.reembed(db, embedder, advance)
    finally:
        db.dispose()
    click.echo(f"embedded {done} row(s) with {embedder.model}")


@main.group()
def queue() -> None:
    """Inspect the enrichment job queue."""


@queue.command("status")
@_database_option
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as GET /api/v1/enrichment/queue.")
def queue_status(database_url: str | None, as_json: bool) -> None:
    """Queue depth by job kind, the lag (age of the oldest unfinished job) and the dead jobs."""
    import orjson

    from chatmem.enrich import queue as jobs
    from chatmem.server.wire import status_json
    from chatmem.store import Database

    _use_database(database_url)
    db = Database(get_settings().resolved_database_url(), pool_size=1)
    try:
        status = jobs.status(db)
    finally:
        db.dispose()
    if as_json:
        click.echo(
            orjson.dumps(
                status_json(status, error_text=True), option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2
            ).decode()
        )
        return
    click.echo(f"depth {status.depth}  dead {status.dead}  lag {status.lag_seconds:.1f}s")
    click.echo(f"{'kind':<16}{'queued':>8}{'running':>9}{'dead':>6}")
    for k in status.kinds:
        click.echo(f"{k.kind:<16}{k.queued:>8}{k.running:>9}{k.dead:>6}")
    for job in status.dead_jobs:
        click.echo(
            f"dead {job.kind} session={job.session_id} seq={job.seq_lo}-{job.seq_hi}: {job.last_error}"
        )


@queue.command("retry-dead")
@_database_option
def queue_retry_dead(database_url: str | None) -> None:
    """Put every dead job back in the queue with a fresh set of attempts."""
    from chatmem.enrich import queue as jobs
    from chatmem.store import Database

    _use_database(database_url)
    db = Database(get_settings().resolved_database_url(), pool_size=1)
    try:
        count = jobs.retry_dead(db)
    finally:
        db.dispose()
    click.echo(f"retried {count} dead job(s)")


@main.group()
def keys() -> None:
    """API keys: create (the key is printed once), list, revoke."""


@keys.command("create")
@_database_option
@click.option("--tenant", required=True, help="Tenant the key acts in (created if it does not exist).")
@click.option("--role", type=click.Choice(["reader", "writer", "admin"]), required=True)
@click.option("--name", default=None, help="A label for the key (which app or person holds it).")
def keys_create(database_url: str | None, tenant: str, role: str, name: str | None) -> None:
    """Create a key. Its secret is the output's last line, alone: KEY=$(chatmem keys create ... | tail -1)."""
    from chatmem.access import keys as api_keys
    from chatmem.access.roles import Role

    with _migrated(database_url) as db:
        created = api_keys.create_key(db, tenant, Role.parse(role), name)
    click.echo(
        f"created key {created.record.id} ({role}) in tenant {tenant}; it is shown only once:", err=False
    )
    click.echo(created.key)


@keys.command("list")
@_database_option
@click.option("--tenant", default=None, help="Only this tenant's keys.")
def keys_list(database_url: str | None, tenant: str | None) -> None:
    """Every key (never a secret), revoked ones marked."""
    from chatmem.access import keys as api_keys

    with _migrated(database_url) as db:
        found = api_keys.list_keys(db, tenant)
    click.echo(f"{'id':<14}{'tenant':<20}{'role':<8}{'created':<22}{'last used':<22}{'state':<9}name")
    for key in found:
        click.echo(
            f"{key.id:<14}{key.tenant:<20}{key.role:<8}{_when(key.created_at):<22}{_when(key.last_used_at):<22}"
            f"{'revoked' if key.revoked_at else 'active':<9}{key.name or ''}"
        )


@keys.command("revoke")
@_database_option
@click.argument("key_id")
def keys_revoke(database_url: str | None, key_id: str) -> None:
    """Revoke a key by its id; every server refuses it within a second."""
    from chatmem.access import keys as api_keys

    with _migrated(database_url) as db:
        api_keys.revoke_key(db, key_id)
    click.echo(f"revoked key {key_id}")


@main.group()
def tenants() -> None:
    """Tenants: list, delete."""


@tenants.command("list")
@_database_option
def tenants_list(database_url: str | None) -> None:
    from chatmem.access import tenants as access_tenants

    with _migrated(database_url) as db:
        for tenant in access_tenants.list_tenants(db):
            click.echo(f"{tenant.name}\t{_when(tenant.created_at)}")


@tenants.command("delete")
@_database_option
@click.argument("name")
def tenants_delete(database_url: str | None, name: str) -> None:
    """Delete a tenant: its keys stop working, its users and sessions are deleted."""
    from chatmem.access import tenants as access_tenants

    with _migrated(database_url) as db:
        access_tenants.delete_tenant(db, name)
    click.echo(f"deleted tenant {name}")


@main.group()
def token() -> None:
    """Zep-style HS256 JWTs."""


@token.command("create")
@click.option("--tenant", default=None, help="Tenant claim (default: the default tenant).")
@click.option(
    "--role",
    type=click.Choice(["reader", "writer", "admin"]),
    default=None,
    help="Role claim (default: writer).",
)
@click.option(
    "--expires-in", type=float, default=None, help="Seconds until it expires (default: never, as Zep's)."
)
@click.option(
    "--secret",
    envvar="CHATMEM_AUTH_JWT_SECRET",
    default=None,
    help="Signing secret (CHATMEM_AUTH_JWT_SECRET).",
)
def token_create(tenant: str | None, role: str | None, expires_in: float | None, secret: str | None) -> None:
    """Print a JWT that servers with the same CHATMEM_AUTH_JWT_SECRET accept (last line, alone)."""
    from chatmem.access import tokens
    from chatmem.access.roles import Role

    try:
        minted = tokens.mint(
            secret or "", tenant=tenant, role=Role.parse(role) if role else None, expires_in=expires_in
        )
    except tokens.TokenError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(minted)


@contextmanager
def _progress(what: str, unit: str = "msg") -> Iterator[Callable[[int], object]]:
    """A progress bar on stderr when stderr is a terminal (never in the data on stdout)."""
    from tqdm import tqdm

    with tqdm(desc=what, unit=unit, unit_scale=True, file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        yield bar.update


def _since(_ctx: Any, _param: Any, value: str | None) -> dt.datetime | None:
    from chatmem.base.errors import BadRequestError
    from chatmem.portability.export import parse_since

    if value is None:
        return None
    try:
        return parse_since(value)
    except BadRequestError as exc:
        raise click.BadParameter(exc.message) from None


_tenant_option = click.option(
    "--tenant", default="default", show_default=True, help="The tenant whose data this is."
)


@main.command("export")
@_database_option
@_tenant_option
@click.option("--user", "user_id", default=None, help="Only this user and its sessions.")
@click.option("--session", "session_id", default=None, help="Only this session (and its user).")
@click.option(
    "--since", callback=_since, default=None, help="Only what changed at or after this time (UTC if no zone)."
)
@click.option("--with-embeddings", is_flag=True, help="Include message and summary vectors.")
def export_command(
    database_url: str | None,
    tenant: str,
    user_id: str | None,
    session_id: str | None,
    since: dt.datetime | None,
    with_embeddings: bool,
) -> None:
    """Write a tenant's users, sessions, summaries and messages to stdout as JSON Lines
    (docs/portability.md): chatmem export > dump.jsonl"""
    from chatmem.access.tenants import get_tenant
    from chatmem.portability.export import Selection, export_lines

    selection = Selection(user_id, session_id, since, with_embeddings)
    out = sys.stdout.buffer
    with _migrated(database_url) as db, _progress("export") as progress:
        found = get_tenant(db, tenant)
        for line in export_lines(db, found.id, found.name, selection, progress=progress):
            out.write(line)
    out.flush()


@main.command("import")
@_database_option
@_tenant_option
@click.argument("dump", type=click.File("rb"))
def import_command(database_url: str | None, tenant: str, dump: Any) -> None:
    """Import a dump written by `chatmem export` (or `-` for stdin). Run it again to finish an
    interrupted import: nothing is stored twice."""
    from chatmem.access.tenants import create_tenant
    from chatmem.portability.importer import import_lines

    with _migrated(database_url) as db, _progress("import") as progress:
        found = create_tenant(db, tenant)
        result = import_lines(db, found.id, dump, progress=progress)
    click.echo(
        f"imported {result.users} users, {result.sessions} sessions, {result.messages} messages, "
        f"{result.summaries} summaries, {result.embeddings} vectors into tenant {found.name}; "
        f"{result.updated} updated, {result.already_there} already there; "
        f"{result.jobs} enrichment jobs queued",
        err=True,
    )


@main.command("import-zep")
@_database_option
@_tenant_option
@click.option("--url", required=True, help="The Zep 0.x server, e.g. http://old-zep:8000")
@click.option(
    "--api-key",
    envvar="ZEP_API_KEY",
    default=None,
    help="Zep's API key (its JWT) when auth is on [ZEP_API_KEY].",
)
def import_zep_command(database_url: str | None, tenant: str, url: str, api_key: str | None) -> None:
    """Copy a running Zep 0.x server's users, sessions, summaries and messages into chatmem through
    Zep's REST API (docs/portability.md). Run it again to finish an interrupted migration or to pick
    up what changed since: nothing is stored twice."""
    from chatmem.access.tenants import create_tenant
    from chatmem.portability.zep import ZepSource, import_zep

    with _migrated(database_url) as db, _progress("import-zep") as progress:
        found = create_tenant(db, tenant)
        result = import_zep(db, found.id, found.name, ZepSource(url, api_key), progress=progress)
    click.echo(
        f"imported {result.users} users, {result.sessions} sessions, {result.messages} messages, "
        f"{result.summaries} summaries from {url} into tenant {found.name}; {result.updated} updated, "
        f"{result.already_there} already there; {result.jobs} enrichment jobs queued",
        err=True,
    )


@main.command("erase-user")
@_database_option
@_tenant_option
@click.argument("user_id")
def erase_user_command(database_url: str | None, tenant: str, user_id: str) -> None:
    """Remove a user and everything derived from it for good, now; prints the receipt (JSON)."""
    import orjson

    from chatmem.access.tenants import get_tenant
    from chatmem.portability.erase import erase_user

    with _migrated(database_url) as db:
        receipt = erase_user(db, get_tenant(db, tenant).id, user_id)
    click.echo(orjson.dumps(receipt.as_json(), option=orjson.OPT_INDENT_2).decode())


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else "-"


if __name__ == "__main__":
    main()
