"""``berrys db``: migrate the database's schema, and say which revision it is at."""

from __future__ import annotations

import typer

from berrys.cli.common import console, load_settings, run_async
from berrys.core import migrate
from berrys.core.db import Database

app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply every pending migration."""
    settings = load_settings()
    run_async(migrate.upgrade, settings, needs_schema=False)
    console.print("Database is up to date: " + ", ".join(sorted(migrate.head_revisions())))


@app.command()
def current() -> None:
    """Show the database's revision and whether it is the latest."""
    settings = load_settings()
    revisions = run_async(migrate.current_revisions, settings, needs_schema=False)
    heads = migrate.head_revisions()
    shown = ", ".join(sorted(revisions)) or "(empty database)"
    state = "up to date" if revisions == heads else "behind: run `berrys db upgrade`"
    console.print(f"{shown} ({state})")
    if revisions != heads:
        raise typer.Exit(1)


@app.command()
def revision(
    message: str = typer.Option(..., "--message", "-m", help="What the migration does."),
    autogenerate: bool = typer.Option(True, help="Diff the tables against the database."),
    rev_id: str | None = typer.Option(None, help="Revision id, e.g. 0004 (default: random)."),
    head: str = typer.Option("head", help="The revision to build on when there are several."),
) -> None:
    """Write a new migration (for developers: run on an up-to-date database)."""
    settings = load_settings()

    async def _revision(database: Database) -> None:
        await migrate.revision(
            database, message, autogenerate=autogenerate, rev_id=rev_id, head=head
        )

    run_async(_revision, settings, needs_schema=False)
