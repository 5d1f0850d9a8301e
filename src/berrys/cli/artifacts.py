"""``berrys artifacts list|show``: what a run's tasks produced, as REST shows it."""

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
    relative_path,
    run_async,
    short_id,
)
from berrys.cli.runs import find_run, visible_runs
from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.runs.contracts import ArtifactOut, RunOut

app = typer.Typer(help="Artifacts: what a run's tasks produced.", no_args_is_help=True)

RUN_OPTION = typer.Option(None, "--run", help="The run (id or prefix); default: any of yours.")


async def _run(database: Database, email: str, run: str | None) -> RunOut:
    user = await acting_user(database, email)
    if run:
        return await find_run(database, user, run)
    newest = await visible_runs(database, user, limit=1)
    if not newest:
        raise NotFound('No runs yet: `berrys run "DESCRIPTION"` starts one')
    return await find_run(database, user, str(newest[0].id))


def _pick(run: RunOut, artifact: str) -> ArtifactOut:
    """An artifact by id, a unique prefix of it, or its file name."""
    wanted = artifact.strip().lower()
    found = [
        a
        for a in run.artifacts
        if str(a.id).startswith(wanted)
        or a.name.lower() == wanted
        or (a.path or "").lower().endswith("/" + wanted)
    ]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise Unprocessable(f"{artifact!r} names several artifacts of run {run.id}")
    raise NotFound(f"No artifact {artifact!r} in run {run.id} (`berrys artifacts list`)")


@app.command("list")
def list_artifacts(
    run: str | None = typer.Argument(None, help="The run (id or prefix); default: your newest."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """A run's artifacts: which task, which model, and where the file is."""
    settings = load_settings()
    email = operator_email(settings, as_user)
    found = run_async(lambda database: _run(database, email, run), settings)
    names = {task.id: task.name for task in found.task_runs}
    if as_json:
        items = [
            {**a.model_dump(mode="json", exclude={"content"}), "task": names.get(a.task_run_id)}
            for a in found.artifacts
        ]
        print(json.dumps({"run_id": str(found.id), "items": items}, indent=2))
        return
    if not found.artifacts:
        console.print(f"Run {found.id} has no artifacts yet.")
        return
    table = Table(title=f"Artifacts of run {short_id(found.id, wide)}")
    table.add_column("Id", no_wrap=True)
    table.add_column("Task", overflow="fold", ratio=2)
    table.add_column("Model", overflow="fold", ratio=1)
    table.add_column("File", overflow="fold", ratio=3)
    for artifact in found.artifacts:
        file = artifact.name  # an artifact kept only in the database
        if artifact.path:
            file = artifact.path if wide else relative_path(settings, artifact.path)
        table.add_row(
            short_id(artifact.id, wide),
            escape(names.get(artifact.task_run_id, "-")),
            escape(artifact.produced_by or "-"),
            escape(file),
        )
    console.print(table)
    console.print(
        f"Paths are relative to {settings.data_dir.resolve()}; "
        "[bold]berrys artifacts show ID[/] prints one."
    )


@app.command("show")
def show_artifact(
    artifact: str = typer.Argument(..., help="Its id, a unique prefix, or its file name."),
    run: str | None = RUN_OPTION,
    as_user: str | None = AS_USER,
    as_json: bool = JSON_OPTION,
) -> None:
    """Print one artifact's content (as it is: pipe it to a file or a pager)."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _show(database: Database) -> dict[str, Any]:
        if run:
            return _pick(await _run(database, email, run), artifact).model_dump(mode="json")
        user = await acting_user(database, email)
        for summary in await visible_runs(database, user, limit=200):  # newest first
            found = await find_run(database, user, str(summary.id))
            try:
                return _pick(found, artifact).model_dump(mode="json")
            except NotFound:
                continue
        raise NotFound(f"No artifact {artifact!r} (`berrys artifacts list RUN` shows a run's)")

    shown = run_async(_show, settings)
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    print(shown["content"], end="" if shown["content"].endswith("\n") else "\n")
