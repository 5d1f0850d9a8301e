"""Project pages: the list (filters, create), one project (lifecycle, history, team, plan,
artifacts, runs, publications). Editing its agents and tasks in place is in
:mod:`berrys.web.project_edits`."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from berrys.core.errors import BerrysError, NotFound
from berrys.services.agents import service as agents
from berrys.services.agents.contracts import GenerateRequest
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.llm.deps import ModelsDep
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import PlanCreate
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate, ProjectStatus
from berrys.services.publishing import service as publishing
from berrys.services.publishing.contracts import PublicationTarget
from berrys.services.runs import service as run_service
from berrys.services.runs.contracts import RunStatus
from berrys.web.gantt import gantt
from berrys.web.pages import _database, see_other
from berrys.web.security import Csrf, WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)


def _status_or_none(value: str | None) -> ProjectStatus | None:
    if not value:
        return None
    try:
        return ProjectStatus(value)
    except ValueError:
        return None


@router.get("/projects", response_class=HTMLResponse)
async def project_list(
    request: Request,
    user: WebUser,
    status: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    wanted = _status_or_none(status)
    async with _database(request).transaction(read_only=True) as session:
        items, total = await projects.get_all(
            session, user=user, limit=200, offset=0, status=wanted, q=q or None
        )
    template = "_project_rows.html" if request.headers.get("hx-request") else "projects.html"
    return render(
        request,
        template,
        projects=items,
        total=total,
        status=wanted.value if wanted else "",
        q=q or "",
        statuses=list(ProjectStatus),
        can_write=user.can_write,
    )


@router.post("/projects", dependencies=[Csrf], response_class=HTMLResponse)
async def create_project(
    request: Request,
    user: WebUser,
    name: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    error: str | None = None
    if not user.can_write:
        error = f"Role {user.role.value} can only read; creating needs MEMBER or ADMIN."
    else:
        try:
            project_in = ProjectCreate(name=name, description=description)
        except ValidationError as exc:
            error = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
    if error is None:
        async with _database(request).transaction() as session:
            project = await projects.create(session, project_in=project_in, user=user)
        return see_other(f"/projects/{project.id}")
    async with _database(request).transaction(read_only=True) as session:
        items, total = await projects.get_all(session, user=user, limit=200, offset=0)
    return render(
        request,
        "projects.html",
        status_code=403 if not user.can_write else 422,
        projects=items,
        total=total,
        status="",
        q="",
        statuses=list(ProjectStatus),
        can_write=user.can_write,
        flash=error,
        flash_kind="error",
        form={"name": name, "description": description},
    )


async def _team(session: Any, project_id: uuid.UUID, user: UserOut) -> dict[str, Any]:
    members, _ = await agents.get_all(session, project_id=project_id, user=user, limit=200)
    edges = await agents.get_collaboration(session, project_id=project_id, user=user)
    names = {a.id: a.name for a in members}
    return {
        "agents": members,
        "graph": collaboration_graph(members, edges),
        "edges": [
            {
                "from": names.get(e.from_agent_id, "?"),
                "to": names.get(e.to_agent_id, "?"),
                "interaction": e.interaction.value,
                "description": e.description,
            }
            for e in edges
        ],
    }


async def plan_view(session: Any, project_id: uuid.UUID, user: UserOut) -> dict[str, Any]:
    """The current plan with its schedule and Gantt chart; ``plan`` None when there is none."""
    try:
        plan = await planning.get_current(session, project_id=project_id, user=user)
    except NotFound:
        return {"plan": None}
    schedule = await planning.get_schedule(session, plan_id=plan.id, user=user, seed=1)
    return {
        "plan": plan,
        "schedule": schedule,
        "gantt": gantt(schedule, plan.dependencies),
    }


def task_rows(plan: Any, agents: list[Any]) -> list[dict[str, Any]]:
    """The plan's tasks in order, each with its agent's name and the tasks it depends on."""
    if plan is None:
        return []
    names = {task.id: task.name for task in plan.tasks}
    agent_names = {agent.id: agent.name for agent in agents}
    before: dict[uuid.UUID, list[str]] = {}
    for dep in plan.dependencies:
        before.setdefault(dep.to_task_id, []).append(names.get(dep.from_task_id, "?"))
    return [
        {
            "task": task,
            "agent": agent_names.get(task.assigned_agent_id) if task.assigned_agent_id else None,
            "depends_on": before.get(task.id, []),
        }
        for task in sorted(plan.tasks, key=lambda task: (task.position, task.name))
    ]


ARTIFACTS_SHOWN = 50


async def _artifacts(
    request: Request, session: Any, project_id: uuid.UUID, user: UserOut
) -> dict[str, Any]:
    """The project's newest artifacts, and how many there are."""
    items, total = await run_service.get_artifacts(
        session,
        project_id=project_id,
        user=user,
        workspaces=request.app.state.services.settings.workspaces_dir,
        limit=ARTIFACTS_SHOWN,
        offset=0,
    )
    return {"rows": items, "total": total}


async def _runs(session: Any, project_id: uuid.UUID) -> list[Any]:
    items, _ = await run_service.get_all(session, project_id=project_id, limit=20, offset=0)
    return items


