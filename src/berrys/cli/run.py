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
from dataclasses import dataclass
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
    run_with_services,
)
from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.core.errors import NotFound
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions.contracts import (
    HumanInteractionType,
    InteractionOut,
    InteractionResponse,
)
from berrys.services.pipeline import service as pipeline
from berrys.services.runs.contracts import DONE, RUN_DONE, RunCreate, RunOut, RunStatus
from berrys.wiring import Services

APPROVE_MODES = ("ask", "auto", "never")
NO_TERMINAL = (
    "No terminal to ask for approvals: add --approve auto (approve them) or --approve never "
    "(reject them)."
)


async def _answer(
    item: InteractionOut, mode: str, progress: Progress | None, quiet: bool
) -> InteractionResponse:
    """The answer to one pending interaction as ``mode`` says (ask: in the terminal)."""
    if item.type == HumanInteractionType.NOTIFICATION:
        if not quiet:
            console.print(f"[yellow]Notice:[/] {item.title} — {item.prompt}")
        return InteractionResponse(acknowledged=True)
    if item.type != HumanInteractionType.APPROVAL:
        if item.type == HumanInteractionType.CLARIFICATION:
            return InteractionResponse(answer="Use your best judgement.")
        return InteractionResponse(feedback="")
    if mode == "auto":
        if not quiet:
            console.print(f"[green]Approved (auto):[/] {item.title}")
        return InteractionResponse(approved=True, comment="--approve auto")
    if mode == "never":
        if not quiet:
            console.print(f"[red]Rejected (--approve never):[/] {item.title}")
        return InteractionResponse(approved=False, comment="--approve never")
    return await _ask(item, progress, quiet)


async def _ask(item: InteractionOut, progress: Progress | None, quiet: bool) -> InteractionResponse:
    """An approval asked in the terminal (the progress display stops meanwhile)."""
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
    if progress is not None:
        progress.start()
    return InteractionResponse(approved=approved, comment="answered in the terminal")


# Task statuses worth a line of their own as the run goes.
_SHOWN = {"RUNNING", "COMPLETED", "NEEDS_REVIEW", "FAILED", "AWAITING_INPUT", "SKIPPED"}


class _Display:
    """The run's progress in the terminal: a line per task status change, a bar for the
    run and a spinner with its elapsed time for each running task."""

    def __init__(self, run: RunOut, quiet: bool) -> None:
        self.quiet = quiet
        self.progress: Progress | None = None
        self._bar: Any = None
        self._seen: dict[uuid.UUID, str] = {}
        self._spinning: dict[uuid.UUID, Any] = {}
        if not quiet:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.progress.start()
            self._bar = self.progress.add_task("[bold]Tasks[/]", total=len(run.task_runs))

    def update(self, current: RunOut) -> None:
        for task in current.task_runs:
            status = task.status.value
            if self._seen.get(task.id) != status:
                self._seen[task.id] = status
                if not self.quiet and status in _SHOWN:
                    console.print(f"  {status:<15} {escape(task.name)}")
            if self.progress is not None:
                self._spin(task.id, task.name, running=status == "RUNNING")
        if self.progress is not None:
            done = sum(t.status in DONE for t in current.task_runs)
            title = f"[bold]Tasks[/] {current.status.value} ${current.cost_usd:.4f}"
            self.progress.update(self._bar, completed=done, description=title)

    def _spin(self, task_id: uuid.UUID, name: str, *, running: bool) -> None:
        assert self.progress is not None
        if running and task_id not in self._spinning:
            self._spinning[task_id] = self.progress.add_task(f"  {escape(name)[:48]}", total=None)
        elif not running and task_id in self._spinning:
            self.progress.remove_task(self._spinning.pop(task_id))

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


async def _watch(services: Services, run: RunOut, mode: str, quiet: bool) -> RunOut:
    """Carry ``run`` out here until it ends, showing progress and asking."""
    display = _Display(run, quiet)

    async def answer(item: InteractionOut) -> None:
        response = await _answer(item, mode, display.progress, quiet)
        refused = await pipeline.answer_question(services.database, item, response)
        if refused:
            err_console.print(f"[dim]{refused}[/]")

    try:
        final = await pipeline.carry_out(
            services.database,
            services.settings,
            run,
            models=services.models,
            invoker=services.tools,
            on_progress=display.update,
            answer=answer,
        )
    finally:
        display.stop()
    return final


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


@dataclass
class _Asked:
    """What ``berrys run`` was asked to do, checked."""

    description: str | None
    mode: str  # how approvals are answered: APPROVE_MODES
    resume_id: uuid.UUID | None
    run_in: RunCreate
    quiet: bool  # --json: only the outcome is printed


