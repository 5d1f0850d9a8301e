"""``berrys plan``: show a project's plan as a text Gantt chart, generate a new one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from berrys.cli.common import (
    AS_USER,
    console,
    load_settings,
    operator_email,
    resolve_project,
    run_async,
    run_with_services,
)
from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.agents import service as agents
from berrys.services.catalogue.contracts import Methodology
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import PlanCreate, PlanDetail, ScheduleOut
from berrys.wiring import Services

app = typer.Typer(help="Plans: show a project's plan and Gantt chart, generate one.")

_PROJECT = typer.Argument(..., help="The project's name or id.")


def _day(moment: datetime) -> str:
    return moment.strftime("%a %d %b %H:%M")


def _h(hours: float) -> str:
    return f"{hours:.1f}".removesuffix(".0")


TASK_MIN = 24  # a task name shorter than this is too cut to recognise
TASK_MAX = 40
AGENT_MAX = 20
CHART_MIN = 20  # below this the chart goes under the table, as wide as the terminal
CHART_MAX = 60
BELOW_TASK = 20  # the task names beside a chart of its own
WIDE = 100  # from this many columns, dates carry the time of day


def _date_format(columns: int) -> str:
    """Dates with the time of day when there is room, else the day alone."""
    return "%d %b %H:%M" if columns >= WIDE else "%d %b"


def _gap(count: int) -> int:
    """Columns between ``count`` cells of a table of ``_table``'s (a space and a rule)."""
    return 2 * (count - 1)


def gantt(
    plan: PlanDetail,
    schedule: ScheduleOut,
    *,
    agents: dict[uuid.UUID, str] | None = None,
    columns: int = 120,
    width: int | None = None,
) -> Group:
    """The plan as a table with one bar per task (critical work in red, slack dotted) that
    fits ``columns``: agent names whole up to 20 characters, task names cut last; the chart
    is ``width`` wide, or what is left, and goes under the table when too little is."""
    agents = {**{r.agent_id: r.name for r in plan.resources if r.agent_id}, **(agents or {})}
    rows = _rows(plan, schedule)
    who = {task.id: agents.get(task.assigned_agent_id, "-") for _, task, _ in rows}
    agent_width = min(max([len("Agent"), *map(len, who.values())]), AGENT_MAX)
    dates = _date_format(columns)
    date_width = len(datetime(2026, 12, 31, 23, 59).strftime(dates))
    number_width = len(str(len(plan.tasks)))
    fixed = number_width + agent_width + 5 + 2 * date_width + 5
    chart = width or min(CHART_MAX, columns - fixed - _gap(8) - TASK_MIN)
    beside = width is not None or chart >= CHART_MIN
    task_width = max(
        TASK_MIN,
        min(TASK_MAX, columns - fixed - _gap(8 if beside else 7) - (chart if beside else 0)),
    )
    title = (
        f"{plan.name} (version {plan.version}, {plan.methodology}): "
        f"{_day(schedule.start_at)} -> {_day(schedule.finish.date)}"
    )
    table = _table(title)
    table.add_column("#", justify="right", style="dim", width=number_width)
    table.add_column("Task", overflow="ellipsis", no_wrap=True, width=task_width)
    table.add_column("Agent", overflow="ellipsis", no_wrap=True, width=agent_width)
    table.add_column("Hours", justify="right", width=5)
    table.add_column("Start", no_wrap=True, width=date_width)
    table.add_column("Finish", no_wrap=True, width=date_width)
    table.add_column("Slack", justify="right", width=5)
    below = columns - number_width - _gap(3) - BELOW_TASK
    bars = _Bars(schedule, chart if beside else max(10, below))
    if beside:
        table.add_column(bars.header, no_wrap=True, width=bars.width)
    _add_tasks(table, plan, rows, who=who, dates=dates, bars=bars if beside else None)
    if beside:
        return Group(table, _LEGEND)
    return Group(table, _chart_below(rows, bars, number_width), _LEGEND)


