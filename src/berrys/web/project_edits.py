"""Editing a project's agents and plan tasks in place on the project page.

Each row has an Edit link: with HTMX it swaps in a form for that row and a save swaps the
row back (a form with the errors next to their fields, 422, when the service refuses);
without JavaScript the link opens the same form on a page of its own and a save returns to
the project page. Everything goes through the agents and planning services, so a rename, an
estimate or a dependency is checked, audited and recorded exactly as over REST.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from berrys.core.errors import BerrysError, Forbidden, NotFound
from berrys.services.agents import service as agents
from berrys.services.agents.contracts import AgentOut, AgentUpdate
from berrys.services.auth.contracts import UserOut
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import PlanDetail, TaskUpdate
from berrys.services.projects import service as projects
from berrys.web.pages import _database, see_other
from berrys.web.projects import task_rows
from berrys.web.security import Csrf, WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)
# What each field allows, said with its error.
AGENT_FIELDS = {
    "name": "1 to 200 characters",
    "role": "at most 200 characters",
    "description": "at most 20000 characters",
}
TASK_FIELDS = {
    "name": "1 to 200 characters",
    "assigned_agent_id": "one of the team's agents, or none",
    "estimate_hours": "working hours, more than 0 and at most 100000",
    "optimistic_hours": "blank, or working hours from more than 0 up to the most likely",
    "pessimistic_hours": "blank, or working hours from the most likely up to 100000",
    "depends_on": "tasks of this plan that do not depend on it",
}


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def _check_writer(user: UserOut) -> None:
    if not user.can_write:
        raise Forbidden(f"Role {user.role.value} can only read; editing needs MEMBER or ADMIN.")


def field_errors(exc: ValidationError, allowed: dict[str, str]) -> dict[str, str]:
    """Pydantic's complaints by form field, each saying what the field allows."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][-1]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if field in allowed:
            errors.setdefault(field, f"{message} (allowed: {allowed[field]}).")
        else:
            errors.setdefault("form", f"{message}.")
    return errors


def _with_trigger(response: Response, event: str) -> Response:
    """Tell the page (HTMX) what changed, so the parts that show it redraw."""
    response.headers["HX-Trigger"] = event
    return response


# --- agents ---------------------------------------------------------------------------------


async def _agent(session: Any, project_id: uuid.UUID, agent_id: uuid.UUID, user: UserOut) -> Any:
    """The project's agent; NotFound for another project's (or another user's)."""
    await projects.get(session, project_id=project_id, user=user)
    agent = await agents.get(session, agent_id=agent_id, user=user)
    if agent.project_id != project_id:
        raise NotFound.of("Agent", agent_id)
    return agent


