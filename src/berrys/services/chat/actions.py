"""What Berry does for an intent, through the owning services' own interfaces.

Each action runs in its own unit of work and goes through the same function the REST API
calls (``projects.service.create``, ``agents.generation.generate``, ...), so a project
created in chat is exactly a project created over REST. Costly or destructive actions are
proposed first and run on the user's yes. A capability that is not in this installation
answers so plainly (UNAVAILABLE); nothing pretends to work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError

from berrys.core.db import Database
from berrys.core.enums import (
    ChatActionStatus,
    ChatIntent,
    HumanInteractionType,
    InteractionStatus,
    UserRole,
)
from berrys.core.errors import BerrysError, NotFound
from berrys.services.auth.contracts import UserOut
from berrys.services.chat.contracts import ChatAction, IntentResult, PendingAction
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate

if TYPE_CHECKING:
    from berrys.services.chat.service import Turn

_log = structlog.get_logger("berrys.chat")
Intent = ChatIntent
Status = ChatActionStatus
_WRITERS = frozenset({UserRole.ADMIN, UserRole.MEMBER})

RUNS_UNAVAILABLE = (
    "Runs are not available in this version of Berrys yet, so I cannot start, approve or "
    "reject anything. You can move the project along its lifecycle on its page."
)


@dataclass
class Outcome:
    reply: str
    actions: list[ChatAction] = field(default_factory=list)
    project_id: uuid.UUID | None = None
    pending: PendingAction | None = None


def _url(project_id: uuid.UUID, anchor: str = "") -> str:
    return f"/projects/{project_id}" + (f"#{anchor}" if anchor else "")


def _read_only(user: UserOut, intent: ChatIntent) -> Outcome | None:
    if user.role in _WRITERS:
        return None
    detail = f"Your role {user.role.value} can only read; this needs MEMBER or ADMIN."
    return Outcome(
        reply=f"I can't do that for you: {detail}",
        actions=[ChatAction(type=intent, status=Status.FAILED, detail=detail)],
    )


def _failed(intent: ChatIntent, exc: BerrysError, project_id: uuid.UUID | None) -> Outcome:
    return Outcome(
        reply=f"That did not work: {exc.detail}",
        actions=[
            ChatAction(
                type=intent,
                status=Status.FAILED,
                detail=exc.detail,
                result={"project_id": str(project_id)} if project_id else {},
            )
        ],
        project_id=project_id,
    )


def _target(turn: Turn, intent: IntentResult) -> tuple[uuid.UUID | None, str | None]:
    """The project meant: one named in the message, else the conversation's."""
    if intent.project_name:
        wanted = intent.project_name.strip().lower()
        for name, project_id in turn.projects.items():
            if name.lower() == wanted:
                return project_id, name
    if turn.project_id is not None:
        names = {pid: name for name, pid in turn.projects.items()}
        return turn.project_id, names.get(turn.project_id)
    return None, None


def _no_project(intent: ChatIntent) -> Outcome:
    what = {
        Intent.GENERATE_TEAM: "generate a team for",
        Intent.PLAN: "plan",
        Intent.STATUS: "report on",
    }
    return Outcome(
        reply=f"Which project should I {what.get(intent, 'use')}? Create one first, for "
        'example: "Create a project called Bakery Site to build a website for my bakery", '
        "or name an existing one."
    )


# --- CREATE_PROJECT -------------------------------------------------------------------------


async def _create_project(database: Database, turn: Turn, intent: IntentResult) -> Outcome:
    if (denied := _read_only(turn.user, Intent.CREATE_PROJECT)) is not None:
        return denied
    if not intent.project_name:
        return Outcome(
            reply='What should the project be called? Say for example: "Create a project '
            'called Bakery Site to build a website for my bakery".'
        )
    try:
        project_in = ProjectCreate.model_validate(
            {"name": intent.project_name, "description": intent.description or ""}
        )
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return Outcome(
            reply=f"I could not create that project: {detail}",
            actions=[ChatAction(type=Intent.CREATE_PROJECT, status=Status.FAILED, detail=detail)],
        )
    try:
        async with database.transaction() as session:
            project = await projects.create(session, project_in=project_in, user=turn.user)
    except BerrysError as exc:
        return _failed(Intent.CREATE_PROJECT, exc, None)
    reply = f'I created the project "{project.name}" ({project.status.value}).'
    if project.description:
        reply += ' Next I can generate its team of agents: say "generate the team".'
    else:
        reply += " Give it a description on its page so that I can propose a team for it."
    return Outcome(
        reply=reply,
        project_id=project.id,
        actions=[
            ChatAction(
                type=Intent.CREATE_PROJECT,
                status=Status.COMPLETED,
                result={
                    "project_id": str(project.id),
                    "name": project.name,
                    "description": project.description,
                    "status": project.status.value,
                    "url": _url(project.id),
                },
            )
        ],
    )


