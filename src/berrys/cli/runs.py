"""``berrys runs list|show|cancel``: runs of the projects you may see, as REST shows them.

A run is named by its id or a unique prefix of it (the first 8 characters the tables show).
"""

from __future__ import annotations

import json
import uuid
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
    relative_path,
    resolve_project,
    run_async,
    short_id,
    when,
)
from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunOut, RunSummary

app = typer.Typer(help="Runs: list them, show one task by task, cancel one.", no_args_is_help=True)

RUN = typer.Argument(..., help="The run's id, or a unique prefix of it.")


async def visible_runs(
    database: Database, user: UserOut, *, project_id: uuid.UUID | None = None, limit: int = 200
) -> list[RunSummary]:
    """Runs of one project, or of every project the user may see, newest first."""
    async with database.transaction(read_only=True) as session:
        if project_id is not None:
            ids = [project_id]
        else:
            ids = await projects.visible_ids(session, user=user)
        found: list[RunSummary] = []
        for pid in ids:
            items, _ = await runs.get_all(session, project_id=pid, limit=limit, offset=0)
            found.extend(items)
    found.sort(key=lambda run: run.created_at, reverse=True)
    return found[:limit]


async def find_run(database: Database, user: UserOut, run: str) -> RunOut:
    """The run named by id or a unique prefix (at least 4 characters) that the user may see."""
    wanted = run.strip().lower()
    try:
        run_id = uuid.UUID(wanted)
    except ValueError:
        if len(wanted) < 4:
            raise Unprocessable(f"Not a run id: {run!r} (give at least 4 characters)") from None
        matches = [r.id for r in await visible_runs(database, user, limit=10_000)]
        matches = [i for i in matches if str(i).startswith(wanted)]
        if len(matches) > 1:
            raise Unprocessable(
                f"{run!r} names several runs: {', '.join(str(i) for i in matches[:5])}"
            ) from None
        if not matches:
            raise NotFound(f"No run {run!r} (`berrys runs list` shows yours)") from None
        run_id = matches[0]
    async with database.transaction(read_only=True) as session:
        return await runs.get(session, run_id=run_id, user=user)


@app.command("list")
def list_runs(
    project: str | None = typer.Argument(None, help="Only this project's (id or name)."),
    limit: int = typer.Option(50, min=1, max=500, help="How many, newest first."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Runs of the projects you may see, newest first."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> tuple[list[RunSummary], dict[str, str]]:
        if project:
            user, found = await resolve_project(database, project, email)
            return await visible_runs(database, user, project_id=found.id, limit=limit), {
                str(found.id): found.name
            }
        user = await acting_user(database, email)
        listed = await visible_runs(database, user, limit=limit)
        async with database.transaction(read_only=True) as session:
            named, _ = await projects.get_all(session, user=user, limit=500, offset=0)
        return listed, {str(p.id): p.name for p in named}

    items, names = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print('No runs yet: `berrys run "DESCRIPTION"` starts one.')
        return
    table = Table(title=f"{len(items)} run{'s' if len(items) != 1 else ''}")
    table.add_column("Run", no_wrap=True)
    table.add_column("Project", overflow="fold", ratio=2)
    table.add_column("Status", no_wrap=True)
    table.add_column("Cost", no_wrap=True, justify="right")
    table.add_column("Started", no_wrap=True)
    for item in items:
        table.add_row(
            short_id(item.id, wide),
            escape(names.get(str(item.project_id), str(item.project_id)[:8])),
            item.status.value,
            f"${item.cost_usd:.4f}",
            when(item.created_at),
        )
    console.print(table)


def run_table(settings: Any, run: RunOut, wide: bool) -> Table:
    """A run's tasks: status, cost and where each artifact is (relative to the data dir)."""
    table = Table(title=f"Run {run.id if wide else str(run.id)[:8]} — {run.status.value}")
    table.add_column("Task", overflow="fold", ratio=3)
    table.add_column("Status", no_wrap=True)
    table.add_column("Model", overflow="fold", ratio=1)
    table.add_column("Artifact", overflow="fold", ratio=3)
    by_task = {a.task_run_id: a for a in run.artifacts}
    for task in run.task_runs:
        artifact = by_task.get(task.id)
        where = (
            (artifact.path if wide else relative_path(settings, artifact.path))
            if artifact and artifact.path
            else (task.error or "-")
        )
        table.add_row(
            escape(task.name),
            task.status.value,
            escape((artifact.produced_by if artifact else None) or "-"),
            escape(where),
        )
    return table


@app.command("show")
def show_run(
    run: str = RUN,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """One run, task by task, with its artifacts."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _show(database: Database) -> RunOut:
        return await find_run(database, await acting_user(database, email), run)

    found = run_async(_show, settings)
    if as_json:
        print(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    console.print(run_table(settings, found, wide))
    console.print(
        f"Cost ${found.cost_usd:.4f} for {found.tokens:,} tokens"
        + ("; paused" if found.paused else "")
        + f". Paths are relative to {settings.data_dir.resolve()} (--wide: in full)."
    )


@app.command("cancel")
def cancel_run(
    run: str = RUN,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """Cancel a run: every unfinished task is CANCELLED at once."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _cancel(database: Database) -> RunOut:
        user = await acting_user(database, email)
        auth.require_writer(user)
        found = await find_run(database, user, run)
        async with database.transaction() as session:
            return await runs.cancel(session, run_id=found.id, user=user)

    cancelled = run_async(_cancel, settings)
    if as_json:
        print(json.dumps(cancelled.model_dump(mode="json"), indent=2))
        return
    console.print(f"Run {cancelled.id} is {cancelled.status.value}.")
