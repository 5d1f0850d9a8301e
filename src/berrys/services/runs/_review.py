"""People's review of deliverables: a task whose outcome has review reasons ends NEEDS_REVIEW.

It counts as done for scheduling, and its run ends COMPLETED_WITH_REVIEW while its project
stays IN_PROGRESS. A person with write access decides per task: ACCEPT (final as it is),
EDIT (their text replaces the artifact and its file) or SEND_BACK (a new attempt with their
feedback; the run is RUNNING again). When the last one is accepted or edited the run is
COMPLETED. Every decision is audited and emits its run event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import utcnow
from berrys.core.errors import Forbidden, InvalidTransition, NotFound, Unprocessable
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.runs import _effects
from berrys.services.runs._control import check_access, get, requeue
from berrys.services.runs.contracts import (
    ArtifactOut,
    ReviewDecision,
    ReviewItem,
    ReviewSummary,
    RunEventType,
    RunOut,
    RunStatus,
    TaskReview,
    TaskRunStatus,
)
from berrys.services.runs.engine import signals
from berrys.services.runs.engine.events import Event
from berrys.services.runs.engine.state import commit_events, lock_run
from berrys.services.runs.tables import Artifact, Run, TaskRun

T = TaskRunStatus
_run = Run.__table__
_task = TaskRun.__table__
_artifact = Artifact.__table__

# Media types a person's text may replace (an .xlsx is edited by hand, then accepted).
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/yaml")
_TEXT_SUFFIXES = ("+json", "+xml", "x-yaml", "x-python", "javascript", "toml")

CONFIGURE_MODEL = (
    "configure a model: BERRYS_OPENAI_BASE_URL=… with BERRYS_OPENAI_API_KEY (any "
    "OpenAI-compatible server), BERRYS_ANTHROPIC_API_KEY or BERRYS_OLLAMA_URL (see README, "
    "Configuration), then send the drafts back or run again"
)


def is_offline(produced_by: str | None, output: dict[str, Any] | None = None) -> bool:
    """Was this drafted without a capable model (rules, an offline draft)?"""
    if output and (output.get("offline") is True or output.get("draft") == "offline"):
        return True
    text = (produced_by or "").lower()
    provider = text.split("/", 1)[0]
    return provider == "rules" or "offline" in text or "catalogue" in text


def _editable(media_type: str) -> bool:
    media_type = media_type.lower()
    return media_type.startswith(_TEXT_TYPES) or media_type.endswith(_TEXT_SUFFIXES)


def _allowed(run_status: RunStatus) -> list[str]:
    """Where a NEEDS_REVIEW task may go: COMPLETED (accept, edit), READY (send back)."""
    if run_status == RunStatus.CANCELLED:
        return [T.COMPLETED.value]
    return [T.COMPLETED.value, T.READY.value]


async def decide(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    task_run_id: uuid.UUID,
    review: TaskReview,
    user: UserOut,
    workspace: Path,
) -> RunOut:
    """Accept, edit or send back a NEEDS_REVIEW task; 409 naming the allowed moves for a
    task in another state. ``workspace``: the workspaces folder an edited file must be in."""
    project_id = await check_access(session, run_id=run_id, user=user)
    if not user.can_write:
        raise Forbidden(f"Role {user.role.value} can only read; a review needs MEMBER or ADMIN")
    await lock_run(session, run_id)
    task = await _task_to_review(session, run_id, task_run_id, review.action)
    reasons = [str(item) for item in (task.output or {}).get("review_reasons") or []]
    if review.action == ReviewDecision.SEND_BACK:
        event, changed = await _send_back_with(session, task_run_id, task, review, user)
    else:
        where = (run_id, project_id, task_run_id)
        event, changed = await _make_final(session, where, task, review, user, workspace, reasons)
    await commit_events(session, run_id, [event], on_status=_effects.status_changed)
    await audit.record(
        session,
        entity_type="task_run",
        entity_id=task_run_id,
        project_id=project_id,
        action=AuditAction.TRANSITION,
        actor_id=user.id,
        before={"status": T.NEEDS_REVIEW.value, "reasons": reasons},
        after={"status": _target(review.action).value, "action": review.action.value, **changed},
    )
    if review.action == ReviewDecision.SEND_BACK:
        signals.wake_after_commit(session)
    return await get(session, run_id=run_id)


def _target(action: ReviewDecision) -> TaskRunStatus:
    return T.READY if action == ReviewDecision.SEND_BACK else T.COMPLETED


async def _task_to_review(
    session: AsyncSession, run_id: uuid.UUID, task_run_id: uuid.UUID, action: ReviewDecision
) -> Any:
    """The task, NEEDS_REVIEW; 409 naming the allowed moves otherwise (none once the run
    is cancelled but accepting)."""
    run_status = RunStatus(
        (await session.execute(select(_run.c.status).where(_run.c.id == run_id))).scalar_one()
    )
    task = (
        await session.execute(
            select(
                _task.c.status,
                _task.c.name,
                _task.c.attempt,
                _task.c.max_attempts,
                _task.c.output,
                _task.c.spec,
            ).where(_task.c.id == task_run_id, _task.c.run_id == run_id)
        )
    ).first()
    if task is None:
        raise NotFound.of("Task run", task_run_id)
    status, target = TaskRunStatus(task.status), _target(action)
    if status != T.NEEDS_REVIEW:
        raise InvalidTransition("Task run", status.value, target.value, [])
    if target.value not in _allowed(run_status):
        raise InvalidTransition("Task run", status.value, target.value, _allowed(run_status))
    return task


async def _send_back_with(
    session: AsyncSession, task_run_id: uuid.UUID, task: Any, review: TaskReview, user: UserOut
) -> tuple[Event, dict[str, Any]]:
    """SEND_BACK: the task runs again with the person's feedback; its event, what changed."""
    feedback = (review.feedback or "").strip()
    if not feedback:
        raise Unprocessable("Say what to change: SEND_BACK needs `feedback`")
    await _send_back(session, task_run_id, task, feedback)
    payload = {"by": str(user.id), "feedback": feedback}
    event = Event(RunEventType.TASK_SENT_BACK, task_run_id, payload)
    return event, {"feedback": feedback, "attempt": task.attempt + 1}