# --- GENERATE_TEAM --------------------------------------------------------------------------


async def _generate_team(
    database: Database, turn: Turn, intent: IntentResult, *, confirmed: bool
) -> Outcome:
    project_id, name = _target(turn, intent)
    if project_id is None:
        return _no_project(Intent.GENERATE_TEAM)
    if (denied := _read_only(turn.user, Intent.GENERATE_TEAM)) is not None:
        return denied
    try:
        from berrys.services.agents import generation
        from berrys.services.agents import service as agents
        from berrys.services.agents.contracts import GenerateRequest
    except ImportError:
        return Outcome(
            reply="Team generation is not available in this version of Berrys yet.",
            actions=[
                ChatAction(
                    type=Intent.GENERATE_TEAM,
                    status=Status.UNAVAILABLE,
                    detail="The agents service is not installed.",
                )
            ],
            project_id=project_id,
        )
    try:
        async with database.transaction(read_only=True) as session:
            existing = await agents.count(session, project_id=project_id, user=turn.user)
    except BerrysError as exc:
        return _failed(Intent.GENERATE_TEAM, exc, project_id)
    label = f'"{name}"' if name else "the project"
    if existing and not confirmed:
        question = (
            f"{label} already has {existing} agent(s). Generating again replaces the generated "
            "agents that have not started yet. Shall I go ahead? (yes / no)"
        )
        return Outcome(
            reply=question,
            project_id=project_id,
            actions=[
                ChatAction(
                    type=Intent.GENERATE_TEAM,
                    status=Status.NEEDS_CONFIRMATION,
                    detail=question,
                    result={"project_id": str(project_id)},
                )
            ],
            pending=PendingAction(
                type=Intent.GENERATE_TEAM, project_id=project_id, question=question
            ),
        )
    try:
        generated = await generation.generate(
            database, project_id=project_id, request=GenerateRequest(), user=turn.user
        )
    except BerrysError as exc:
        return _failed(Intent.GENERATE_TEAM, exc, project_id)
    team = [
        {"id": str(a.id), "name": a.name, "agent_type": a.agent_type.value} for a in generated.team
    ]
    listed = ", ".join(f"{a['name']} ({a['agent_type']})" for a in team)
    return Outcome(
        reply=f'I generated a team of {len(team)} for {label}: {listed}. Next: "now plan it".',
        project_id=project_id,
        actions=[
            ChatAction(
                type=Intent.GENERATE_TEAM,
                status=Status.COMPLETED,
                result={
                    "project_id": str(project_id),
                    "agents": team,
                    "requirements": len(generated.requirements),
                    "url": _url(project_id, "team"),
                },
            )
        ],
    )


# --- PLAN -----------------------------------------------------------------------------------