def _agent_form(
    request: Request,
    project_id: uuid.UUID,
    agent: AgentOut,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    context = {
        "project_id": project_id,
        "a": agent,
        "values": values or {"name": agent.name, "role": agent.role, "desc": agent.description},
        "errors": errors or {},
        "allowed": AGENT_FIELDS,
    }
    return _form(request, "_agent_form.html", f"Edit {agent.name}", context)


def _form(request: Request, form: str, title: str, context: dict[str, Any]) -> Response:
    """An edit form: alone for HTMX to swap in, else on a page of its own; 422 with errors."""
    status = 422 if context["errors"] else 200
    if _is_htmx(request):
        return render(request, form, status, **context)
    return render(request, "edit.html", status, form=form, title=title, **context)


@router.get("/projects/{project_id}/agents/{agent_id}/edit", response_class=HTMLResponse)
async def edit_agent(
    request: Request, user: WebUser, project_id: uuid.UUID, agent_id: uuid.UUID
) -> Response:
    _check_writer(user)
    async with _database(request).transaction(read_only=True) as session:
        agent = await _agent(session, project_id, agent_id, user)
    return _agent_form(request, project_id, agent)


@router.get("/projects/{project_id}/agents/{agent_id}/row", response_class=HTMLResponse)
async def agent_row(
    request: Request, user: WebUser, project_id: uuid.UUID, agent_id: uuid.UUID
) -> Response:
    """The agent's row as the page shows it (Cancel puts it back)."""
    async with _database(request).transaction(read_only=True) as session:
        agent = await _agent(session, project_id, agent_id, user)
    return render(
        request,
        "_agent_row.html",
        a=agent,
        project_id=project_id,
        can_write=user.can_write,
        focus=True,
    )


@router.post(
    "/projects/{project_id}/agents/{agent_id}", dependencies=[Csrf], response_class=HTMLResponse
)
async def save_agent(
    request: Request,
    user: WebUser,
    project_id: uuid.UUID,
    agent_id: uuid.UUID,
    name: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=40_000)] = "",
) -> Response:
    """Rename an agent, or change its role or description, through the agents service."""
    _check_writer(user)
    values = {"name": name, "role": role, "desc": description.replace("\r\n", "\n")}
    async with _database(request).transaction(read_only=True) as session:
        agent = await _agent(session, project_id, agent_id, user)
    try:
        agent_in = AgentUpdate(name=name, role=role, description=values["desc"])
    except ValidationError as exc:
        errors = field_errors(exc, AGENT_FIELDS)
        return _agent_form(request, project_id, agent, values=values, errors=errors)
    try:
        async with _database(request).transaction() as session:
            agent = await agents.update(session, agent_id=agent_id, agent_in=agent_in, user=user)
    except NotFound:
        raise
    except BerrysError as exc:
        errors = {"form": exc.detail}
        return _agent_form(request, project_id, agent, values=values, errors=errors)
    if not _is_htmx(request):
        return see_other(f"/projects/{project_id}#agent-{agent_id}")
    return render(
        request, "_agent_row.html", a=agent, project_id=project_id, can_write=True, saved=True
    )


# --- tasks ----------------------------------------------------------------------------------


async def _plan_and_team(
    session: Any, project_id: uuid.UUID, task_id: uuid.UUID, user: UserOut
) -> tuple[PlanDetail, list[AgentOut], dict[str, Any]]:
    """The current plan, the team, and the task's row; NotFound for a task not in the plan."""
    await projects.get(session, project_id=project_id, user=user)
    try:
        plan = await planning.get_current(session, project_id=project_id, user=user)
    except NotFound:
        raise NotFound.of("Task", task_id) from None
    team, _ = await agents.get_all(session, project_id=project_id, user=user, limit=200)
    row = next((row for row in task_rows(plan, team) if row["task"].id == task_id), None)
    if row is None:
        raise NotFound.of("Task", task_id)
    return plan, team, row


