"""``berrys plan``: show a project's plan as a text Gantt chart, generate a new one."""

from __future__ import annotations

import uuid
from datetime import datetime

import typer
from rich.table import Table
from rich.text import Text

from berrys.cli.common import (
    AS_USER,
    console,
    load_settings,
    operator_email,
    resolve_project,
    run_async,
)
from berrys.core.db import Database
from berrys.core.enums import Methodology
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.agents import service as agents
from berrys.services.planning import generation, insights
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import PlanCreate, PlanDetail, ScheduleOut

app = typer.Typer(help="Plans: show a project's plan and Gantt chart, generate one.")

_PROJECT = typer.Argument(..., help="The project's name or id.")


def _day(moment: datetime) -> str:
    return moment.strftime("%a %d %b %H:%M")


def _h(hours: float) -> str:
    return f"{hours:.1f}".removesuffix(".0")


def gantt(
    plan: PlanDetail,
    schedule: ScheduleOut,
    *,
    agents: dict[uuid.UUID, str] | None = None,
    width: int = 48,
) -> Table:
    """The plan as a table with one bar per task: critical work in red, slack dotted."""
    rows = {row.task_id: row for row in schedule.tasks}
    agents = {**{r.agent_id: r.name for r in plan.resources if r.agent_id}, **(agents or {})}
    span = max(schedule.finish_hours, 1e-9)
    scale = width / span

    def cell(hours: float) -> int:
        return min(width, max(0, round(hours * scale)))

    table = Table(
        title=f"{plan.name} (version {plan.version}, {plan.methodology}): "
        f"{_day(schedule.start_at)} -> {_day(schedule.finish.date)}",
        caption="[red]█[/] critical  [cyan]█[/] work  [dim]·[/] slack",
        show_lines=False,
        expand=False,
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("Task", overflow="ellipsis", max_width=38, no_wrap=True)
    table.add_column("Agent", overflow="ellipsis", max_width=16, no_wrap=True)
    table.add_column("Hours", justify="right")
    table.add_column("Start", no_wrap=True)
    table.add_column("Finish", no_wrap=True)
    table.add_column("Slack", justify="right")
    end_label = f"{_h(schedule.finish_hours)} h"
    table.add_column(f"0 h {'─' * max(1, width - 5 - len(end_label))} {end_label}", no_wrap=True)
    phases = {p.id: p.name for p in plan.phases}
    current_phase: object = object()
    for number, task in enumerate(plan.tasks, start=1):
        row = rows.get(task.id)
        if row is None:
            continue
        if task.phase_id != current_phase and task.phase_id in phases:
            table.add_row("", Text(phases[task.phase_id], style="bold"), "", "", "", "", "", "")
        current_phase = task.phase_id
        start, end, late = cell(row.es_hours), cell(row.ef_hours), cell(row.lf_hours)
        bar = Text(" " * start)
        bar.append("█" * max(1, end - start), style="bold red" if row.critical else "cyan")
        bar.append("·" * max(0, late - max(end, start + 1)), style="dim")
        name = Text(task.name, style="bold" if row.critical else "")
        table.add_row(
            str(number),
            name,
            agents.get(task.assigned_agent_id, str(task.assigned_agent_id or "-")[:8]),
            _h(row.duration_hours),
            _day(row.early_start),
            _day(row.early_finish),
            _h(row.total_slack_hours),
            bar,
        )
    return table


@app.command("show")
def show(
    project: str = _PROJECT,
    plan_id: str | None = typer.Option(
        None, "--plan", help="A plan version's id (default: current)."
    ),
    width: int = typer.Option(48, min=10, max=400, help="Width of the chart in characters."),
    seed: int | None = typer.Option(None, help="Monte Carlo seed (default: per plan)."),
    as_user: str | None = AS_USER,
    as_json: bool = typer.Option(False, "--json", help="The plan and its schedule as JSON."),
) -> None:
    """Draw the project's plan: tasks, a Gantt chart with the critical path, the forecast."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _load(database: Database) -> tuple[PlanDetail, ScheduleOut, dict[uuid.UUID, str]]:
        user, found = await resolve_project(database, project, email)
        async with database.transaction(read_only=True) as session:
            if plan_id:
                try:
                    wanted = uuid.UUID(plan_id)
                except ValueError:
                    raise Unprocessable(f"--plan {plan_id!r} is not a plan id") from None
                plan = await planning.get_detail(session, plan_id=wanted, user=user)
                if plan.project_id != found.id:
                    raise NotFound.of("Plan", wanted)
            else:
                plan = await planning.get_current(session, project_id=found.id, user=user)
            schedule = await insights.get_schedule(session, plan_id=plan.id, user=user, seed=seed)
            team, _ = await agents.get_all(session, project_id=found.id, user=user, limit=200)
        return plan, schedule, {a.id: a.name for a in team}

    plan, schedule, names_of_agents = run_async(_load, settings)
    if as_json:
        console.print_json(
            data={
                "plan": plan.model_dump(mode="json"),
                "schedule": schedule.model_dump(mode="json"),
            }
        )
        return
    console.print(gantt(plan, schedule, agents=names_of_agents, width=width))
    names = {t.id: t.name for t in plan.tasks}
    path = " -> ".join(names.get(t, str(t)) for t in schedule.critical_path)
    console.print(f"[bold]Critical path[/] ({_h(schedule.finish_hours)} working hours): {path}")
    f = schedule.finish
    console.print(
        f"[bold]Finish[/] {_day(f.date)}   P50 {_day(f.p50)}   P80 {_day(f.p80)}   "
        f"P95 {_day(f.p95)}   ({f.iterations} Monte Carlo runs, seed {f.seed})"
    )
    for milestone in schedule.milestones:
        console.print(f"  ◆ {milestone.name}: {_day(milestone.finish)}")


@app.command("generate")
def generate(
    project: str = _PROJECT,
    methodology: Methodology = typer.Option(
        Methodology.CRITICAL_PATH, case_sensitive=False, help="AGILE, WATERFALL or CRITICAL_PATH."
    ),
    as_user: str | None = AS_USER,
) -> None:
    """Generate a new current plan version from the project's description and team."""
    settings = load_settings()
    email = operator_email(settings, as_user)

    async def _generate(database: Database) -> PlanDetail:
        user, found = await resolve_project(database, project, email)
        with console.status("Generating the plan...", spinner="dots"):
            return await generation.create_plan(
                database,
                project_id=found.id,
                plan_in=PlanCreate(methodology=methodology),
                user=user,
            )

    plan = run_async(_generate, settings)
    console.print(
        f"Plan v{plan.version} ({plan.methodology}, by {plan.generated_by}): "
        f"{len(plan.phases)} phases, {len(plan.tasks)} tasks, "
        f"{len(plan.dependencies)} dependencies. Show it with `berrys plan show {project}`."
    )