async def _make_final(
    session: AsyncSession,
    where: tuple[uuid.UUID, uuid.UUID, uuid.UUID],
    task: Any,
    review: TaskReview,
    user: UserOut,
    workspace: Path,
    reasons: list[str],
) -> tuple[Event, dict[str, Any]]:
    """ACCEPT or EDIT: the task is COMPLETED, its output saying who reviewed it and why it
    needed review; its event, and what an edit changed."""
    task_run_id = where[2]
    output = dict(task.output or {})
    by = str(user.id)
    changed: dict[str, Any] = {}
    if review.action == ReviewDecision.EDIT:
        changed = await _edit(session, where, review, user, output, workspace)
        event = Event(RunEventType.TASK_EDITED, task_run_id, {"by": by, **changed})
    else:
        event = Event(RunEventType.TASK_ACCEPTED, task_run_id, {"by": by})
    output.pop("review_reasons", None)
    output["reviewed"] = {
        "action": review.action.value,
        "by": by,
        "at": utcnow().isoformat(),
        "reasons": reasons,
        "comment": review.comment,
    }
    await session.execute(
        update(_task)
        .where(_task.c.id == task_run_id)
        .values(status=T.COMPLETED, output=output, finished_at=utcnow())
    )
    return event, changed


async def _send_back(
    session: AsyncSession, task_run_id: uuid.UUID, task: Any, feedback: str
) -> None:
    """A new attempt with the feedback in the task's spec: ``answers`` (what every executor
    shows as answers from people) and ``review_feedback`` (all rounds, oldest first)."""
    spec = dict(task.spec or {})
    answers = dict(spec.get("answers") or {})
    answers[f"review:{task.attempt}"] = f"Reviewer feedback on the previous draft: {feedback}"
    spec["answers"] = answers
    spec["review_feedback"] = [*(spec.get("review_feedback") or []), feedback]
    await requeue(session, task_run_id, task, spec=spec, output_ready=False)
    # The draft's artifacts go; the new attempt writes its own (its files in the same place).
    await session.execute(delete(_artifact).where(_artifact.c.task_run_id == task_run_id))