def collaboration_graph(members: list[Any], edges: list[Any]) -> dict[str, Any]:
    """Agents on a circle and their collaboration as arrows, for an SVG (viewBox 0..100)."""
    count = len(members)
    nodes: dict[uuid.UUID, dict[str, Any]] = {}
    for index, agent in enumerate(members):
        angle = 2 * math.pi * index / max(count, 1) - math.pi / 2
        radius = 0 if count == 1 else 32
        nodes[agent.id] = {
            "name": agent.name,
            "type": agent.agent_type.value,
            "x": round(50 + radius * math.cos(angle), 2),
            "y": round(50 + radius * math.sin(angle), 2),
        }
    lines = []
    for edge in edges:
        start, end = nodes.get(edge.from_agent_id), nodes.get(edge.to_agent_id)
        if start is None or end is None or start is end:
            continue
        dx, dy = end["x"] - start["x"], end["y"] - start["y"]
        length = math.hypot(dx, dy) or 1.0
        shorten = 7 / length  # stop at the node's circle so the arrow head shows
        lines.append(
            {
                "x1": round(start["x"] + dx * shorten, 2),
                "y1": round(start["y"] + dy * shorten, 2),
                "x2": round(end["x"] - dx * shorten, 2),
                "y2": round(end["y"] - dy * shorten, 2),
                "label": edge.interaction.value.replace("_", " ").lower(),
            }
        )
    return {"nodes": list(nodes.values()), "edges": lines}


# A run in one of these waits for a person (an answer, a resume, drafts to review): starting
# another run of the same plan beside it needs a second confirmation.
WAITING = frozenset({RunStatus.AWAITING_INPUT, RunStatus.PAUSED, RunStatus.COMPLETED_WITH_REVIEW})


def waiting_run(runs: list[Any]) -> Any | None:
    """The newest run of the project that waits for a person, if any."""
    return next((run for run in runs if run.status in WAITING), None)


async def _project_page(
    request: Request, user: UserOut, project_id: uuid.UUID, status_code: int = 200, **extra: Any
) -> Response:
    async with _database(request).transaction(read_only=True) as session:
        project = await projects.get(session, project_id=project_id, user=user)
        history, _ = await projects.get_history(
            session, project_id=project_id, user=user, limit=200, offset=0
        )
        team = await _team(session, project_id, user)
        plan = await plan_view(session, project_id, user)
        runs = await _runs(session, project_id)
        profile = await catalogue.get_profile(session, project_id=project_id, user=user)
        made = await _artifacts(request, session, project_id, user)
        published, _ = await publishing.get_all(
            session, project_id=project_id, user=user, limit=20, offset=0
        )
    return render(
        request,
        "project.html",
        status_code=status_code,
        project=project,
        project_id=project.id,
        history=history,
        allowed=sorted(projects.TRANSITIONS[project.status]),
        team=team,
        plan=plan,
        tasks=task_rows(plan["plan"], team["agents"]),
        artifacts=made,
        runs=runs,
        waiting_run=waiting_run(runs),
        publications=published,
        publishable_run=next((run for run in runs if run.status == RunStatus.COMPLETED), None),
        publication_targets=list(PublicationTarget),
        profile=profile,
        can_write=user.can_write,
        **extra,
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project_detail(request: Request, user: WebUser, project_id: uuid.UUID) -> Response:
    return await _project_page(request, user, project_id)


@router.get("/projects/{project_id}/plan/chart", response_class=HTMLResponse)
async def plan_chart(request: Request, user: WebUser, project_id: uuid.UUID) -> Response:
    """The plan's summary and Gantt chart alone: redrawn on the page after an edit."""
    async with _database(request).transaction(read_only=True) as session:
        await projects.get(session, project_id=project_id, user=user)
        plan = await plan_view(session, project_id, user)
    return render(request, "_plan_chart.html", plan=plan, project_id=project_id)


@router.post("/projects/{project_id}/transitions", dependencies=[Csrf], response_class=HTMLResponse)
async def transition(
    request: Request,
    user: WebUser,
    project_id: uuid.UUID,
    to_status: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        target = ProjectStatus(to_status)
        async with _database(request).transaction() as session:
            await projects.transition(
                session,
                project_id=project_id,
                to_status=target,
                user=user,
                reason=reason.strip() or None,
            )
    except NotFound:
        raise
    except (BerrysError, ValueError) as exc:
        detail = getattr(exc, "detail", None) or f"Unknown status {to_status!r}"
        return await _project_page(request, user, project_id, 409, flash=detail, flash_kind="error")
    return see_other(f"/projects/{project_id}")


@router.post("/projects/{project_id}/team", dependencies=[Csrf], response_class=HTMLResponse)
async def generate_team(
    request: Request, models: ModelsDep, user: WebUser, project_id: uuid.UUID
) -> Response:
    """Generate the team through the agents service (the same call as its REST route)."""
    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        await agents.generate(
            models,
            _database(request),
            project_id=project_id,
            request=GenerateRequest(),
            user=user,
        )
    except NotFound:
        raise
    except BerrysError as exc:
        return await _project_page(
            request, user, project_id, exc.status, flash=exc.detail, flash_kind="error"
        )
    return see_other(f"/projects/{project_id}#team")


@router.post("/projects/{project_id}/plan", dependencies=[Csrf], response_class=HTMLResponse)
async def generate_plan(
    request: Request, models: ModelsDep, user: WebUser, project_id: uuid.UUID
) -> Response:
    """Draft a new current plan through the planning service."""
    try:
        if not user.can_write:
            raise BerrysError(f"Role {user.role.value} can only read.")
        await planning.create_plan(
            models, _database(request), project_id=project_id, plan_in=PlanCreate(), user=user
        )
    except NotFound:
        raise
    except BerrysError as exc:
        return await _project_page(
            request, user, project_id, exc.status, flash=exc.detail, flash_kind="error"
        )
    return see_other(f"/projects/{project_id}#plan")