async def _plan(
    database: Database, turn: Turn, intent: IntentResult, *, confirmed: bool
) -> Outcome:
    project_id, name = _target(turn, intent)
    if project_id is None:
        return _no_project(Intent.PLAN)
    if (denied := _read_only(turn.user, Intent.PLAN)) is not None:
        return denied
    try:
        from berrys.services.planning import generation as planning_generation
        from berrys.services.planning import service as planning
        from berrys.services.planning.contracts import PlanCreate
    except ImportError:
        return Outcome(
            reply="Planning is not available in this version of Berrys yet, so I cannot plan "
            "the project for you.",
            project_id=project_id,
            actions=[
                ChatAction(
                    type=Intent.PLAN,
                    status=Status.UNAVAILABLE,
                    detail="The planning service is not installed.",
                    result={"project_id": str(project_id)},
                )
            ],
        )
    label = f'"{name}"' if name else "the project"
    try:
        async with database.transaction(read_only=True) as session:
            team = await _agent_count(session, project_id, turn.user)
            try:
                current = await planning.get_current(session, project_id=project_id, user=turn.user)
            except NotFound:
                current = None
    except BerrysError as exc:
        return _failed(Intent.PLAN, exc, project_id)
    if not team:
        detail = f"{label} has no team yet to assign tasks to."
        return Outcome(
            reply=f'{detail} Say "generate the team" first, then ask me to plan it.',
            project_id=project_id,
            actions=[
                ChatAction(
                    type=Intent.PLAN,
                    status=Status.FAILED,
                    detail=detail,
                    result={"project_id": str(project_id)},
                )
            ],
        )
    if current is not None and not confirmed:
        question = (
            f"{label} already has a plan (version {current.version}, {len(current.tasks)} "
            "tasks). Shall I draft a new version and make it the current plan? (yes / no)"
        )
        return Outcome(
            reply=question,
            project_id=project_id,
            actions=[
                ChatAction(
                    type=Intent.PLAN,
                    status=Status.NEEDS_CONFIRMATION,
                    detail=question,
                    result={"project_id": str(project_id)},
                )
            ],
            pending=PendingAction(type=Intent.PLAN, project_id=project_id, question=question),
        )
    try:
        plan = await planning_generation.create_plan(
            database, project_id=project_id, plan_in=PlanCreate(), user=turn.user
        )
    except BerrysError as exc:
        return _failed(Intent.PLAN, exc, project_id)
    return Outcome(
        reply=f"I drafted plan version {plan.version} for {label}: {len(plan.tasks)} tasks in "
        f"{len(plan.phases)} phases, {plan.methodology.value}. The Gantt chart and the "
        "critical path are on the project page.",
        project_id=project_id,
        actions=[
            ChatAction(
                type=Intent.PLAN,
                status=Status.COMPLETED,
                result={
                    "project_id": str(project_id),
                    "plan_id": str(plan.id),
                    "version": plan.version,
                    "tasks": len(plan.tasks),
                    "url": _url(project_id, "plan"),
                },
            )
        ],
    )


# --- STATUS ---------------------------------------------------------------------------------


async def _agent_count(session: Any, project_id: uuid.UUID, user: UserOut) -> int | None:
    try:
        from berrys.services.agents import service as agents
    except ImportError:
        return None
    return await agents.count(session, project_id=project_id, user=user)


_NO_RUNS: Any = object()


async def _latest_run(session: Any, project_id: uuid.UUID) -> Any:
    """The latest run's status and progress, None without one, _NO_RUNS without runs."""
    try:
        from berrys.services.workflows import service as runs
    except ImportError:
        return _NO_RUNS
    latest, _ = await runs.get_all(session, project_id=project_id, limit=1, offset=0)
    if not latest:
        return None
    run = await runs.get(session, run_id=latest[0].id)
    return {
        "run_id": str(run.id),
        "status": run.status.value,
        "tasks": len(run.task_runs),
        "completed": sum(1 for t in run.task_runs if t.status.value == "COMPLETED"),
        "cost_usd": run.cost_usd,
        "url": f"/runs/{run.id}",
    }


async def _status(database: Database, turn: Turn, intent: IntentResult) -> Outcome:
    project_id, _name = _target(turn, intent)
    try:
        async with database.transaction(read_only=True) as session:
            if project_id is None:
                mine, total = await projects.get_all(session, user=turn.user, limit=200, offset=0)
                by_status: dict[str, int] = {}
                for project in mine:
                    by_status[project.status.value] = by_status.get(project.status.value, 0) + 1
                if not total:
                    return Outcome(
                        reply="You have no projects yet. Tell me what you want to build, for "
                        'example: "Create a project called Bakery Site to build a website '
                        'for my bakery".',
                        actions=[ChatAction(type=Intent.STATUS, status=Status.COMPLETED)],
                    )
                summary = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
                return Outcome(
                    reply=f"You have {total} project(s): {summary}. Name one to hear more.",
                    actions=[
                        ChatAction(
                            type=Intent.STATUS,
                            status=Status.COMPLETED,
                            result={"projects": total, "by_status": by_status},
                        )
                    ],
                )
            project = await projects.get(session, project_id=project_id, user=turn.user)
            stats = await projects.get_stats(session, project_id=project_id, user=turn.user)
            agents = await _agent_count(session, project_id, turn.user)
            run = await _latest_run(session, project_id)
    except BerrysError as exc:
        return _failed(Intent.STATUS, exc, project_id)
    next_states = ", ".join(s.value for s in stats.allowed_transitions) or "none"
    team = "" if agents is None else f" It has {agents} agent(s)."
    if run is _NO_RUNS:
        progress = " Runs (and so progress and cost) are not available in this version yet."
    elif run is None:
        progress = ' No run yet: say "start it" to run its plan.'
    else:
        done = run["completed"]
        progress = (
            f" Its latest run is {run['status']}: {done} of {run['tasks']} tasks done, "
            f"${run['cost_usd']:.4f} spent."
        )
    return Outcome(
        reply=f'"{project.name}" is {stats.status.value} since '
        f"{stats.status_since:%Y-%m-%d %H:%M} UTC.{team} It can move to: {next_states}."
        f"{progress}",
        project_id=project.id,
        actions=[
            ChatAction(
                type=Intent.STATUS,
                status=Status.COMPLETED,
                result={
                    "project_id": str(project.id),
                    "name": project.name,
                    "status": stats.status.value,
                    "agents": agents,
                    "allowed_transitions": [s.value for s in stats.allowed_transitions],
                    "run": None if run is _NO_RUNS else run,
                    "url": _url(project.id),
                },
            )
        ],
    )