async def _edit(
    session: AsyncSession,
    where: tuple[uuid.UUID, uuid.UUID, uuid.UUID],
    review: TaskReview,
    user: UserOut,
    output: dict[str, Any],
    workspace: Path,
) -> dict[str, Any]:
    """The person's content replaces an artifact (and its file); what changed."""
    if review.content is None:
        raise Unprocessable("EDIT needs `content`: the text that replaces the deliverable")
    artifacts = (
        await session.execute(
            select(_artifact.c.id, _artifact.c.media_type, _artifact.c.path, _artifact.c.name)
            .where(_artifact.c.task_run_id == where[2])
            .order_by(_artifact.c.created_at, _artifact.c.id)
        )
    ).all()
    produced_by = f"person/{user.email}"[:200]
    output["produced_by"] = produced_by
    if not artifacts:
        if review.artifact_id is not None:
            raise NotFound.of("Artifact", review.artifact_id)
        output["text"] = review.content
        artifact_id = await _edited_artifact(session, where, review.content, produced_by, output)
        return {"artifact_id": str(artifact_id), "path": None}
    chosen = _chosen(artifacts, review.artifact_id)
    path = _inside(chosen.path, workspace)
    await session.execute(
        update(_artifact)
        .where(_artifact.c.id == chosen.id)
        .values(content=review.content, produced_by=produced_by)
    )
    if chosen.id == artifacts[0].id:
        output["text"] = review.content
    if path is not None:
        # Last, after every statement: a failure here rolls the decision back.
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(review.content, encoding="utf-8")
    return {"artifact_id": str(chosen.id), "path": str(path) if path else None}


async def _edited_artifact(
    session: AsyncSession,
    where: tuple[uuid.UUID, uuid.UUID, uuid.UUID],
    content: str,
    produced_by: str,
    output: dict[str, Any],
) -> uuid.UUID:
    """A task that left no artifact gets the person's text as one (Markdown); its id."""
    run_id, project_id, task_run_id = where
    artifact_id = uuid.uuid4()
    await session.execute(
        insert(_artifact).values(
            id=artifact_id,
            run_id=run_id,
            task_run_id=task_run_id,
            project_id=project_id,
            name=str(output.get("task_name") or "Edited deliverable")[:200],
            media_type="text/markdown",
            content=content,
            path=None,
            produced_by=produced_by,
            created_at=utcnow(),
        )
    )
    return artifact_id


def _chosen(artifacts: Sequence[Any], artifact_id: uuid.UUID | None) -> Any:
    """The artifact an edit replaces (the first unless named); 422 when it is not text."""
    if artifact_id is None:
        chosen = artifacts[0]
    else:
        chosen = next((a for a in artifacts if a.id == artifact_id), None)
        if chosen is None:
            raise NotFound.of("Artifact", artifact_id)
    if not _editable(chosen.media_type):
        raise Unprocessable(
            f"Artifact {chosen.name!r} is {chosen.media_type}, not text: edit its file by "
            "hand, then accept the task"
        )
    return chosen


def _inside(path: str | None, workspace: Path) -> Path | None:
    """The artifact's file, refused (422) when it is not in the workspaces folder."""
    if not path:
        return None
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(workspace.resolve()):
        raise Unprocessable(f"The artifact's file {path} is not in the workspace; not written")
    return resolved


