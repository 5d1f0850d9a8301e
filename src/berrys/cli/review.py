"""``berrys review``: the deliverables that wait for a person, and a person's decision on each.

``list [RUN_ID]`` shows the NEEDS_REVIEW tasks (of one run, or every run you may see) with
why; ``accept``, ``edit`` (your file replaces the draft) and ``send-back`` (the task runs
again with your feedback) take a task id or a unique prefix of one from the list.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from berrys.cli.common import AS_USER, console, load_settings, operator_email, run_async
from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import ReviewDecision, ReviewItem, TaskReview

app = typer.Typer(
    help="Deliverables that need a person: list them, accept, edit or send back.",
    no_args_is_help=True,
)

_TASK = typer.Argument(..., help="The task's id (or a unique prefix, from `berrys review list`).")
_JSON = typer.Option(False, "--json", help="Machine-readable output.")


async def _user(database: Database, email: str) -> UserOut:
    async with database.transaction(read_only=True) as session:
        return await auth.get_by_email(session, email=email)


async def _find(database: Database, user: UserOut, task: str) -> ReviewItem:
    """The NEEDS_REVIEW task named by its id or a unique prefix of it."""
    async with database.transaction(read_only=True) as session:
        waiting = await runs.waiting_review(session, user=user, limit=10_000)
    wanted = task.strip().lower()
    found = [item for item in waiting if str(item.task_run_id).startswith(wanted)]
    if len(found) == 1 and (len(wanted) >= 4 or str(found[0].task_run_id) == wanted):
        return found[0]
    if len(found) > 1:
        ids = ", ".join(str(item.task_run_id) for item in found[:5])
        raise Unprocessable(f"{task!r} names several tasks that need review: {ids}")
    raise NotFound(
        f"No task {task!r} needs review (`berrys review list` shows those that do; "
        "a task already accepted is final)"
    )


def _artifact_for(item: ReviewItem, file: Path) -> uuid.UUID | None:
    """The artifact a file replaces: the one whose file has its suffix, else the first."""
    for artifact in item.artifacts:
        if artifact.path and Path(artifact.path).suffix == file.suffix:
            return artifact.id
    return item.artifacts[0].id if item.artifacts else None


@app.command("list")
def list_reviews(
    run_id: str | None = typer.Argument(None, help="Only this run's (default: every run)."),
    as_user: str | None = AS_USER,
    as_json: bool = _JSON,
) -> None:
    """The deliverables that wait for a person, and why."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _list(database: Database) -> list[ReviewItem]:
        user = await _user(database, email)
        run = None
        if run_id:
            try:
                run = uuid.UUID(run_id)
            except ValueError:
                raise Unprocessable(f"Not a run id: {run_id}") from None
        async with database.transaction(read_only=True) as session:
            return await runs.waiting_review(session, user=user, run_id=run, limit=10_000)

    items = run_async(_list, settings)
    if as_json:
        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    if not items:
        console.print("Nothing needs review: every finished deliverable is final.")
        return
    table = Table(title=f"{len(items)} deliverable(s) need a person")
    for column in ("Task id", "Task", "Why", "File"):
        table.add_column(column, overflow="fold")
    for item in items:
        first = item.artifacts[0] if item.artifacts else None
        table.add_row(
            str(item.task_run_id),
            escape(item.name),
            escape("; ".join(item.reasons)),
            escape((first.path or first.name) if first else "-"),
        )
    console.print(table)
    if any(item.offline for item in items):
        console.print(
            f"[yellow]Drafted offline.[/] To have a model draft them: {runs.CONFIGURE_MODEL}."
        )
    console.print(
        "Accept: [bold]berrys review accept TASK_ID[/]  ·  replace with your file: "
        "[bold]berrys review edit TASK_ID FILE[/]  ·  run again: "
        '[bold]berrys review send-back TASK_ID --feedback "…"[/]',
        soft_wrap=True,
    )


