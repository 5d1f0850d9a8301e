"""What every command shares: settings loaded with a clear error, a console, async running,
the acting user and the project a command names."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.core.errors import BerrysError, NotFound, ServiceUnavailable, Unprocessable
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectOut

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

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
    catalogue.configure(settings.data_dir / "catalogue")
    return settings


def run_async(
    work: Callable[[Database], Awaitable[T]], settings: Settings, *, needs_schema: bool = True
) -> T:
    """Run ``work`` against the configured database; domain errors become a message and exit 1.

    With ``needs_schema`` an un-migrated database is refused with the command that fixes it.
    """

    async def _main() -> T:
        if settings.is_embedded_database:
            settings.ensure_data_dir()
        database = Database(settings.resolved_database_url)
        try:
            if needs_schema and not await migrate.is_up_to_date(database):
                raise ServiceUnavailable(
                    "The database schema is not up to date; run `berrys db upgrade` first."
                )
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(_main())
    except BerrysError as exc:
        err_console.print(f"[red]{exc.title}:[/] {exc.detail}")
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
