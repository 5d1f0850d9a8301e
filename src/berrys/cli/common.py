"""What every command shares: settings loaded with a clear error, a console, async running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.core.errors import BerrysError, ServiceUnavailable

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    """Settings from the environment, or one clear message per bad variable and exit 2."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            variable = "BERRYS_" + "_".join(str(part) for part in error["loc"]).upper()
            err_console.print(f"[red]Invalid configuration:[/] {variable}: {error['msg']}")
        raise typer.Exit(2) from None


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
