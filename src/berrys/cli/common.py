"""What every command shares: settings loaded with a clear error, a console, async running
(against the database alone, or the application's ``Services``), the acting user and the
project a command names."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.core.errors import (
    BerrysError,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)
from berrys.core.logging import configure_logging
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectOut
from berrys.wiring import Services

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

ADMIN_PASSWORD_FILE = "admin-password.txt"
LOG_FILE = "berrys.log"
#: ``-v`` given to ``berrys`` (count): 1 shows INFO log lines on stderr, 2 DEBUG.
verbosity = 0

AS_USER = typer.Option(
    None,
    "--as",
    help="Act as this user (email); default: BERRYS_ADMIN_EMAIL or admin@berrys.local.",
)


def load_settings() -> Settings:
    """Settings from the environment, or one clear message per bad variable and exit 2."""
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            variable = "BERRYS_" + "_".join(str(part) for part in error["loc"]).upper()
            err_console.print(f"[red]Invalid configuration:[/] {variable}: {error['msg']}")
        raise typer.Exit(2) from None
    return settings


def validation_message(exc: ValidationError) -> str:
    """Each of a model's validation errors as ``field: message``, on one line."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def setup_logging(settings: Settings, *, server: bool = False) -> None:
    """Log lines go to ``<data dir>/berrys.log`` at BERRYS_LOG_LEVEL, and to stderr: a server
    or worker at that level, any other command only warnings unless ``-v`` (INFO) or ``-vv``
    (DEBUG): never mixed into what a command prints."""
    if verbosity:
        stderr_level = "DEBUG" if verbosity > 1 else "INFO"
    elif server:
        stderr_level = settings.log_level
    else:
        stderr_level = "ERROR" if settings.log_level == "ERROR" else "WARNING"
    file_level = "DEBUG" if verbosity > 1 else settings.log_level
    try:
        log_file: Path | None = settings.ensure_data_dir() / LOG_FILE
    except OSError:  # a read-only data directory: stderr only
        log_file = None
    configure_logging(file_level, settings.log_format, stderr_level=stderr_level, log_file=log_file)


def announce_first_admin(
    settings: Settings, created: tuple[str, str | None] | None, *, machine: bool = False
) -> None:
    """Print the first admin's email and one-time password once (on stderr when stdout is
    for machines) and keep them in ``<data dir>/admin-password.txt``, readable only by you."""
    if created is None:
        return
    email, password = created
    out = err_console if machine else console
    if not password:
        out.print(f"[bold]First admin created:[/] {email} (password from BERRYS_ADMIN_PASSWORD)")
        return
    path = settings.ensure_data_dir() / ADMIN_PASSWORD_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(
            f"Berrys' first admin (created by the first `berrys run` or `berrys serve`).\n"
            f"email: {email}\npassword: {password}\n"
            f"Log in, then delete this file; `berrys user reset-password {email}` sets "
            "another password.\n"
        )
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    out.print(
        f"[bold]First admin created.[/] Email: [cyan]{email}[/]  Password: [cyan]{password}[/]\n"
        f"This password is shown once; it is also in {path} (readable only by you).",
        soft_wrap=True,
    )


def data_dir_origin(settings: Settings) -> str:
    """Why the data directory is this one: BERRYS_DATA_DIR, ./.berrys, or the default."""
    if os.environ.get("BERRYS_DATA_DIR") or "data_dir" in settings.model_fields_set:
        return "BERRYS_DATA_DIR"
    if Path(".berrys").is_dir():
        return "./.berrys exists"
    return "per-user default"


def relative_path(settings: Settings, path: str | None) -> str:
    """A path inside the data directory relative to it (shorter in a table), else as it is."""
    if not path:
        return "-"
    try:
        return str(Path(path).resolve().relative_to(settings.data_dir.resolve()))
    except ValueError:
        return path


def parse_id(value: str, what: str) -> uuid.UUID:
    """A UUID from the command line, or one line and exit 2."""
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        err_console.print(f"[red]Not a {what} id:[/] {value}")
        raise typer.Exit(2) from None


def run_async(
    work: Callable[[Database], Awaitable[T]], settings: Settings, *, needs_schema: bool = True
) -> T:
    """Run ``work`` against the configured database; domain errors become a message and exit 1.

    With ``needs_schema`` an un-migrated database is refused with the command that fixes it.
    """

    async def _main() -> T:
        database = _open(settings)
        try:
            await _check_schema(database, needs_schema)
            return await work(database)
        finally:
            await database.dispose()

    return _run(_main())


def run_with_services(
    work: Callable[[Services], Awaitable[T]], settings: Settings, *, needs_schema: bool = True
) -> T:
    """``run_async`` for a command that uses models or tools: ``work`` gets the command's
    ``Services`` (what a server process holds), closed when it ends."""

    async def _main() -> T:
        services = Services.build(settings, database=_open(settings))
        try:
            await _check_schema(services.database, needs_schema)
            return await work(services)
        finally:
            await services.aclose()

    return _run(_main())


def _open(settings: Settings) -> Database:
    if settings.is_embedded_database:
        settings.ensure_data_dir()
    return Database(settings.resolved_database_url)


async def _check_schema(database: Database, needs_schema: bool) -> None:
    if needs_schema and not await migrate.is_up_to_date(database):
        raise ServiceUnavailable(
            "The database schema is not up to date; run `berrys db upgrade` first."
        )


def _run(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a domain error becomes one line and exit 1."""
    try:
        return asyncio.run(main)
    except BerrysError as exc:
        err_console.print(f"[red]{exc.title}:[/] {exc.detail}", soft_wrap=True)
        raise typer.Exit(1) from None


def operator_email(settings: Settings, as_user: str | None) -> str:
    """Who a command acts as: ``--as``, else the configured admin, else the default one."""
    return as_user or settings.admin_email or "admin@berrys.local"


async def resolve_project(
    database: Database, project: str, email: str
) -> tuple[UserOut, ProjectOut]:
    """The acting user and the project named by id or by exact (case-insensitive) name."""
    async with database.transaction(read_only=True) as session:
        user = await auth.get_by_email(session, email=email)
        try:
            return user, await projects.get(session, project_id=uuid.UUID(project), user=user)
        except ValueError:
            pass
        found, _ = await projects.get_all(session, user=user, limit=200, offset=0, q=project)
        exact = [p for p in found if p.name.lower() == project.strip().lower()]
    if not exact:
        raise NotFound(f"No project named {project!r}; give its name or id")
    if len(exact) > 1:
        ids = ", ".join(str(p.id) for p in exact)
        raise Unprocessable(f"Several projects are named {project!r}; use an id: {ids}")
    return user, exact[0]


JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")
WIDE_OPTION = typer.Option(False, "--wide", help="Full ids and paths, however wide the table.")


async def acting_user(database: Database, email: str) -> UserOut:
    """The user a command acts as (``--as``, else the admin)."""
    async with database.transaction(read_only=True) as session:
        return await auth.get_by_email(session, email=email)


def short_id(value: object, wide: bool) -> str:
    """An id for a table: its first 8 characters (enough to type), in full with --wide."""
    text = str(value)
    return text if wide else text[:8]


def when(value: object) -> str:
    """A timestamp for a table, to the minute."""
    return str(value)[:16].replace("T", " ") if value else "-"
