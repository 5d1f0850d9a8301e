"""Runs and approvals from chat, through the runs, pipeline and interactions services."""

from __future__ import annotations

import uuid
from typing import Any

from berrys.core.db import Database
from berrys.core.errors import BerrysError, NotFound
from berrys.services.chat._outcome import (
    Intent,
    Outcome,
    Status,
    ask_which_project,
    confirm,
    failed,
    not_ready,
    refuse_read_only,
    target_project,
)
from berrys.services.chat._turn import Turn
from berrys.services.chat.contracts import ChatAction, ChatIntent, IntentResult
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    HumanInteractionType,
    InteractionResponse,
    InteractionStatus,
)
from berrys.services.llm import service as llm
from berrys.services.pipeline import service as pipeline
from berrys.services.planning import service as planning
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunCreate, RunOut


async def start_run(
    models: llm.Runtime, database: Database, turn: Turn, intent: IntentResult, *, confirmed: bool
) -> Outcome:
    project_id, name = target_project(turn, intent)
    if project_id is None:
        return ask_which_project(Intent.START_RUN)
    if (denied := refuse_read_only(turn.user, Intent.START_RUN)) is not None:
        return denied
    label = f'"{name}"' if name else "the project"
    try:
        async with database.transaction(read_only=True) as session:
            try:
                plan = await planning.get_current(session, project_id=project_id, user=turn.user)
            except NotFound:
                plan = None
    except BerrysError as exc:
        return failed(Intent.START_RUN, exc, project_id)
    if plan is None or not plan.tasks:
        detail = f"{label} has no plan to run yet."
        return not_ready(Intent.START_RUN, project_id, detail, 'Say "now plan it" first.')
    if not confirmed:
        question = (
            f"Starting a run executes plan version {plan.version} of {label} ({len(plan.tasks)} "
            "tasks) with the team's agents; their model and tool calls may cost money. "
            "Start it? (yes / no)"
        )
        return confirm(Intent.START_RUN, project_id, question)
    try:
        async with database.transaction() as session:
            run = await pipeline.create_from_plan(
                session,
                models=models,
                database=database,
                project_id=project_id,
                run_in=RunCreate(),
                user=turn.user,
            )
    except BerrysError as exc:
        return failed(Intent.START_RUN, exc, project_id)
    return _run_started(label, project_id, run)


def _run_started(label: str, project_id: uuid.UUID, run: RunOut) -> Outcome:
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


async def answer_approval(database: Database, turn: Turn, intent: IntentResult) -> Outcome:
    project_id, _name = target_project(turn, intent)
    if (denied := refuse_read_only(turn.user, intent.intent)) is not None:
        return denied
    approve = intent.intent == Intent.APPROVE
    try:
        async with database.transaction() as session:
            visible = await projects.visible_scope(session, user=turn.user)
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
        return failed(intent.intent, exc, project_id)
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
