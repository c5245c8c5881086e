"""The ``chatmem`` command: ``serve``, ``migrate``, ``purge``, ``worker``, ``reembed``, ``queue``."""

from __future__ import annotations

import logging
import os

import click

from chatmem.config import Settings, get_settings
from chatmem.version import __version__


def _database_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--database-url",
        envvar="CHATMEM_DATABASE_URL",
        default=None,
        help="sqlite:///path/file.db or postgresql://user@host:port/db (default: SQLite in the data dir).",
    )(func)


def _use_database(database_url: str | None) -> None:
    if database_url:
        # Through the environment, so that every uvicorn worker process sees the same choice.
        os.environ["CHATMEM_DATABASE_URL"] = database_url
        get_settings.cache_clear()


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
def serve(database_url: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the schema, then serve the API."""
    import uvicorn

    from chatmem.store import Database
    from chatmem.store import migrate as apply

    _use_database(database_url)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    db = Database(settings.resolved_database_url(), pool_size=1)
    try:
        apply(db)
    finally:
        db.dispose()
    _prepare_embeddings(settings)
    uvicorn.run(
        "chatmem.server.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        access_log=False,
    )


@main.command()
@_database_option
@click.option(
    "--threads", type=int, default=None, help="Worker threads (default CHATMEM_ENRICH_WORKERS, min 1)."
)
def worker(database_url: str | None, threads: int | None) -> None:
    """Run enrichment workers (token counts, embeddings, summaries) until stopped (SIGINT/SIGTERM).

    Run as many as you like against one PostgreSQL; set CHATMEM_ENRICH_WORKERS=0 on the servers then.
    """
    import signal

    from chatmem.enrich.worker import WorkerPool
    from chatmem.store import Database
    from chatmem.store import migrate as apply

    _use_database(database_url)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _prepare_embeddings(settings)
    count = threads if threads is not None else max(1, settings.enrich_workers)
    db = Database(settings.resolved_database_url(), pool_size=count + 1)
    apply(db)
    pool = WorkerPool(db, settings, count)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: pool.stop(timeout=0))
    click.echo(f"chatmem worker: {count} thread(s) on {db.url.render_as_string(hide_password=True)}")
    pool.start()
    try:
        pool.wait()
    finally:
        pool.stop()
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
            done = work.reembed(db, embedder, bar.update)
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
        click.echo(orjson.dumps(status_json(status), option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2).decode())
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


if __name__ == "__main__":
    main()
