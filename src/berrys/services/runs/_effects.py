"""What a run's changes mean for the services around it (the engine's run hooks).

A run's status change is audited and its project follows it: IN_PROGRESS while the run works,
COMPLETED or REVIEW at its end, however the run was started (the pipeline, chat, REST, the
dashboard). A task's question for a person becomes an APPROVAL interaction. Both are written
in the transaction of the change.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core import tracing
from berrys.core.errors import NotFound
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth import service as auth
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import HumanInteractionType
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectStatus
from berrys.services.runs.contracts import RUN_TERMINAL, RunStatus
from berrys.services.runs.engine.hooks import ApprovalAsked, StatusChange
from berrys.services.runs.tables import Run

_log = structlog.get_logger("berrys.runs")
_run = Run.__table__
# A run in one of these has not finished with the project: it works, waits for a person,
# or holds drafts for review. The project's end waits for the last of them.
_OPEN = frozenset(set(RunStatus) - RUN_TERMINAL) | {RunStatus.COMPLETED_WITH_REVIEW}


async def status_changed(session: AsyncSession, change: StatusChange) -> None:
    """A run's status change in the audit log; its project's status follows."""
    await audit.record(
        session,
        entity_type="run",
        entity_id=change.run_id,
        project_id=change.project_id,
        action=AuditAction.TRANSITION,
        actor_id=None,
        before={"status": change.old.value},
        after={"status": change.new.value},
    )
    await follow_run(session, change)
    traceparent = change.options.get(tracing.TRACEPARENT)
    if traceparent and change.new in RUN_TERMINAL and change.old not in RUN_TERMINAL:
        await _end_workflow_span(session, change, traceparent)


async def _end_workflow_span(session: AsyncSession, change: StatusChange, traceparent: str) -> None:
    """The run's workflow span, from its creation to its end, with what it cost."""
    run = (
        await session.execute(
            select(_run.c.created_at, _run.c.cost_usd, _run.c.tokens).where(
                _run.c.id == change.run_id
            )
        )
    ).one()
    tracing.end_workflow(
        traceparent,
        name="berrys.run",
        started_at=run.created_at,
        attributes={
            "berrys.run.id": str(change.run_id),
            "berrys.project.id": str(change.project_id),
            "berrys.run.status": change.new.value,
            tracing.COST_USD: float(run.cost_usd),
            "berrys.tokens": int(run.tokens),
        },
        error=change.new.value if change.new == RunStatus.FAILED else None,
    )


async def ask_person(session: AsyncSession, asked: ApprovalAsked) -> uuid.UUID:
    """The APPROVAL a waiting task needs; its id."""
    created = await interactions.create(
        session,
        type=HumanInteractionType.APPROVAL,
        project_id=asked.project_id,
        run_id=asked.run_id,
        task_run_id=asked.task_run_id,
        title=asked.title,
        prompt=asked.prompt,
        priority=asked.priority,
        expires_at=asked.expires_at,
        escalation=asked.escalation,
        on_reject=asked.on_reject,
        details={"subject": asked.subject.value, **asked.details},
    )
    return created.id


async def follow_run(session: AsyncSession, change: StatusChange) -> None:
    """The project follows its run's status change: IN_PROGRESS when the run works (RUNNING);
    at its end COMPLETED (all done; REVIEW with the ``review_project`` option) or REVIEW
    (FAILED or CANCELLED: a person looks), once no other run of the project is open.

    COMPLETED_WITH_REVIEW moves nothing: the project stays IN_PROGRESS until a person has
    accepted the last deliverable that needs review (the run then becomes COMPLETED). A move
    the project's lifecycle does not allow (it was archived, completed or moved by hand) is
    skipped, and so is any move once the run's creator may no longer see the project: the
    project is moved for the person who started its run, if anyone."""
    creator = change.options.get("created_by")
    target = _follows(change)
    if not creator or target is None:
        return
    if change.new in RUN_TERMINAL and await _other_open_runs(session, change):
        return
    user = await auth.acting_for(session, user_id=uuid.UUID(creator))
    if user is None:
        return
    verb = "started" if change.new == RunStatus.RUNNING else change.new.value
    try:
        await projects.advance(
            session,
            project_id=change.project_id,
            to_status=target,
            user=user,
            reason=f"run {change.run_id} {verb}",
        )
    except NotFound:
        _log.info("runs.project_not_followed", run=str(change.run_id), reason="no access")


def _follows(change: StatusChange) -> ProjectStatus | None:
    """Where a run in its new status takes its project, if anywhere."""
    if change.new == RunStatus.RUNNING:
        return ProjectStatus.IN_PROGRESS
    if change.new == RunStatus.COMPLETED:
        review = change.options.get("review_project")
        return ProjectStatus.REVIEW if review else ProjectStatus.COMPLETED
    if change.new in (RunStatus.FAILED, RunStatus.CANCELLED):
        # a stopped run is not a dead project: from REVIEW a new run can start (a run
        # cancelled before it started leaves a PLANNING project where it is)
        return ProjectStatus.REVIEW
    return None


async def _other_open_runs(session: AsyncSession, change: StatusChange) -> bool:
    found = await session.execute(
        select(_run.c.id)
        .where(
            _run.c.project_id == change.project_id,
            _run.c.id != change.run_id,
            _run.c.status.in_(list(_OPEN)),
        )
        .limit(1)
    )
    return found.first() is not None
