"""People's answers to a run's questions: what an answered or expired interaction means for
its run (a task READY again, failed or skipped; a plan gate opened or the run cancelled),
applied in the transaction that records the answer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    ApprovalSubject,
    HumanInteractionType,
    InteractionOut,
    InteractionResponse,
    InteractionStatus,
)
from berrys.services.projects import service as projects
from berrys.services.runs import _effects
from berrys.services.runs.contracts import TERMINAL, RunEventType, StepResolution, TaskRunStatus
from berrys.services.runs.engine import signals
from berrys.services.runs.engine.events import Event
from berrys.services.runs.engine.execution import finish_task_by_policy
from berrys.services.runs.engine.state import commit_events, initial_ready, lock_run
from berrys.services.runs.tables import Run, Step, TaskRun

T = TaskRunStatus
_run = Run.__table__
_task = TaskRun.__table__
_step = Step.__table__


@dataclass(frozen=True)
class Answer:
    """A person's answer (or its expiry) as its run reads it."""

    interaction: InteractionOut
    approved: bool
    subject: ApprovalSubject | None
    details: dict[str, Any]
    # What a clarification or a feedback says: the task reads it among its answers.
    text: str | None

    @property
    def task_run_id(self) -> uuid.UUID | None:
        return self.interaction.task_run_id


def _approval(interaction: InteractionOut) -> Answer:
    detail = interaction.detail
    subject = detail.get("subject")
    return Answer(
        interaction,
        approved=bool(detail.get("approved")),
        subject=ApprovalSubject(subject) if subject else None,
        details=detail.get("details") or {},
        text=None,
    )


def _reply(interaction: InteractionOut) -> Answer:
    """A clarification, a feedback or a notification: answering it lets the task go on."""
    detail = interaction.detail
    text = detail.get("answer") or detail.get("feedback")
    return Answer(interaction, approved=True, subject=None, details={}, text=text)


_READ: dict[HumanInteractionType, Callable[[InteractionOut], Answer]] = {
    HumanInteractionType.APPROVAL: _approval,
    HumanInteractionType.CLARIFICATION: _reply,
    HumanInteractionType.FEEDBACK: _reply,
    HumanInteractionType.NOTIFICATION: _reply,
}


class Grant(BaseModel):
    """What an approval of a task may give it for its next attempts (``grant`` key)."""

    grant: str | None = None


class RerunDetails(BaseModel):
    """A TOOL_RERUN approval: the step whose call was in flight when its worker stopped."""

    step_seq: int | None = None


class BudgetDetails(BaseModel):
    """A BUDGET approval: the budget the run gets once approved."""

    new_budget_usd: float | None = None


async def apply_interaction(session: AsyncSession, interaction: InteractionOut) -> None:
    """What an answered or expired interaction means for its run, in the same transaction."""
    if interaction.run_id is None or interaction.status == InteractionStatus.PENDING:
        return
    run_id = interaction.run_id
    await lock_run(session, run_id)
    answer = _READ[interaction.type](interaction)
    events = [_resolved(answer)]
    if await _gate_of(session, run_id) == interaction.id:
        await _open_gate(session, run_id, events, approved=answer.approved)
    elif answer.task_run_id is not None:
        await _answer_task(session, answer, events)
    await commit_events(session, run_id, events, on_status=_effects.status_changed)
    signals.wake_after_commit(session)


def _resolved(answer: Answer) -> Event:
    interaction = answer.interaction
    payload = {
        "interaction_id": str(interaction.id),
        "type": interaction.type.value,
        "status": interaction.status.value,
        "approved": answer.approved,
    }
    return Event(RunEventType.INTERACTION_RESOLVED, interaction.task_run_id, payload)


async def _gate_of(session: AsyncSession, run_id: uuid.UUID) -> uuid.UUID | None:
    """The interaction the run waits on before any task starts (plan approval), if any."""
    query = select(_run.c.gate_interaction_id).where(_run.c.id == run_id)
    return (await session.execute(query)).scalar_one_or_none()


async def _open_gate(
    session: AsyncSession, run_id: uuid.UUID, events: list[Event], *, approved: bool
) -> None:
    """An approved plan lets its first tasks start; a rejected one cancels the run."""
    if approved:
        await session.execute(
            update(_run).where(_run.c.id == run_id).values(gate_interaction_id=None)
        )
        await initial_ready(session, run_id, events)
        return
    cancelled = await session.scalars(
        update(_task)
        .where(_task.c.run_id == run_id, _task.c.status.not_in(list(TERMINAL)))
        .values(status=T.CANCELLED, finished_at=utcnow())
        .returning(_task.c.id)
    )
    # One event per state change: a stream learns of each task cancelled with the run.
    events += [Event(RunEventType.TASK_CANCELLED, task_id) for task_id in list(cancelled)]
    await session.execute(
        update(_run)
        .where(_run.c.id == run_id)
        .values(gate_interaction_id=None, cancel_requested=True)
    )
    events.append(Event(RunEventType.RUN_CANCELLED, None, {"by": "plan rejected"}))


