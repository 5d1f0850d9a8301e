"""Human-in-the-loop: approvals, clarifications, feedback and notifications.

This service owns the interaction rows only. What a response means for a run (a task made
READY, failed or skipped) is applied by the runs service in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.core.enums import Priority
from berrys.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.interactions.contracts import (
    ApprovalSubject,
    EscalationRule,
    HumanInteractionType,
    InteractionOut,
    InteractionResponse,
    InteractionStatus,
    NotificationLevel,
    RejectionPolicy,
)
from berrys.services.interactions.tables import (
    Approval,
    Clarification,
    Feedback,
    HumanInteraction,
    Notification,
)

__all__ = [
    "answered",
    "cancel_pending",
    "create",
    "due_count",
    "due_run_ids",
    "expire_due",
    "get",
    "get_all",
    "notify",
    "pending_count",
    "respond",
    "take_tool_approval",
]

I = HumanInteractionType  # noqa: E741
_common = HumanInteraction.__table__
_detail_tables = {
    I.APPROVAL: Approval.__table__,
    I.CLARIFICATION: Clarification.__table__,
    I.FEEDBACK: Feedback.__table__,
    I.NOTIFICATION: Notification.__table__,
}
_PRIORITY_UP = {
    Priority.LOW: Priority.MEDIUM,
    Priority.MEDIUM: Priority.HIGH,
    Priority.HIGH: Priority.CRITICAL,
    Priority.CRITICAL: Priority.CRITICAL,
}
MAX_ESCALATIONS = 2


def _detail_values(type: HumanInteractionType, details: dict[str, Any]) -> dict[str, Any]:
    if type == I.APPROVAL:
        extra = {k: v for k, v in details.items() if k != "subject"}
        return {"subject": ApprovalSubject(details.get("subject", "TOOL_CALL")), "details": extra}
    if type == I.CLARIFICATION:
        return {"question": details.get("question", ""), "options": details.get("options", [])}
    if type == I.FEEDBACK:
        return {"subject": details.get("subject", "")}
    return {
        "level": NotificationLevel(details.get("level", "INFO")),
        "message": details.get("message", ""),
    }


async def create(
    session: AsyncSession,
    *,
    type: HumanInteractionType,
    project_id: uuid.UUID,
    title: str,
    prompt: str = "",
    run_id: uuid.UUID | None = None,
    task_run_id: uuid.UUID | None = None,
    priority: Priority = Priority.MEDIUM,
    expires_at: datetime | None = None,
    escalation: EscalationRule = EscalationRule.REJECT,
    on_reject: RejectionPolicy = RejectionPolicy.FAIL,
    details: dict[str, Any] | None = None,
    actor_id: uuid.UUID | None = None,
) -> InteractionOut:
    """A PENDING interaction (a NOTIFICATION too: it waits for an acknowledgement)."""
    interaction_id = uuid.uuid4()
    now = utcnow()
    await session.execute(
        insert(_common).values(
            id=interaction_id,
            type=type,
            status=InteractionStatus.PENDING,
            priority=priority,
            project_id=project_id,
            run_id=run_id,
            task_run_id=task_run_id,
            title=title[:300],
            prompt=prompt,
            expires_at=expires_at,
            escalation=escalation,
            escalations=0,
            on_reject=on_reject,
            created_at=now,
        )
    )
    await session.execute(
        insert(_detail_tables[type]).values(
            interaction_id=interaction_id, **_detail_values(type, details or {})
        )
    )
    created = await _load(session, interaction_id)
    await audit.record(
        session,
        entity_type="human_interaction",
        entity_id=interaction_id,
        project_id=project_id,
        action=AuditAction.CREATE,
        actor_id=actor_id,
        after=created,
    )
    return created


async def notify(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    title: str,
    message: str,
    level: NotificationLevel = NotificationLevel.INFO,
    run_id: uuid.UUID | None = None,
) -> InteractionOut:
    return await create(
        session,
        type=I.NOTIFICATION,
        project_id=project_id,
        run_id=run_id,
        title=title,
        prompt=message,
        priority=Priority.LOW if level == NotificationLevel.INFO else Priority.MEDIUM,
        details={"level": level, "message": message},
    )


def _detail_of(type: HumanInteractionType, row: Any) -> dict[str, Any]:
    if row is None:
        return {}
    data = {k: v for k, v in row._mapping.items() if k != "interaction_id"}
    for key, value in data.items():
        if hasattr(value, "value"):
            data[key] = value.value
    return data


async def _load(session: AsyncSession, interaction_id: uuid.UUID) -> InteractionOut:
    row = (await session.execute(select(_common).where(_common.c.id == interaction_id))).first()
    if row is None:
        raise NotFound.of("Interaction", interaction_id)
    type = HumanInteractionType(row.type)
    table = _detail_tables[type]
    detail = (
        await session.execute(select(table).where(table.c.interaction_id == interaction_id))
    ).first()
    return InteractionOut.model_validate({**row._mapping, "detail": _detail_of(type, detail)})


async def get(
    session: AsyncSession,
    *,
    interaction_id: uuid.UUID,
    project_ids: Collection[uuid.UUID] | None = None,
) -> InteractionOut:
    """One interaction; with ``project_ids`` (the caller's visible projects) others are 404."""
    found = await _load(session, interaction_id)
    if project_ids is not None and found.project_id not in project_ids:
        raise NotFound.of("Interaction", interaction_id)
    return found


async def get_all(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    project_ids: Collection[uuid.UUID] | None = None,
    status: InteractionStatus | None = None,
    project_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    type: HumanInteractionType | None = None,
    created_before: datetime | None = None,
) -> tuple[list[InteractionOut], int]:
    """A page of interactions, newest first; ``created_before`` keeps those older than it."""
    conditions: list[ColumnElement[bool]] = []
    if created_before is not None:
        conditions.append(_common.c.created_at < created_before)
    if project_ids is not None:
        conditions.append(_common.c.project_id.in_(list(project_ids)))
    if status is not None:
        conditions.append(_common.c.status == status)
    if project_id is not None:
        conditions.append(_common.c.project_id == project_id)
    if run_id is not None:
        conditions.append(_common.c.run_id == run_id)
    if type is not None:
        conditions.append(_common.c.type == type)
    ids, total = await fetch_page(
        session,
        select(_common.c.id).where(*conditions).order_by(_common.c.created_at.desc(), _common.c.id),
        limit=limit,
        offset=offset,
    )
    return [await _load(session, interaction_id) for interaction_id in ids], total


async def answered(
    session: AsyncSession, *, interaction_ids: Collection[uuid.UUID]
) -> list[InteractionOut]:
    """Those of these interactions no longer PENDING (answered, expired or cancelled)."""
    if not interaction_ids:
        return []
    ids = await session.scalars(
        select(_common.c.id).where(
            _common.c.id.in_(list(interaction_ids)),
            _common.c.status != InteractionStatus.PENDING,
        )
    )
    return [await _load(session, interaction_id) for interaction_id in ids]


def _response_values(type: HumanInteractionType, response: InteractionResponse) -> dict[str, Any]:
    if type == I.APPROVAL:
        if response.approved is None:
            raise Unprocessable("An approval is answered with {approved, comment?}")
        return {"approved": response.approved, "comment": response.comment}
    if type == I.CLARIFICATION:
        if not response.answer:
            raise Unprocessable("A clarification is answered with {answer}")
        return {"answer": response.answer}
    if type == I.FEEDBACK:
        if response.feedback is None:
            raise Unprocessable("Feedback is answered with {feedback}")
        return {"feedback": response.feedback}
    if response.acknowledged is not True:
        raise Unprocessable("A notification is answered with {acknowledged: true}")
    return {"acknowledged": True}


def _check_answerer(interaction: InteractionOut, actor_id: uuid.UUID | None) -> None:
    """An approval whose details name ``not_answered_by`` (who asked for it, when a second
    person must decide) is refused (403) to that user."""
    details = interaction.detail.get("details") or {}
    barred = details.get("not_answered_by")
    if barred is not None and actor_id is not None and str(actor_id) == barred:
        raise Forbidden("Someone other than who asked for this must answer it")


async def respond(
    session: AsyncSession,
    *,
    interaction_id: uuid.UUID,
    response: InteractionResponse,
    actor_id: uuid.UUID | None,
    project_ids: Collection[uuid.UUID] | None = None,
) -> InteractionOut:
    """Record a person's answer; only a PENDING interaction can be answered (else 409)."""
    before = await get(session, interaction_id=interaction_id, project_ids=project_ids)
    _check_answerer(before, actor_id)
    values = _response_values(before.type, response)
    # An UPDATE's result is a CursorResult (the session's signature says only Result).
    changed = cast(
        CursorResult[Any],
        await session.execute(
            update(_common)
            .where(_common.c.id == interaction_id, _common.c.status == InteractionStatus.PENDING)
            .values(
                status=InteractionStatus.RESPONDED, responded_by=actor_id, responded_at=utcnow()
            )
        ),
    )
    if changed.rowcount != 1:
        raise Conflict(
            f"Interaction {interaction_id} is {before.status}; only a PENDING one can be answered",
            current_status=before.status.value,
        )
    table = _detail_tables[before.type]
    await session.execute(
        update(table).where(table.c.interaction_id == interaction_id).values(**values)
    )
    after = await _load(session, interaction_id)
    await audit.record(
        session,
        entity_type="human_interaction",
        entity_id=interaction_id,
        project_id=after.project_id,
        action=AuditAction.RESPOND,
        actor_id=actor_id,
        before=before,
        after=after,
    )
    return after


async def expire_due(session: AsyncSession, *, now: datetime | None = None) -> list[InteractionOut]:
    """Apply the escalation rule of every PENDING interaction past its expiry.

    REJECT and APPROVE close it as EXPIRED (an approval is recorded as rejected or approved);
    ESCALATE raises its priority and extends the expiry by its original span, up to
    ``MAX_ESCALATIONS`` times, then rejects. Returns the ones that closed.
    """
    now = now or utcnow()
    rows = (
        await session.execute(
            select(_common).where(
                _common.c.status == InteractionStatus.PENDING,
                _common.c.expires_at.is_not(None),
                _common.c.expires_at <= now,
            )
        )
    ).all()
    closed: list[InteractionOut] = []
    for row in rows:
        rule = EscalationRule(row.escalation)
        if rule == EscalationRule.ESCALATE and row.escalations < MAX_ESCALATIONS:
            span = max(row.expires_at - row.created_at, timedelta(seconds=1))
            await session.execute(
                update(_common)
                .where(_common.c.id == row.id)
                .values(
                    priority=_PRIORITY_UP[Priority(row.priority)],
                    escalations=row.escalations + 1,
                    expires_at=now + span,
                )
            )
            continue
        await session.execute(
            update(_common)
            .where(_common.c.id == row.id, _common.c.status == InteractionStatus.PENDING)
            .values(status=InteractionStatus.EXPIRED, responded_at=now)
        )
        if HumanInteractionType(row.type) == I.APPROVAL:
            await session.execute(
                update(Approval.__table__)
                .where(Approval.__table__.c.interaction_id == row.id)
                .values(
                    approved=rule == EscalationRule.APPROVE,
                    comment=f"expired; escalation rule {rule.value}",
                )
            )
        after = await _load(session, row.id)
        await audit.record(
            session,
            entity_type="human_interaction",
            entity_id=row.id,
            project_id=row.project_id,
            action=AuditAction.UPDATE,
            actor_id=None,
            after=after,
        )
        closed.append(after)
    return closed


async def cancel_pending(
    session: AsyncSession, *, run_id: uuid.UUID, task_run_id: uuid.UUID | None = None
) -> int:
    """Cancel the PENDING interactions of a run (or of one of its tasks)."""
    conditions = [_common.c.run_id == run_id, _common.c.status == InteractionStatus.PENDING]
    if task_run_id is not None:
        conditions.append(_common.c.task_run_id == task_run_id)
    # An UPDATE's result is a CursorResult (the session's signature says only Result).
    result = cast(
        CursorResult[Any],
        await session.execute(
            update(_common).where(*conditions).values(status=InteractionStatus.CANCELLED)
        ),
    )
    return result.rowcount or 0


async def pending_count(session: AsyncSession, *, task_run_id: uuid.UUID) -> int:
    return (
        await session.execute(
            select(func.count())
            .select_from(_common)
            .where(
                _common.c.task_run_id == task_run_id,
                _common.c.status == InteractionStatus.PENDING,
            )
        )
    ).scalar_one()


async def due_run_ids(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """The runs with a PENDING interaction past its expiry, in id order."""
    found = await session.scalars(
        select(_common.c.run_id)
        .where(
            _common.c.status == InteractionStatus.PENDING,
            _common.c.expires_at <= now,
            _common.c.run_id.is_not(None),
        )
        .distinct()
        .order_by(_common.c.run_id)
    )
    return list(found)


async def due_count(session: AsyncSession, *, now: datetime | None = None) -> int:
    """How many PENDING interactions are past their expiry."""
    return (
        await session.execute(
            select(func.count())
            .select_from(_common)
            .where(
                _common.c.status == InteractionStatus.PENDING,
                _common.c.expires_at <= (now or utcnow()),
            )
        )
    ).scalar_one()


async def take_tool_approval(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    tool_id: uuid.UUID,
    arguments_hash: str,
) -> tuple[str, uuid.UUID | None]:
    """For a tool call outside a run: ("approved", id) consumes an approved APPROVAL of this
    exact call; ("pending", id) when one waits; ("none", None) otherwise."""
    approval = Approval.__table__
    rows = (
        await session.execute(
            select(_common.c.id, _common.c.status, approval.c.approved, approval.c.details)
            .join(approval, approval.c.interaction_id == _common.c.id)
            .where(
                _common.c.project_id == project_id,
                approval.c.subject == ApprovalSubject.TOOL_CALL,
                _common.c.run_id.is_(None),
            )
            .order_by(_common.c.created_at.desc())
        )
    ).all()
    for row in rows:
        details = row.details or {}
        if (
            details.get("tool_id") != str(tool_id)
            or details.get("arguments_hash") != arguments_hash
        ):
            continue
        if row.status == InteractionStatus.PENDING:
            return "pending", row.id
        if row.approved and not details.get("consumed"):
            await session.execute(
                update(approval)
                .where(approval.c.interaction_id == row.id)
                .values(details={**details, "consumed": True})
            )
            return "approved", row.id
    return "none", None