async def get_all(
    session: AsyncSession,
    *,
    user: UserOut,
    run_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[ReviewItem]:
    """NEEDS_REVIEW tasks the user may see (of one run, one project, or all), oldest first."""
    query = (
        select(_task, _run.c.project_id)
        .join(_run, _run.c.id == _task.c.run_id)
        .where(_task.c.status == T.NEEDS_REVIEW)
        .order_by(_task.c.finished_at, _task.c.position)
        .limit(limit)
    )
    if run_id is not None:
        await check_access(session, run_id=run_id, user=user)
        query = query.where(_task.c.run_id == run_id)
    if project_id is not None:
        await projects.get(session, project_id=project_id, user=user)
        query = query.where(_run.c.project_id == project_id)
    elif run_id is None:
        visible = await projects.visible_scope(session, user=user)
        if visible is not None:
            query = query.where(_run.c.project_id.in_(visible))
    rows = (await session.execute(query)).all()
    artifacts: dict[uuid.UUID, list[ArtifactOut]] = {}
    if rows:
        for art in await session.execute(
            select(*[_artifact.c[name] for name in ArtifactOut.model_fields])
            .where(_artifact.c.task_run_id.in_([row.id for row in rows]))
            .order_by(_artifact.c.created_at)
        ):
            artifacts.setdefault(art.task_run_id, []).append(
                ArtifactOut.model_validate(dict(art._mapping))
            )
    return [
        ReviewItem(
            run_id=row.run_id,
            project_id=row.project_id,
            task_run_id=row.id,
            key=row.key,
            name=row.name,
            reasons=[str(item) for item in (row.output or {}).get("review_reasons") or []],
            produced_by=(row.output or {}).get("produced_by"),
            offline=_offline_task(row.output, artifacts.get(row.id, [])),
            artifacts=artifacts.get(row.id, []),
            finished_at=row.finished_at,
        )
        for row in rows
    ]


def _offline_task(output: dict[str, Any] | None, artifacts: list[ArtifactOut]) -> bool:
    output = output or {}
    if is_offline(output.get("produced_by"), output):
        return True
    return any(is_offline(artifact.produced_by) for artifact in artifacts)


def summarize(run: RunOut) -> ReviewSummary:
    """How many of the run's deliverables are final, how many need a person and why, and
    what would make them final."""
    by_task: dict[uuid.UUID, list[ArtifactOut]] = {}
    for artifact in run.artifacts:
        by_task.setdefault(artifact.task_run_id, []).append(artifact)
    items: list[ReviewItem] = []
    reasons: Counter[str] = Counter()
    for task in run.task_runs:
        if task.status != T.NEEDS_REVIEW:
            continue
        reasons.update(task.review_reasons)
        items.append(
            ReviewItem(
                run_id=run.id,
                project_id=run.project_id,
                task_run_id=task.id,
                key=task.key,
                name=task.name,
                reasons=task.review_reasons,
                produced_by=(task.output or {}).get("produced_by"),
                offline=_offline_task(task.output, by_task.get(task.id, [])),
                artifacts=by_task.get(task.id, []),
                finished_at=task.finished_at,
            )
        )
    final = sum(task.status == T.COMPLETED for task in run.task_runs)
    offline = sum(item.offline for item in items)
    make_final: list[str] = []
    if offline:
        make_final.append(CONFIGURE_MODEL)
    if items:
        make_final += [
            f"see what needs you: berrys review list {run.id}",
            "accept a draft as it is: berrys review accept TASK_ID",
            "replace it with your text: berrys review edit TASK_ID FILE",
            'or send it back with feedback: berrys review send-back TASK_ID --feedback "…"',
        ]
    return ReviewSummary(
        status=run.status,
        final=final,
        needs_review=len(items),
        not_done=len(run.task_runs) - final - len(items),
        reasons=dict(reasons.most_common()),
        offline_drafts=offline,
        make_final=make_final,
        tasks=items,
    )