@dataclass
class _State:
    """What an interruption needs to know: the run to pause, the project kept."""

    run_id: uuid.UUID | None
    project: str | None = None
    user: UserOut | None = None
    interrupted: bool = False


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
    options: dict[str, Any] = {"review": review, **({"model": model} if model else {})}
    run_in = RunCreate(require_plan_approval=plan_approval, options=options)
    asked = _checked(description, approve, resume, run_in, as_json)
    settings = load_settings()
    state = _State(run_id=asked.resume_id)

    async def guarded(services: Services) -> dict[str, Any]:
        return await _guarded(services, asked, state)

    try:
        result = run_with_services(guarded, settings, needs_schema=False)
    except typer.Exit as stop:
        if state.interrupted:
            err_console.print(_paused_message(state.run_id, state.project), soft_wrap=True)
        raise stop
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _summary(result, settings, wide)
    # Done, even with drafts waiting for a person (the summary and --json's "review" say
    # which); anything else is a failure.
    if RunStatus(result["run"]["status"]) not in RUN_DONE:
        raise typer.Exit(1)


def _checked(
    description: str | None, approve: str | None, resume: str | None, run_in: RunCreate, quiet: bool
) -> _Asked:
    """The command's arguments, or exit 2 saying what is wrong with them."""
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
    resume_id = None
    if resume:
        try:
            resume_id = uuid.UUID(resume)
        except ValueError:
            err_console.print(f"[red]Not a run id:[/] {resume}")
            raise typer.Exit(2) from None
    return _Asked(description, approve or "ask", resume_id, run_in, quiet)


async def _guarded(services: Services, asked: _Asked, state: _State) -> dict[str, Any]:
    """The run, paused when a Ctrl-C interrupted it (exit 130)."""
    try:
        return await _main(services, asked, state)
    except asyncio.CancelledError:
        if not state.interrupted:
            raise
        if state.run_id is not None:
            await pipeline.pause_here(services.database, run_id=state.run_id, user=state.user)
        raise typer.Exit(130) from None


async def _main(services: Services, asked: _Asked, state: _State) -> dict[str, Any]:
    """Start (or resume) the run, carry it out here, and read back its outcome."""
    database, settings = services.database, services.settings
    user = await _operator(database, settings, asked.quiet)
    state.user = user
    _on_interrupt(asyncio.current_task(), state)
    if asked.resume_id is not None:
        run = await _resumed(database, asked.resume_id, user, asked.quiet)
    else:
        run = await _started(services, asked, user, state)
    final = await _watch(services, run, asked.mode, asked.quiet)
    return await pipeline.run_outcome(database, settings, final, user)


async def _operator(database: Database, settings: Settings, quiet: bool) -> UserOut:
    """Who the run is for: the configured admin (made on first use); the schema upgraded
    first on the embedded database, and refused out of date elsewhere."""
    if settings.is_embedded_database:
        await migrate.upgrade(database)
    elif not await migrate.is_up_to_date(database):
        err_console.print("[red]The database schema is not up to date;[/] run `berrys db upgrade`.")
        raise typer.Exit(1)
    created = await auth.ensure_first_admin(database, settings)
    announce_first_admin(settings, created, machine=quiet)
    email = operator_email(settings, created[0] if created else None)
    async with database.transaction(read_only=True) as session:
        try:
            return await auth.get_by_email(session, email=email)
        except NotFound:
            err_console.print(
                f"[red]No user {email}.[/] Set BERRYS_ADMIN_EMAIL to the account to run as."
            )
            raise typer.Exit(1) from None


async def _resumed(database: Database, run_id: uuid.UUID, user: UserOut, quiet: bool) -> RunOut:
    try:
        run, freed = await pipeline.resume_here(database, run_id=run_id, user=user)
    except NotFound:
        err_console.print(f"[red]No run {run_id}[/]")
        raise typer.Exit(1) from None
    if not quiet:
        console.print(
            f"Resuming run {run_id} ({run.status.value}); "
            f"{freed} task(s) taken over from a stopped process."
        )
    return run


async def _started(services: Services, asked: _Asked, user: UserOut, state: _State) -> RunOut:
    """A project for the description, taken through the pipeline to a started run."""
    assert asked.description is not None

    def on_created(project_id: uuid.UUID, name: str) -> None:
        state.project = str(project_id)
        if not asked.quiet:
            console.print(f"[bold]Project[/] {escape(name)} ({project_id})")

    def on_stage(stage: str, status: str, detail: str) -> None:
        if stage == "run" and status == "started":
            state.run_id = uuid.UUID(detail)
        if not asked.quiet:
            console.print(f"[cyan]{stage:<6}[/] {status:<9} {escape(detail)}")

    started = await pipeline.start_from_description(
        services.models,
        services.database,
        embedder=services.embedder,
        description=asked.description,
        user=user,
        run_in=asked.run_in,
        on_created=on_created,
        on_stage=on_stage,
    )
    state.run_id = started.run.id
    return started.run


def _on_interrupt(main: asyncio.Task[Any] | None, state: _State) -> None:
    """First Ctrl-C: cancel the work (the run is paused by ``_guarded``); second: leave at
    once."""
    loop = asyncio.get_running_loop()

    def interrupted() -> None:
        if state.interrupted:
            os._exit(130)
        state.interrupted = True
        err_console.print("\nPausing… (Ctrl-C again to leave at once)")
        if main is not None:
            main.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupted)