def _task_form(
    request: Request,
    project_id: uuid.UUID,
    plan: PlanDetail,
    team: list[AgentOut],
    row: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    task = row["task"]
    before = [dep.from_task_id for dep in plan.dependencies if dep.to_task_id == task.id]
    context = {
        "project_id": project_id,
        "t": row,
        "team": team,
        "others": [
            other
            for other in sorted(plan.tasks, key=lambda t: (t.position, t.name))
            if other.id != task.id
        ],
        "values": values
        or {
            "name": task.name,
            "agent": str(task.assigned_agent_id or ""),
            "estimate": f"{task.estimate_hours:g}",
            "optimistic": _hours(task.optimistic_hours),
            "pessimistic": _hours(task.pessimistic_hours),
            "depends_on": {str(task_id) for task_id in before},
        },
        "errors": errors or {},
        "allowed": TASK_FIELDS,
    }
    return _form(request, "_task_form.html", f"Edit {task.name}", context)


@router.get("/projects/{project_id}/tasks/{task_id}/edit", response_class=HTMLResponse)
async def edit_task(
    request: Request, user: WebUser, project_id: uuid.UUID, task_id: uuid.UUID
) -> Response:
    _check_writer(user)
    async with _database(request).transaction(read_only=True) as session:
        plan, team, row = await _plan_and_team(session, project_id, task_id, user)
    return _task_form(request, project_id, plan, team, row)


@router.get("/projects/{project_id}/tasks/{task_id}/row", response_class=HTMLResponse)
async def task_row(
    request: Request, user: WebUser, project_id: uuid.UUID, task_id: uuid.UUID
) -> Response:
    """The task's row as the page shows it (Cancel puts it back)."""
    async with _database(request).transaction(read_only=True) as session:
        _, _, row = await _plan_and_team(session, project_id, task_id, user)
    return render(
        request,
        "_task_row.html",
        t=row,
        project_id=project_id,
        can_write=user.can_write,
        focus=True,
    )


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _task_update(
    name: str, agent: str, estimates: dict[str, str | None], depends_on: list[str]
) -> tuple[TaskUpdate | None, list[uuid.UUID], dict[str, str]]:
    """The form as a TaskUpdate and predecessor ids, or what is wrong with it, by field.

    ``estimates``: the three estimates as typed; a blank optimistic or pessimistic one is
    none (the task then has a single estimate)."""
    errors: dict[str, str] = {}
    predecessors = []
    for predecessor in depends_on:
        try:
            predecessors.append(uuid.UUID(predecessor))
        except ValueError:
            errors["depends_on"] = (
                f"{predecessor!r} is not a task (allowed: {TASK_FIELDS['depends_on']})."
            )
    fields: dict[str, Any] = {"name": name, "assigned_agent_id": agent or None}
    for field, value in estimates.items():
        optional = field != "estimate_hours"
        fields[field] = ((value or "").strip() or None) if optional else value
    try:
        task_in = TaskUpdate.model_validate(fields)
    except ValidationError as exc:
        return None, predecessors, {**field_errors(exc, TASK_FIELDS), **errors}
    return (None if errors else task_in), predecessors, errors


@router.post(
    "/projects/{project_id}/tasks/{task_id}", dependencies=[Csrf], response_class=HTMLResponse
)
async def save_task(
    request: Request,
    user: WebUser,
    project_id: uuid.UUID,
    task_id: uuid.UUID,
    name: Annotated[str, Form(max_length=1000)] = "",
    agent: Annotated[str, Form(max_length=64)] = "",
    estimate: Annotated[str, Form(max_length=64)] = "",
    optimistic: Annotated[str | None, Form(max_length=64)] = None,
    pessimistic: Annotated[str | None, Form(max_length=64)] = None,
    depends_on: Annotated[list[str] | None, Form(max_length=10_000)] = None,
) -> Response:
    """Change a task's name, agent, estimates and dependencies, in one transaction."""
    _check_writer(user)
    chosen = depends_on or []
    async with _database(request).transaction(read_only=True) as session:
        plan, team, row = await _plan_and_team(session, project_id, task_id, user)
    values = {
        "name": name,
        "agent": agent,
        "estimate": estimate,
        "optimistic": optimistic or "",
        "pessimistic": pessimistic or "",
        "depends_on": set(chosen),
    }
    estimates = {
        "estimate_hours": estimate,
        "optimistic_hours": optimistic,
        "pessimistic_hours": pessimistic,
    }
    task_in, predecessors, errors = _task_update(name, agent, estimates, chosen)
    if task_in is None:
        return _task_form(request, project_id, plan, team, row, values=values, errors=errors)
    field = "form"
    try:
        async with _database(request).transaction() as session:
            await planning.update_task(
                session, plan_id=plan.id, task_id=task_id, task_in=task_in, user=user
            )
            field = "depends_on"  # what the next call refuses is about the dependencies
            await planning.set_predecessors(
                session, plan_id=plan.id, task_id=task_id, predecessor_ids=predecessors, user=user
            )
    except NotFound:
        raise
    except BerrysError as exc:
        errors = {field: exc.detail}
        return _task_form(request, project_id, plan, team, row, values=values, errors=errors)
    if not _is_htmx(request):
        return see_other(f"/projects/{project_id}#task-{task_id}")
    async with _database(request).transaction(read_only=True) as session:
        _, _, row = await _plan_and_team(session, project_id, task_id, user)
    saved = render(
        request, "_task_row.html", t=row, project_id=project_id, can_write=True, saved=True
    )
    return _with_trigger(saved, "plan-changed")
