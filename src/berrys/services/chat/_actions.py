"""What Berry does for an intent, through the owning services' own interfaces.

Each action runs in its own unit of work and goes through the same function the REST API
calls (``projects.service.create``, ``agents.service.generate``, ...), so a project
created in chat is exactly a project created over REST. Costly or destructive actions are
proposed first and run on the user's yes. Questions (STATUS) are answered by :mod:`answers`,
which only reads; a message Berry did not understand gets :mod:`guide`'s list of what it can
do with the project.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import structlog
from pydantic import ValidationError

from berrys.core.db import Database
from berrys.core.errors import BerrysError, NotFound
from berrys.services.agents import service as agents
from berrys.services.agents.contracts import GenerateRequest
from berrys.services.chat import _answers, _questions, _runs
from berrys.services.chat._guide import guide
from berrys.services.chat._outcome import (
    Intent,
    Outcome,
    Status,
    agent_count,
    ask_which_project,
    confirm,
    failed,
    not_ready,
    project_url,
    refuse_read_only,
    target_project,
)
from berrys.services.chat._turn import Turn
from berrys.services.chat.contracts import ChatAction, IntentResult
from berrys.services.llm import service as llm
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import PlanCreate
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate

_log = structlog.get_logger("berrys.chat")


# --- CREATE_PROJECT -------------------------------------------------------------------------


async def _create_project(database: Database, turn: Turn, intent: IntentResult) -> Outcome:
    if (denied := refuse_read_only(turn.user, Intent.CREATE_PROJECT)) is not None:
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
        return failed(Intent.CREATE_PROJECT, exc, None)
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
                    "url": project_url(project.id),
                },
            )
        ],
    )


# --- GENERATE_TEAM --------------------------------------------------------------------------


async def _generate_team(
    models: llm.Runtime, database: Database, turn: Turn, intent: IntentResult, *, confirmed: bool
) -> Outcome:
    project_id, name = target_project(turn, intent)
    if project_id is None:
        return ask_which_project(Intent.GENERATE_TEAM)
    if (denied := refuse_read_only(turn.user, Intent.GENERATE_TEAM)) is not None:
        return denied
    try:
        async with database.transaction(read_only=True) as session:
            existing = await agents.count(session, project_id=project_id, user=turn.user)
    except BerrysError as exc:
        return failed(Intent.GENERATE_TEAM, exc, project_id)
    label = f'"{name}"' if name else "the project"
    if existing and not confirmed:
        question = (
            f"{label} already has {existing} agent(s). Generating again replaces the generated "
            "agents that have not started yet. Shall I go ahead? (yes / no)"
        )
        return confirm(Intent.GENERATE_TEAM, project_id, question)
    try:
        generated = await agents.generate(
            models, database, project_id=project_id, request=GenerateRequest(), user=turn.user
        )
    except BerrysError as exc:
        return failed(Intent.GENERATE_TEAM, exc, project_id)
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
                    "url": project_url(project_id, "team"),
                },
            )
        ],
    )


# --- PLAN -----------------------------------------------------------------------------------


async def _plan(
    models: llm.Runtime, database: Database, turn: Turn, intent: IntentResult, *, confirmed: bool
) -> Outcome:
    project_id, name = target_project(turn, intent)
    if project_id is None:
        return ask_which_project(Intent.PLAN)
    if (denied := refuse_read_only(turn.user, Intent.PLAN)) is not None:
        return denied
    label = f'"{name}"' if name else "the project"
    try:
        async with database.transaction(read_only=True) as session:
            team = await agent_count(session, project_id, turn.user)
            try:
                current = await planning.get_current(session, project_id=project_id, user=turn.user)
            except NotFound:
                current = None
    except BerrysError as exc:
        return failed(Intent.PLAN, exc, project_id)
    if not team:
        detail = f"{label} has no team yet to assign tasks to."
        hint = 'Say "generate the team" first, then ask me to plan it.'
        return not_ready(Intent.PLAN, project_id, detail, hint)
    if current is not None and not confirmed:
        question = (
            f"{label} already has a plan (version {current.version}, {len(current.tasks)} "
            "tasks). Shall I draft a new version and make it the current plan? (yes / no)"
        )
        return confirm(Intent.PLAN, project_id, question)
    try:
        plan = await planning.create_plan(
            models, database, project_id=project_id, plan_in=PlanCreate(), user=turn.user
        )
    except BerrysError as exc:
        return failed(Intent.PLAN, exc, project_id)
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
                    "url": project_url(project_id, "plan"),
                },
            )
        ],
    )


# --- dispatch -------------------------------------------------------------------------------


async def _run(
    models: llm.Runtime,
    database: Database,
    turn: Turn,
    intent: IntentResult,
    *,
    confirmed: bool = False,
) -> Outcome:
    match intent.intent:
        case Intent.CREATE_PROJECT:
            return await _create_project(database, turn, intent)
        case Intent.GENERATE_TEAM:
            return await _generate_team(models, database, turn, intent, confirmed=confirmed)
        case Intent.PLAN:
            return await _plan(models, database, turn, intent, confirmed=confirmed)
        case Intent.STATUS:
            return await _answers.answer(database, turn, intent)
        case Intent.START_RUN:
            return await _runs.start_run(models, database, turn, intent, confirmed=confirmed)
        case Intent.APPROVE | Intent.REJECT:
            return await _runs.answer_approval(database, turn, intent)
        case Intent.HELP:
            if target_project(turn, intent)[0] is None:
                return Outcome(reply=turn.prompts["help"])
            return await guide(database, turn, intent, lead=turn.prompts["help"])
        case _ if _questions.is_greeting(turn.content):
            return Outcome(reply=turn.prompts["greeting"])
        case _:
            return await guide(database, turn, intent)


async def dispatch(
    models: llm.Runtime, database: Database, *, turn: Turn, intent: IntentResult
) -> Outcome:
    """Carry out the intent; a pending action runs on CONFIRM and is dropped otherwise."""
    try:
        if intent.intent == Intent.CONFIRM and turn.pending is not None:
            pending = turn.pending
            target = IntentResult(intent=pending.type)
            confirmed_turn = _with_project(turn, pending.project_id)
            return await _run(models, database, confirmed_turn, target, confirmed=True)
        if intent.intent == Intent.CANCEL and turn.pending is not None:
            return Outcome(
                reply="Alright, I won't do that.",
                project_id=turn.pending.project_id,
                actions=[ChatAction(type=turn.pending.type, status=Status.CANCELLED)],
            )
        outcome = await _run(models, database, turn, intent)
        if turn.pending is not None and intent.intent in READ_ONLY:
            # A question in between leaves the proposal standing: "yes" still carries it out.
            outcome.pending = turn.pending
            outcome.reply += f"\n\n(Still waiting for your yes or no: {turn.pending.question})"
        return outcome
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


READ_ONLY = frozenset({Intent.STATUS, Intent.HELP, Intent.SMALL_TALK})


def _with_project(turn: Turn, project_id: uuid.UUID | None) -> Turn:
    return replace(turn, project_id=project_id or turn.project_id)