# --- runs and approvals ---------------------------------------------------------------------


def _unavailable(intent: ChatIntent, project_id: uuid.UUID | None) -> Outcome:
    return Outcome(
        reply=RUNS_UNAVAILABLE,
        project_id=project_id,
        actions=[
            ChatAction(
                type=intent,
                status=Status.UNAVAILABLE,
                detail="Runs and approvals are not installed in this version.",
            )
        ],
    )


async def _start_run(
    database: Database, turn: Turn, intent: IntentResult, *, confirmed: bool
) -> Outcome:
    project_id, name = _target(turn, intent)
    try:
        from berrys.services.planning import service as planning
        from berrys.services.workflows import service as runs
        from berrys.services.workflows.contracts import RunCreate
    except ImportError:
        return _unavailable(Intent.START_RUN, project_id)
    if project_id is None:
        return _no_project(Intent.START_RUN)
    if (denied := _read_only(turn.user, Intent.START_RUN)) is not None:
        return denied
    label = f'"{name}"' if name else "the project"
    try:
        async with database.transaction(read_only=True) as session:
            try:
                plan = await planning.get_current(session, project_id=project_id, user=turn.user)
            except NotFound:
                plan = None
    except BerrysError as exc:
        return _failed(Intent.START_RUN, exc, project_id)
    if plan is None or not plan.tasks:
        detail = f"{label} has no plan to run yet."
        return Outcome(
            reply=f'{detail} Say "now plan it" first.',
            project_id=project_id,
            actions=[
                ChatAction(
                    type=Intent.START_RUN,
                    status=Status.FAILED,
                    detail=detail,
                    result={"project_id": str(project_id)},
                )
            ],
        )
    if not confirmed:
        question = (
            f"Starting a run executes plan version {plan.version} of {label} ({len(plan.tasks)} "
            "tasks) with the team's agents; their model and tool calls may cost money. "
            "Start it? (yes / no)"
        )
        return Outcome(
            reply=question,
            project_id=project_id,
            actions=[
                ChatAction(
                    type=Intent.START_RUN,
                    status=Status.NEEDS_CONFIRMATION,
                    detail=question,
                    result={"project_id": str(project_id)},
                )
            ],
            pending=PendingAction(type=Intent.START_RUN, project_id=project_id, question=question),
        )
    try:
        async with database.transaction() as session:
            run = await runs.create_from_plan(
                session, project_id=project_id, run_in=RunCreate(), user=turn.user
            )
    except BerrysError as exc:
        return _failed(Intent.START_RUN, exc, project_id)
    waiting = " It waits for your approval of the plan first." if run.gate_interaction_id else ""
    return Outcome(
        reply=f"I started a run of {label} ({len(run.task_runs)} tasks).{waiting} "
        "Follow it live on its page.",
        project_id=project_id,
        actions=[
            ChatAction(
                type=Intent.START_RUN,
                status=Status.COMPLETED,
                result={
                    "project_id": str(project_id),
                    "run_id": str(run.id),
                    "status": run.status.value,
                    "name": "Follow the run",
                    "url": f"/runs/{run.id}",
                },
            )
        ],
    )


