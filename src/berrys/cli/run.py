"""``berrys run "DESCRIPTION"``: a project from a sentence to artifacts, in the terminal.

Creates the project, runs the whole workflow (requirements, team, tools, plan, run) on the
embedded defaults with a worker in this process, asks for approvals in the terminal
(``--approve auto|never`` for scripts), and prints the team, the critical path, the outcome,
which model produced each artifact and where the artifacts are, and ends with the review
summary: how many deliverables are final, which need a person (NEEDS_REVIEW) and why, and
what would make them final. ``--resume RUN_ID`` continues a run that was interrupted, or
runs the tasks a person sent back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from typing import Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.prompt import Confirm
from rich.table import Table

from berrys.cli.common import (
    WIDE_OPTION,
    announce_first_admin,
    console,
    err_console,
    load_settings,
    operator_email,
    relative_path,
    run_async,
)
from berrys.core import migrate
from berrys.core.db import Database
from berrys.core.enums import (
    HumanInteractionType,
    InteractionStatus,
    ProjectStatus,
    RunStatus,
)
from berrys.core.errors import NotFound
from berrys.services.auth import service as auth
from berrys.services.catalogue import service as catalogue
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionOut, InteractionResponse
from berrys.services.pipeline import runtime
from berrys.services.pipeline import service as pipeline
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import review as reviews
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunCreate, RunOut
from berrys.services.runs.engine.state import DONE, RUN_DONE, RUN_TERMINAL
from berrys.services.runs.engine.worker import EngineConfig

APPROVE_MODES = ("ask", "auto", "never")
NO_TERMINAL = (
    "No terminal to ask for approvals: add --approve auto (approve them) or --approve never "
    "(reject them)."
)


async def _answer(
    database: Database, item: InteractionOut, mode: str, progress: Progress | None, quiet: bool
) -> None:
    """Answer one pending interaction as ``mode`` says (ask: in the terminal)."""
    if item.type == HumanInteractionType.NOTIFICATION:
        if not quiet:
            console.print(f"[yellow]Notice:[/] {item.title} — {item.prompt}")
        response = InteractionResponse(acknowledged=True)
    elif item.type != HumanInteractionType.APPROVAL:
        response = (
            InteractionResponse(answer="Use your best judgement.")
            if item.type == HumanInteractionType.CLARIFICATION
            else InteractionResponse(feedback="")
        )
    elif mode == "auto":
        response = InteractionResponse(approved=True, comment="--approve auto")
        if not quiet:
            console.print(f"[green]Approved (auto):[/] {item.title}")
    elif mode == "never":
        response = InteractionResponse(approved=False, comment="--approve never")
        if not quiet:
            console.print(f"[red]Rejected (--approve never):[/] {item.title}")
    else:
        if progress is not None:
            progress.stop()
        console.print(Panel(item.prompt or item.title, title=f"Approval: {item.title}"))
        details = item.detail.get("details") or {}
        for key in ("estimated_cost_usd", "estimated_run_seconds", "critical_path", "tool"):
            if key in details:
                console.print(f"  {key}: {details[key]}")
        approved = await asyncio.to_thread(
            Confirm.ask, "Approve?", default=True, console=err_console if quiet else console
        )
        response = InteractionResponse(approved=approved, comment="answered in the terminal")
        if progress is not None:
            progress.start()
    try:
        async with database.transaction() as session:
            await runs.respond_interaction(
                session, interaction_id=item.id, response=response, user=None
            )
    except Exception as exc:  # answered elsewhere meanwhile (dashboard, another terminal)
        err_console.print(f"[dim]Could not answer {item.id}: {exc}[/]")


async def _pending(database: Database, project_id: uuid.UUID) -> list[InteractionOut]:
    async with database.transaction(read_only=True) as session:
        items, _ = await interactions.get_all(
            session,
            limit=50,
            offset=0,
            project_id=project_id,
            status=InteractionStatus.PENDING,
        )
    return list(reversed(items))


async def _watch(database: Database, settings: Any, run: RunOut, mode: str, quiet: bool) -> RunOut:
    """Run a worker for ``run`` here until the run ends, showing progress and asking."""
    worker = runtime.BackgroundWorker(
        database,
        runtime.default_executor(settings, database),
        config=EngineConfig(lease_seconds=15.0, heartbeat_seconds=3.0, poll_seconds=0.1),
        run_ids={run.id},
    ).start()
    progress = None
    if not quiet:
        # The bar for the run, and a spinner with its elapsed time for each running task.
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        progress.start()
    bar = progress.add_task("[bold]Tasks[/]", total=len(run.task_runs)) if progress else None
    seen: dict[uuid.UUID, str] = {}
    spinning: dict[uuid.UUID, Any] = {}
    try:
        while True:
            async with database.transaction(read_only=True) as session:
                current = await runs.get(session, run_id=run.id)
            for task in current.task_runs:
                if seen.get(task.id) != task.status.value:
                    seen[task.id] = task.status.value
                    if not quiet and task.status.value in {
                        "RUNNING",
                        "COMPLETED",
                        "NEEDS_REVIEW",
                        "FAILED",
                        "AWAITING_INPUT",
                        "SKIPPED",
                    }:
                        console.print(f"  {task.status.value:<15} {escape(task.name)}")
                if progress is not None:
                    if task.status.value == "RUNNING" and task.id not in spinning:
                        spinning[task.id] = progress.add_task(
                            f"  {escape(task.name)[:48]}", total=None
                        )
                    elif task.status.value != "RUNNING" and task.id in spinning:
                        progress.remove_task(spinning.pop(task.id))
            done = sum(t.status in DONE for t in current.task_runs)
            if progress is not None and bar is not None:
                progress.update(
                    bar,
                    completed=done,
                    description=f"[bold]Tasks[/] {current.status.value} ${current.cost_usd:.4f}",
                )
            if current.status in RUN_TERMINAL:
                return current
            for item in await _pending(database, current.project_id):
                await _answer(database, item, mode, progress, quiet)
            await asyncio.sleep(0.25)  # the progress display's refresh interval
    finally:
        if progress is not None:
            progress.stop()
        await worker.stop()


def _understanding(understood: dict[str, Any]) -> None:
    types = understood["types"]
    kinds = ", ".join(
        f"{t['name']} ({t['confidence']:.2f}: {', '.join(t['signals'][:3]) or 'similar examples'})"
        for t in types
    )
    stated = sum(r["source"] == "stated" for r in understood["requirements"])
    implied = len(understood["requirements"]) - stated
    console.print(
        f"[bold]Understood as:[/] {escape(kinds or 'no known kind of project (its own asks)')}; "
        f"{stated} stated and {implied} implied requirements",
        soft_wrap=True,
    )


async def _context(database: Database, run: RunOut, user: Any) -> dict[str, Any]:
    """The team with its tools, the plan with its critical path and what was degraded, read
    back from the database: a resumed run's summary is the first run's."""
    from berrys.services.agents import service as agents
    from berrys.services.planning import insights
    from berrys.services.planning import service as plans
    from berrys.services.tools import service as tools

    context: dict[str, Any] = {"team": [], "tools": {}, "plan": {}, "degraded": []}
    async with database.transaction(read_only=True) as session:
        team, _ = await agents.get_all(session, project_id=run.project_id, user=user, limit=200)
        for agent in team:
            bound = [t.name for t in await tools.get_agent_tools(session, agent_id=agent.id)]
            context["team"].append(
                {
                    "id": str(agent.id),
                    "name": agent.name,
                    "type": agent.agent_type.value,
                    "role": agent.role,
                    "tools": bound,
                }
            )
            context["tools"][agent.name] = bound
        if run.plan_id is not None:
            plan = await plans.get_detail(session, plan_id=run.plan_id, user=user)
            schedule = await insights.get_schedule(
                session, plan_id=plan.id, user=user, iterations=200, seed=0
            )
            names = {task.id: task.name for task in plan.tasks}
            context["plan"] = {
                "id": str(plan.id),
                "version": plan.version,
                "tasks": len(plan.tasks),
                "dependencies": len(plan.dependencies),
                "critical_path": [names[t] for t in schedule.critical_path if t in names],
                "finish_hours": schedule.finish_hours,
                "generated_by": plan.generated_by,
            }
        after = 0
        while True:
            events = await runs.events(session, run_id=run.id, after_seq=after, limit=500)
            if not events:
                break
            after = events[-1]["seq"]
            context["degraded"] += [e["payload"] for e in events if e["type"] == "DEGRADED"]
    return context


def _summary(result: dict[str, Any], settings: Any, wide: bool = False) -> None:
    run = result["run"]
    if result.get("understanding"):
        _understanding(result["understanding"])
    if result.get("team"):
        table = Table(title="Team")
        table.add_column("Agent", overflow="fold", ratio=2)
        table.add_column("Type", no_wrap=True)
        table.add_column("Role", overflow="fold", ratio=3)
        table.add_column("Tools", overflow="fold", ratio=2)
        for agent in result["team"]:
            tools = _tool_names(result.get("tools", {}).get(agent["name"], []), wide) or "-"
            table.add_row(escape(agent["name"]), agent["type"], escape(agent["role"]), tools)
        console.print(table)
    plan = result.get("plan") or {}
    if plan.get("critical_path"):
        console.print(
            "[bold]Critical path:[/] " + " → ".join(plan["critical_path"]),
            soft_wrap=True,
        )
    table = Table(title="Artifacts")
    table.add_column("Task", overflow="fold", ratio=3)
    table.add_column("Status", no_wrap=True)
    table.add_column("Model", overflow="fold", ratio=1)
    table.add_column("Where", overflow="fold", ratio=3)
    by_task = {a["task_run_id"]: a for a in run["artifacts"]}
    folder = _common_folder([a["path"] for a in run["artifacts"] if a.get("path")])
    for task in run["task_runs"]:
        artifact = by_task.get(task["id"], {})
        path = artifact.get("path")
        if path and not wide:
            path = os.path.relpath(path, folder) if folder else relative_path(settings, path)
        table.add_row(
            escape(task["name"]),
            task["status"],
            escape(artifact.get("produced_by") or "-"),
            escape(path or (task.get("error") or "-")),
        )
    console.print(table)
    for item in result.get("degraded", []):
        console.print(
            f"[yellow]Degraded:[/] {item['stage']}: {item['fallback']} ({item['reason']})"
        )
    colour = {"COMPLETED": "green", "COMPLETED_WITH_REVIEW": "yellow"}.get(run["status"], "red")
    until = ""
    if run["status"] == RunStatus.COMPLETED_WITH_REVIEW.value:
        until = " until a person has accepted the drafts below"
    console.print(
        f"[bold {colour}]Run {run['status']}[/] — project {result['project_status']}{until}. "
        f"Cost ${run['cost_usd']:.4f} for {run['tokens']:,} tokens. Run id {run['id']} "
        f"(resume with `berrys run --resume {run['id']}`).",
        soft_wrap=True,
    )
    if folder and not wide:
        console.print(f"Artifacts are in {folder} (--wide: full paths)", soft_wrap=True)
    elif result.get("workspace"):
        console.print(f"Artifacts are in {result['workspace']}", soft_wrap=True)
    _review_summary(result["review"], len(run["task_runs"]))


def _tool_names(names: list[str], wide: bool) -> str:
    """Tool names, grouped by their prefix unless --wide: 'workspace: read_file, search'."""
    if wide:
        return ", ".join(names)
    groups: dict[str, list[str]] = {}
    for name in names:
        prefix, _, rest = name.rpartition(".")
        groups.setdefault(prefix, []).append(rest)
    return "; ".join(
        f"{prefix}: {', '.join(rest)}" if prefix else ", ".join(rest)
        for prefix, rest in groups.items()
    )


def _common_folder(paths: list[str]) -> str | None:
    """The folder all artifacts are in (a run's folder in its project's workspace)."""
    if not paths:
        return None
    try:
        common = os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:
        return None
    return common or None


def _review_summary(summary: dict[str, Any], total: int) -> None:
    """How many deliverables are final, how many need a person and why, and what would make
    them final."""
    final, waiting = summary["final"], summary["needs_review"]
    line = f"[bold]{final} of {total} deliverable{'s' if total != 1 else ''} final[/]"
    if waiting:
        line += f", [bold yellow]{waiting} need{'s' if waiting == 1 else ''} a person[/]"
    if summary["not_done"]:
        line += f", {summary['not_done']} not done"
    console.print(line + ".", soft_wrap=True)
    for task in summary["tasks"]:
        why = "; ".join(task["reasons"]) or "flagged for review"
        console.print(
            f"  [yellow]NEEDS_REVIEW[/] {escape(task['name'])}: {escape(why)}  "
            f"[dim]{task['task_run_id']}[/]",
            soft_wrap=True,
        )
    if summary["make_final"]:
        console.print("To make them final:")
        for hint in summary["make_final"]:
            console.print(f"  - {escape(hint)}", soft_wrap=True)


def _paused_message(run_id: uuid.UUID | None, project: str | None) -> str:
    if run_id is None:
        return (
            "Interrupted before the run started"
            + (f"; project {project} is kept." if project else ".")
            + " Start again with `berrys run`."
        )
    return (
        f"Paused run {run_id}: no new task starts, a task in progress is taken up again on "
        f"resume.\nContinue with: berrys run --resume {run_id}"
    )


def run_command(
    description: str = typer.Argument(None, help="What the project should achieve."),
    approve: str | None = typer.Option(
        None,
        "--approve",
        help="Approvals: ask (in the terminal; the default on a terminal), auto or never.",
    ),
    model: str | None = typer.Option(None, "--model", help="The model to use for the tasks."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    resume: str | None = typer.Option(None, "--resume", help="Continue the run RUN_ID."),
    plan_approval: bool = typer.Option(
        False, "--plan-approval", help="Ask before the run starts (shows cost and time)."
    ),
    review: bool = typer.Option(False, "--review", help="An AUDITOR reviews each task's output."),
    wide: bool = WIDE_OPTION,
) -> None:
    """Describe a project; get a team, a plan, a durable run and its artifacts.

    Ctrl-C pauses the run and prints the command that continues it; a second Ctrl-C leaves
    at once.
    """
    if approve is not None and approve not in APPROVE_MODES:
        err_console.print(f"[red]--approve must be one of {', '.join(APPROVE_MODES)}[/]")
        raise typer.Exit(2)
    if not description and not resume:
        err_console.print('[red]Give a description[/] (berrys run "...") or --resume RUN_ID.')
        raise typer.Exit(2)
    if approve in (None, "ask") and not sys.stdin.isatty():
        # Nobody could answer: stop before any work rather than at the first approval.
        err_console.print(NO_TERMINAL, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    mode = approve or "ask"
    settings = load_settings()
    quiet = as_json
    resume_id: uuid.UUID | None = None
    if resume:
        try:
            resume_id = uuid.UUID(resume)
        except ValueError:
            err_console.print(f"[red]Not a run id:[/] {resume}")
            raise typer.Exit(2) from None
    state: dict[str, Any] = {"run_id": resume_id, "project": None, "interrupted": False}

    async def _main(database: Database) -> dict[str, Any]:
        if settings.is_embedded_database:
            await migrate.upgrade(database)
        elif not await migrate.is_up_to_date(database):
            err_console.print(
                "[red]The database schema is not up to date;[/] run `berrys db upgrade`."
            )
            raise typer.Exit(1)
        created = await auth.ensure_first_admin(database, settings)
        announce_first_admin(settings, created, machine=as_json)
        email = operator_email(settings, created[0] if created else None)
        async with database.transaction(read_only=True) as session:
            try:
                user = await auth.get_by_email(session, email=email)
            except NotFound:
                err_console.print(
                    f"[red]No user {email}.[/] Set BERRYS_ADMIN_EMAIL to the account to run as."
                )
                raise typer.Exit(1) from None
        state["user"] = user
        _on_interrupt(asyncio.current_task())
        runtime.install_tool_approval_hook(database)
        result: dict[str, Any] = {}
        if resume_id is not None:
            run_id = resume_id
            async with database.transaction() as session:
                try:
                    run = await runs.get(session, run_id=run_id, user=user)
                except NotFound:
                    err_console.print(f"[red]No run {run_id}[/]")
                    raise typer.Exit(1) from None
                if run.paused and run.status not in RUN_TERMINAL:  # paused by Ctrl-C
                    run = await runs.resume(session, run_id=run_id, user=user)
                freed = await runs.release_dead_leases(
                    session, run_id=run_id, is_dead=runtime.local_worker_is_dead
                )
            if not quiet:
                console.print(
                    f"Resuming run {run_id} ({run.status.value}); "
                    f"{freed} task(s) taken over from a stopped process."
                )
        else:
            async with database.transaction() as session:
                project = await projects.create(
                    session,
                    project_in=ProjectCreate(
                        name=catalogue.title(description), description=description
                    ),
                    user=user,
                )
            state["project"] = str(project.id)
            if not quiet:
                console.print(f"[bold]Project[/] {escape(project.name)} ({project.id})")

            def on_stage(stage: str, status: str, detail: str) -> None:
                if stage == "run" and status == "started":
                    state["run_id"] = uuid.UUID(detail)
                if not quiet:
                    console.print(f"[cyan]{stage:<6}[/] {status:<9} {escape(detail)}")

            options: dict[str, Any] = {"review": review}
            if model:
                options["model"] = model
            started = await pipeline.start(
                database,
                project_id=project.id,
                user=user,
                run_in=RunCreate(require_plan_approval=plan_approval, options=options),
                on_stage=on_stage,
            )
            run = started.run
            state["run_id"] = run.id
        final = await _watch(database, settings, run, mode, quiet)
        result.update(await _context(database, final, user))
        async with database.transaction(read_only=True) as session:
            project_out = await projects.get(session, project_id=final.project_id, user=user)
            profile = await catalogue.get_profile(session, project_id=final.project_id, user=user)
            if profile is not None:
                result["understanding"] = profile.model_dump(
                    mode="json", include={"title", "types", "constraints", "requirements", "source"}
                )
        result.update(
            run=final.model_dump(mode="json"),
            review=reviews.summarize(final).model_dump(mode="json"),
            project_id=str(final.project_id),
            project_status=ProjectStatus(project_out.status).value,
            workspace=str((settings.data_dir / "workspaces" / str(final.project_id)).resolve()),
        )
        return result

    def _on_interrupt(main: asyncio.Task[Any] | None) -> None:
        """First Ctrl-C: cancel the work (the run is paused below); second: leave at once."""
        loop = asyncio.get_running_loop()

        def interrupted() -> None:
            if state["interrupted"]:
                os._exit(130)
            state["interrupted"] = True
            err_console.print("\nPausing… (Ctrl-C again to leave at once)")
            if main is not None:
                main.cancel()

        loop.add_signal_handler(signal.SIGINT, interrupted)

    async def _pause(database: Database) -> None:
        """Pause the run so that no worker (a `berrys serve` too) carries it on."""
        run_id = state["run_id"]
        if run_id is None:
            return
        async with database.transaction() as session:
            current = await runs.get(session, run_id=run_id)
            if current.status not in RUN_TERMINAL and not current.paused:
                await runs.pause(session, run_id=run_id, user=state.get("user"))

    async def _guarded(database: Database) -> dict[str, Any]:
        try:
            return await _main(database)
        except asyncio.CancelledError:
            if not state["interrupted"]:
                raise
            await _pause(database)
            raise typer.Exit(130) from None

    try:
        result = run_async(_guarded, settings, needs_schema=False)
    except typer.Exit as stop:
        if state["interrupted"]:
            err_console.print(_paused_message(state["run_id"], state["project"]), soft_wrap=True)
        raise stop
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _summary(result, settings, wide)
    # Done, even with drafts waiting for a person (the summary and --json's "review" say
    # which); anything else is a failure.
    if RunStatus(result["run"]["status"]) not in RUN_DONE:
        raise typer.Exit(1)
