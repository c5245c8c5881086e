"""The ``chatmem`` command: ``serve``, ``migrate``, ``purge``."""

from __future__ import annotations

import logging
import os

import click

from chatmem.config import get_settings
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
    uvicorn.run(
        "chatmem.server.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        access_log=False,
    )


if __name__ == "__main__":
    main()