def _add_tasks(
    table: Table,
    plan: PlanDetail,
    rows: list[tuple[int, Any, Any]],
    *,
    who: dict[uuid.UUID, str],
    dates: str,
    bars: _Bars | None,
) -> None:
    """A row per task, under a heading row where its phase begins; with ``bars``, its bar in
    the chart column."""
    phases = {p.id: p.name for p in plan.phases}
    current_phase: object = object()
    for number, task, row in rows:
        if task.phase_id != current_phase and task.phase_id in phases:
            heading = Text(phases[task.phase_id], style="bold")
            table.add_row("", heading, *[""] * (6 if bars is not None else 5))
        current_phase = task.phase_id
        cells = [
            str(number),
            Text(task.name, style="bold" if row.critical else ""),
            who[task.id],
            _h(row.duration_hours),
            row.early_start.strftime(dates),
            row.early_finish.strftime(dates),
            _h(row.total_slack_hours),
        ]
        table.add_row(*cells, *([bars.bar(row)] if bars is not None else []))


def _rows(plan: PlanDetail, schedule: ScheduleOut) -> list[tuple[int, Any, Any]]:
    """Each scheduled task with its number in the plan and its schedule row."""
    by_task = {row.task_id: row for row in schedule.tasks}
    return [
        (number, task, by_task[task.id])
        for number, task in enumerate(plan.tasks, start=1)
        if task.id in by_task
    ]


def _table(title: str) -> Table:
    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        expand=False,
    )


class _Bars:
    """Bars on a shared scale: early start to early finish, then slack to late finish."""

    def __init__(self, schedule: ScheduleOut, width: int) -> None:
        self.width = width
        self.scale = width / max(schedule.finish_hours, 1e-9)
        end = f"{_h(schedule.finish_hours)} h"
        self.header = f"0 h {'─' * max(1, width - 5 - len(end))} {end}"

    def _cell(self, hours: float) -> int:
        return min(self.width, max(0, round(hours * self.scale)))

    def bar(self, row: Any) -> Text:
        start, end, late = (
            self._cell(row.es_hours),
            self._cell(row.ef_hours),
            self._cell(row.lf_hours),
        )
        text = Text(" " * start)
        text.append("█" * max(1, end - start), style="bold red" if row.critical else "cyan")
        text.append("·" * max(0, late - max(end, start + 1)), style="dim")
        return text


def _chart_below(rows: list[tuple[int, Any, Any]], bars: _Bars, number_width: int) -> Table:
    """The chart as its own table, for a terminal too narrow to show it beside the tasks."""
    table = _table("")
    table.add_column("#", justify="right", style="dim", width=number_width)
    table.add_column("Task", overflow="ellipsis", no_wrap=True, width=BELOW_TASK)
    table.add_column(bars.header, no_wrap=True, width=bars.width)
    for number, task, row in rows:
        table.add_row(str(number), task.name, bars.bar(row))
    return table


_LEGEND = Text.from_markup("[red]█[/] critical  [cyan]█[/] work  [dim]·[/] slack")


@app.command("show")
def show(
    project: str = _PROJECT,
    plan_id: str | None = typer.Option(
        None, "--plan", help="A plan version's id (default: current)."
    ),
    width: int | None = typer.Option(
        None, min=10, max=400, help="Width of the chart in characters (default: what fits)."
    ),
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
            schedule = await planning.get_schedule(session, plan_id=plan.id, user=user, seed=seed)
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
    console.print(gantt(plan, schedule, agents=names_of_agents, columns=console.width, width=width))
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

    async def _generate(services: Services) -> PlanDetail:
        user, found = await resolve_project(services.database, project, email)
        with console.status("Generating the plan...", spinner="dots"):
            return await planning.create_plan(
                services.models,
                services.database,
                project_id=found.id,
                plan_in=PlanCreate(methodology=methodology),
                user=user,
            )

    plan = run_with_services(_generate, settings)
    console.print(
        f"Plan v{plan.version} ({plan.methodology}, by {plan.generated_by}): "
        f"{len(plan.phases)} phases, {len(plan.tasks)} tasks, "
        f"{len(plan.dependencies)} dependencies. Show it with `berrys plan show {project}`."
    )