def _decide(
    task: str,
    body: TaskReview | None,
    *,
    as_user: str | None,
    as_json: bool,
    file: Path | None = None,
    artifact: str | None = None,
) -> None:
    settings = load_settings()
    email = operator_email(settings, as_user)
    content = file.read_text(encoding="utf-8") if file is not None else None

    async def _work(database: Database) -> dict[str, Any]:
        user = await _user(database, email)
        item = await _find(database, user, task)
        decision = body if body is not None else _edit(item, file, artifact, content)
        return await _apply(database, item, decision, user=user, workspace=settings.workspaces_dir)

    result = run_async(_work, settings)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print_outcome(result)


def _edit(
    item: ReviewItem, file: Path | None, artifact: str | None, content: str | None
) -> TaskReview:
    """An edit: the file's text replaces the artifact named, else the one it matches."""
    assert file is not None
    try:
        chosen = uuid.UUID(artifact) if artifact else _artifact_for(item, file)
    except ValueError:
        raise Unprocessable(f"Not an artifact id: {artifact}") from None
    return TaskReview(action=ReviewDecision.EDIT, content=content, artifact_id=chosen)


async def _apply(
    database: Database, item: ReviewItem, decision: TaskReview, *, user: UserOut, workspace: Path
) -> dict[str, Any]:
    """Record the decision; the task, its run and project after it, and what is left."""
    async with database.transaction() as session:
        run = await runs.decide_review(
            session,
            run_id=item.run_id,
            task_run_id=item.task_run_id,
            review=decision,
            user=user,
            workspace=workspace,
        )
    async with database.transaction(read_only=True) as session:
        project = await projects.get(session, project_id=run.project_id, user=user)
    after = next(t for t in run.task_runs if t.id == item.task_run_id)
    return {
        "task": after.model_dump(mode="json"),
        "run": {"id": str(run.id), "status": run.status.value},
        "project_status": project.status.value,
        "review": runs.review_summary(run).model_dump(mode="json"),
    }


def _print_outcome(result: dict[str, Any]) -> None:
    task_out, run = result["task"], result["run"]
    verb = {
        "COMPLETED": "is final",
        "READY": "goes back to its agent with your feedback (a new attempt)",
    }.get(task_out["status"], task_out["status"])
    console.print(f"[bold]{escape(task_out['name'])}[/] {verb}.", soft_wrap=True)
    left = result["review"]["needs_review"]
    console.print(
        f"Run {run['status']} — project {result['project_status']}"
        + (f"; {left} more need review (`berrys review list {run['id']}`)." if left else "."),
        soft_wrap=True,
    )
    if task_out["status"] == "READY":
        console.print(
            "A worker runs it: `berrys serve` or `berrys worker` if one is running, else "
            f"`berrys run --resume {run['id']}`.",
            soft_wrap=True,
        )


@app.command("accept")
def accept(
    task: str = _TASK,
    comment: str | None = typer.Option(None, "--comment", help="A note kept with the decision."),
    as_user: str | None = AS_USER,
    as_json: bool = _JSON,
) -> None:
    """The draft is final as it is."""
    body = TaskReview(action=ReviewDecision.ACCEPT, comment=comment)
    _decide(task, body, as_user=as_user, as_json=as_json)


@app.command("edit")
def edit(
    task: str = _TASK,
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="Your version of the deliverable."
    ),
    artifact: str | None = typer.Option(
        None,
        "--artifact",
        help="The artifact id it replaces (default: same file type, else the first).",
    ),
    as_user: str | None = AS_USER,
    as_json: bool = _JSON,
) -> None:
    """Your file replaces the draft (and its workspace file); the deliverable is final."""
    _decide(task, None, as_user=as_user, as_json=as_json, file=file, artifact=artifact)


@app.command("send-back")
def send_back(
    task: str = _TASK,
    feedback: str = typer.Option(..., "--feedback", "-f", help="What should change."),
    as_user: str | None = AS_USER,
    as_json: bool = _JSON,
) -> None:
    """The task runs again with your feedback (tasks after it are not run again)."""
    body = TaskReview(action=ReviewDecision.SEND_BACK, feedback=feedback)
    _decide(task, body, as_user=as_user, as_json=as_json)
