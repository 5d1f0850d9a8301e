"""``berrys projects list|show``: the projects you may see, as REST shows them."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from berrys.cli.common import (
    AS_USER,
    JSON_OPTION,
    WIDE_OPTION,
    acting_user,
    console,
    load_settings,
    operator_email,
    resolve_project,
    run_async,
    short_id,
    when,
)
from berrys.core.db import Database
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectOut, ProjectStatus
from berrys.services.runs import service as runs

app = typer.Typer(help="Projects: list them, show one with its runs.", no_args_is_help=True)


@app.command("list")
def list_projects(
    status: ProjectStatus | None = typer.Option(
        None, case_sensitive=False, help="Only projects in this state."
    ),
    limit: int = typer.Option(50, min=1, max=500, help="How many, newest first."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """The projects you may see, newest first."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> tuple[list[ProjectOut], int]:
        user = await acting_user(database, email)
        async with database.transaction(read_only=True) as session:
            return await projects.get_all(session, user=user, limit=limit, offset=0, status=status)

    items, total = run_async(_list, settings)
    if as_json:
        dumped = [item.model_dump(mode="json") for item in items]
        print(json.dumps({"items": dumped, "total": total}, indent=2))
        return
    if not items:
        console.print('No projects yet: `berrys run "DESCRIPTION"` creates one.')
        return
    table = Table(title=f"{total} project{'s' if total != 1 else ''}")
    table.add_column("Id", no_wrap=True)
    table.add_column("Name", overflow="fold", ratio=3)
    table.add_column("Status", no_wrap=True)
    table.add_column("Created", no_wrap=True)
    for item in items:
        table.add_row(
            short_id(item.id, wide), escape(item.name), item.status.value, when(item.created_at)
        )
    console.print(table)


@app.command("show")
def show_project(
    project: str = typer.Argument(..., help="The project's id or exact name."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """One project, with its runs."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _show(database: Database) -> dict[str, Any]:
        _, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            found_runs, _ = await runs.get_all(session, project_id=found.id, limit=50, offset=0)
        return {
            "project": found.model_dump(mode="json"),
            "runs": [run.model_dump(mode="json") for run in found_runs],
        }

    result = run_async(_show, settings)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    shown = result["project"]
    console.print(f"[bold]{escape(shown['name'])}[/]  {shown['status']}  {shown['id']}")
    if shown["description"]:
        console.print(escape(shown["description"]), soft_wrap=False)
    if not result["runs"]:
        console.print("No runs yet.")
        return
    table = Table(title="Runs")
    for column in ("Run", "Status", "Cost", "Started", "Finished"):
        table.add_column(column, no_wrap=True)
    for run in result["runs"]:
        table.add_row(
            short_id(run["id"], wide),
            run["status"],
            f"${run['cost_usd']:.4f}",
            when(run["created_at"]),
            when(run["finished_at"]),
        )
    console.print(table)
    console.print("Details: [bold]berrys runs show RUN_ID[/] (an id or its first characters).")