async def _answer_approval(database: Database, turn: Turn, intent: IntentResult) -> Outcome:
    project_id, _name = _target(turn, intent)
    try:
        from berrys.services.interactions import service as interactions
        from berrys.services.interactions.contracts import InteractionResponse
        from berrys.services.workflows import service as runs
    except ImportError:
        return _unavailable(intent.intent, project_id)
    if (denied := _read_only(turn.user, intent.intent)) is not None:
        return denied
    approve = intent.intent == Intent.APPROVE
    try:
        async with database.transaction() as session:
            visible = (
                None
                if turn.user.role == UserRole.ADMIN
                else await projects.visible_ids(session, user=turn.user)
            )
            waiting, total = await interactions.get_all(
                session,
                limit=10,
                offset=0,
                project_ids=visible,
                status=InteractionStatus.PENDING,
                type=HumanInteractionType.APPROVAL,
                project_id=project_id,
            )
            if total != 1:
                return _which_approval(intent.intent, waiting, total, project_id)
            [pending] = waiting
            answered = await runs.respond_interaction(
                session,
                interaction_id=pending.id,
                response=InteractionResponse(approved=approve, comment=intent.comment),
                user=turn.user,
            )
    except BerrysError as exc:
        return _failed(intent.intent, exc, project_id)
    verb = "approved" if approve else "rejected"
    return Outcome(
        reply=f'I {verb} "{answered.title}"'
        + (f' with your comment "{intent.comment}".' if intent.comment else "."),
        project_id=answered.project_id,
        actions=[
            ChatAction(
                type=intent.intent,
                status=Status.COMPLETED,
                result={
                    "project_id": str(answered.project_id),
                    "interaction_id": str(answered.id),
                    "run_id": str(answered.run_id) if answered.run_id else None,
                    "approved": approve,
                    "name": answered.title,
                    "url": f"/runs/{answered.run_id}" if answered.run_id else "/approvals",
                },
            )
        ],
    )


def _which_approval(
    intent: ChatIntent, waiting: list[Any], total: int, project_id: uuid.UUID | None
) -> Outcome:
    where = " for this project" if project_id else ""
    if total == 0:
        return Outcome(reply=f"Nothing is waiting for an approval{where}.", project_id=project_id)
    titles = "; ".join(f'"{w.title}"' for w in waiting[:5])
    return Outcome(
        reply=f"{total} approvals are waiting{where}: {titles}. Answer each in the approvals "
        "inbox (/approvals), where you can see what you are approving.",
        project_id=project_id,
        actions=[
            ChatAction(
                type=intent,
                status=Status.FAILED,
                detail=f"{total} pending approvals; choose one in the inbox.",
                result={"url": "/approvals", "name": "Approvals inbox"},
            )
        ],
    )


# --- dispatch -------------------------------------------------------------------------------


async def _run(
    database: Database, turn: Turn, intent: IntentResult, *, confirmed: bool = False
) -> Outcome:
    match intent.intent:
        case Intent.CREATE_PROJECT:
            return await _create_project(database, turn, intent)
        case Intent.GENERATE_TEAM:
            return await _generate_team(database, turn, intent, confirmed=confirmed)
        case Intent.PLAN:
            return await _plan(database, turn, intent, confirmed=confirmed)
        case Intent.STATUS:
            return await _status(database, turn, intent)
        case Intent.START_RUN:
            return await _start_run(database, turn, intent, confirmed=confirmed)
        case Intent.APPROVE | Intent.REJECT:
            return await _answer_approval(database, turn, intent)
        case Intent.HELP:
            return Outcome(reply=turn.prompts["help"])
        case _:
            return Outcome(reply=turn.prompts["greeting"])


async def dispatch(database: Database, *, turn: Turn, intent: IntentResult) -> Outcome:
    """Carry out the intent; a pending action runs on CONFIRM and is dropped otherwise."""
    try:
        if intent.intent == Intent.CONFIRM and turn.pending is not None:
            pending = turn.pending
            target = IntentResult(intent=pending.type)
            confirmed_turn = _with_project(turn, pending.project_id)
            return await _run(database, confirmed_turn, target, confirmed=True)
        if intent.intent == Intent.CANCEL and turn.pending is not None:
            return Outcome(
                reply="Alright, I won't do that.",
                project_id=turn.pending.project_id,
                actions=[ChatAction(type=turn.pending.type, status=Status.CANCELLED)],
            )
        return await _run(database, turn, intent)
    except Exception:  # a chat answers; the trace goes to the log with the request id
        _log.exception("chat.action_failed", intent=intent.intent.value)
        return Outcome(
            reply="Something went wrong on my side while doing that; it has been logged.",
            actions=[
                ChatAction(
                    type=intent.intent,
                    status=Status.FAILED,
                    detail="Unexpected error; see the log.",
                )
            ],
        )


def _with_project(turn: Turn, project_id: uuid.UUID | None) -> Turn:
    from dataclasses import replace

    return replace(turn, project_id=project_id or turn.project_id)