async def _answer_task(session: AsyncSession, answer: Answer, events: list[Event]) -> None:
    """A task waiting for this answer goes on (READY) or ends as its rejection policy says;
    the approval's subject has its own effect first."""
    task_run_id = answer.task_run_id
    assert task_run_id is not None
    query = select(_task.c.status, _task.c.attempt, _task.c.grants, _task.c.spec)
    task = (await session.execute(query.where(_task.c.id == task_run_id))).first()
    if task is None or TaskRunStatus(task.status) != T.AWAITING_INPUT:
        return
    effect = _SUBJECT_EFFECTS.get(answer.subject) if answer.subject else None
    if effect is not None:
        await effect(session, answer, task)
    if answer.approved:
        await _resume(session, answer, task, events)
        return
    interaction = answer.interaction
    ended = "expired" if interaction.status == InteractionStatus.EXPIRED else "rejected"
    await finish_task_by_policy(
        session, task_run_id, f"{interaction.title}: {ended}", interaction.on_reject, events
    )


async def _decide_rerun(session: AsyncSession, answer: Answer, task: Any) -> None:
    """The person's decision about a tool call in flight when its worker stopped."""
    step_seq = RerunDetails.model_validate(answer.details).step_seq
    if step_seq is None:
        return
    decision = StepResolution.RERUN if answer.approved else StepResolution.REJECT
    await session.execute(
        update(_step)
        .where(
            _step.c.task_run_id == answer.task_run_id,
            _step.c.attempt == task.attempt,
            _step.c.seq == step_seq,
        )
        .values(resolution=decision.value)  # a plain string column
    )


async def _raise_budget(session: AsyncSession, answer: Answer, task: Any) -> None:
    """An approved BUDGET approval gives the run its new budget."""
    budget = BudgetDetails.model_validate(answer.details).new_budget_usd
    if answer.approved and budget:
        run_id = answer.interaction.run_id
        await session.execute(update(_run).where(_run.c.id == run_id).values(budget_usd=budget))


_SUBJECT_EFFECTS: dict[ApprovalSubject, Callable[[AsyncSession, Answer, Any], Awaitable[None]]] = {
    ApprovalSubject.TOOL_RERUN: _decide_rerun,
    ApprovalSubject.BUDGET: _raise_budget,
}


async def _resume(session: AsyncSession, answer: Answer, task: Any, events: list[Event]) -> None:
    """The task is READY again, with the grant the approval gives and the person's answer."""
    values: dict[str, Any] = {"status": T.READY}
    grant = Grant.model_validate(answer.details).grant
    if grant:
        values["grants"] = [*(task.grants or []), grant]
    if answer.interaction.type != HumanInteractionType.APPROVAL:
        answers = dict((task.spec or {}).get("answers") or {})
        answers[str(answer.interaction.id)] = answer.text
        values["spec"] = {**(task.spec or {}), "answers": answers}
    await session.execute(update(_task).where(_task.c.id == answer.task_run_id).values(**values))
    payload = {"interaction_id": str(answer.interaction.id)}
    events.append(Event(RunEventType.TASK_RESUMED, answer.task_run_id, payload))


async def respond_interaction(
    session: AsyncSession,
    *,
    interaction_id: uuid.UUID,
    response: InteractionResponse,
    user: UserOut | None,
) -> InteractionOut:
    """Record a person's answer and apply it to the waiting run, in one transaction."""
    project_ids = None if user is None else await projects.visible_scope(session, user=user)
    # The run's lock first, as every change of a run's state takes it (lock_run): answering
    # records an audit entry, which locks the chain's head, and taken in the other order it
    # deadlocked on PostgreSQL with a group commit that held the run and wanted the head.
    asked = await interactions.get(session, interaction_id=interaction_id, project_ids=project_ids)
    if asked.run_id is not None:
        await lock_run(session, asked.run_id)
    answered = await interactions.respond(
        session,
        interaction_id=interaction_id,
        response=response,
        actor_id=user.id if user else None,
        project_ids=project_ids,
    )
    await apply_interaction(session, answered)
    return answered


async def expire_interactions(database: Database) -> int:
    """Apply the escalation rule of every expired interaction (the engine calls this)."""
    async with database.transaction(read_only=True) as session:
        due = await interactions.due_count(session)
    if not due:
        return 0
    now = utcnow()
    async with database.transaction() as session:
        for run_id in await interactions.due_run_ids(session, now=now):
            await lock_run(session, run_id)  # before the audit entries (respond_interaction)
        closed = await interactions.expire_due(session, now=now)
        for interaction in closed:
            await apply_interaction(session, interaction)
    return len(closed)
