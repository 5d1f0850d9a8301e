"""``berrys serve``: the API, the dashboard and the embedded run worker, in one process or more."""

from __future__ import annotations

import errno
import socket

import typer
import uvicorn

from berrys.cli.common import announce_first_admin, console, err_console, load_settings, run_async
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth import service as auth


def _check_port(host: str, port: int) -> None:
    """One line and exit 2 when the address cannot be listened on (before anything else)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        err_console.print(f"[red]Cannot listen on {host}:{port}:[/] {exc.strerror}")
        raise typer.Exit(2) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            why = (
                "the port is in use (stop what listens there, or pick another with --port)"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror
            )
            err_console.print(f"[red]Cannot listen on {host}:{port}:[/] {why}", soft_wrap=True)
            raise typer.Exit(2) from None


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    migrate_database: bool = typer.Option(
        False, "--migrate", help="Also migrate an external (non-embedded) database."
    ),
    workers: int = typer.Option(
        1,
        min=1,
        help="Server processes; each also runs an embedded run worker (they share the work "
        "through the database's leases). More than the machine's cores gains nothing.",
    ),
) -> None:
    """Start the API (and dashboard) server."""
    settings = load_settings()
    _check_port(host, port)

    async def _prepare(database: Database) -> tuple[str, str | None] | None:
        if settings.is_embedded_database or migrate_database:
            await migrate.upgrade(database)
        elif not await migrate.is_up_to_date(database):
            err_console.print(
                "[red]The database schema is not up to date.[/] Run `berrys db upgrade` "
                "(or start with --migrate)."
            )
            raise typer.Exit(1)
        return await auth.ensure_first_admin(database, settings)

    created = run_async(_prepare, settings, needs_schema=False)
    announce_first_admin(settings, created)
    console.print(f"Berrys is listening on [link]http://{host}:{port}[/]  (API docs at /docs)")

    # An import string, not an app: each worker process builds its own app (and engine) from
    # the same environment these settings were read from.
    uvicorn.run(
        "berrys.app:create_served_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
    )
