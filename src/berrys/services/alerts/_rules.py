"""Alert rules: who may see and change which (a global rule is an ADMIN's, a project's rule
its writers'), and creating, changing and deleting them with their audit entries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.core.encryption import SecretBox, rotate_stored
from berrys.core.errors import Forbidden, NotFound, Unprocessable
from berrys.services.alerts._conditions import CONDITION
from berrys.services.alerts.contracts import (
    AlertCondition,
    AlertRuleCreate,
    AlertRuleOut,
    AlertRuleUpdate,
    EpisodeStatus,
)
from berrys.services.alerts.tables import AlertEpisode, AlertRule
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.projects import service as projects


def condition_of(row: AlertRule) -> AlertCondition:
    return CONDITION.validate_python({"kind": row.kind, **row.params})


def _params(condition: AlertCondition) -> dict[str, Any]:
    return condition.model_dump(mode="json", exclude={"kind"})


async def _firing(session: AsyncSession, rule_id: uuid.UUID) -> bool:
    open_episode = exists().where(
        AlertEpisode.rule_id == rule_id, AlertEpisode.status == EpisodeStatus.FIRING
    )
    return bool(await session.scalar(select(open_episode)))


def rule_out(row: AlertRule, *, firing: bool) -> AlertRuleOut:
    return AlertRuleOut(
        id=row.id,
        name=row.name,
        project_id=row.project_id,
        condition=condition_of(row),
        enabled=row.enabled,
        webhook_url=row.webhook_url,
        webhook_secret_set=row.webhook_secret_encrypted is not None,
        email_to=list(row.email_to),
        firing=firing,
        last_evaluated_at=row.last_evaluated_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def check_scope(
    session: AsyncSession, *, project_id: uuid.UUID | None, user: UserOut
) -> None:
    """A global rule is an ADMIN's; a project's rule is visible with its project."""
    if project_id is None:
        if user.role != UserRole.ADMIN:
            raise NotFound("Alert rule not found")
    else:
        await projects.get(session, project_id=project_id, user=user)


async def _visible_row(session: AsyncSession, rule_id: uuid.UUID, user: UserOut) -> AlertRule:
    row = await session.get(AlertRule, rule_id)
    if row is None:
        raise NotFound.of("Alert rule", rule_id)
    try:
        await check_scope(session, project_id=row.project_id, user=user)
    except NotFound:
        raise NotFound.of("Alert rule", rule_id) from None
    return row


async def visible_filter(
    session: AsyncSession, *, user: UserOut, project_column: Any
) -> list[ColumnElement[bool]]:
    """What of a table with a ``project_id`` a user may see: every row for an ADMIN, else
    the rows of their projects (global ones are an ADMIN's)."""
    visible = await projects.visible_scope(session, user=user)
    return [] if visible is None else [project_column.in_(list(visible))]


async def get(session: AsyncSession, *, rule_id: uuid.UUID, user: UserOut) -> AlertRuleOut:
    row = await _visible_row(session, rule_id, user)
    return rule_out(row, firing=await _firing(session, row.id))


async def get_all(
    session: AsyncSession,
    *,
    user: UserOut,
    limit: int,
    offset: int,
    project_id: uuid.UUID | None = None,
) -> tuple[list[AlertRuleOut], int]:
    conditions = await visible_filter(session, user=user, project_column=AlertRule.project_id)
    if project_id is not None:
        conditions.append(AlertRule.project_id == project_id)
    rows, total = await fetch_page(
        session,
        select(AlertRule).where(*conditions).order_by(AlertRule.created_at, AlertRule.id),
        limit=limit,
        offset=offset,
    )
    firing = set(
        await session.scalars(
            select(AlertEpisode.rule_id).where(
                AlertEpisode.rule_id.in_([row.id for row in rows]),
                AlertEpisode.status == EpisodeStatus.FIRING,
            )
        )
    )  # one query for the page, not one per rule
    return [rule_out(row, firing=row.id in firing) for row in rows], total


async def create(
    session: AsyncSession, box: SecretBox, *, rule_in: AlertRuleCreate, user: UserOut
) -> AlertRuleOut:
    """A rule of a project the writer may see, or (ADMIN) a global one."""
    if rule_in.project_id is None and user.role != UserRole.ADMIN:
        raise Forbidden("Only an ADMIN may create a global alert rule (give a project_id)")
    await check_scope(session, project_id=rule_in.project_id, user=user)
    if rule_in.webhook_url and rule_in.webhook_secret is None:
        raise Unprocessable("A webhook needs webhook_secret (16-200 characters) to sign with")
    row = AlertRule(
        name=rule_in.name,
        project_id=rule_in.project_id,
        kind=rule_in.condition.kind,
        params=_params(rule_in.condition),
        enabled=rule_in.enabled,
        webhook_url=rule_in.webhook_url,
        webhook_secret_encrypted=(
            box.encrypt(rule_in.webhook_secret.get_secret_value())
            if rule_in.webhook_url and rule_in.webhook_secret
            else None
        ),
        email_to=list(rule_in.email_to),
        next_evaluation_at=utcnow(),
        created_by=user.id,
    )
    session.add(row)
    await session.flush()
    out = rule_out(row, firing=False)
    await audit.record(
        session,
        entity_type="alert_rule",
        entity_id=row.id,
        project_id=row.project_id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=out,
    )
    return out


def _apply(row: AlertRule, box: SecretBox, rule_in: AlertRuleUpdate) -> None:
    if rule_in.name is not None:
        row.name = rule_in.name
    if rule_in.condition is not None:
        row.kind = rule_in.condition.kind
        row.params = _params(rule_in.condition)
    if rule_in.enabled is not None:
        row.enabled = rule_in.enabled
    if rule_in.email_to is not None:
        row.email_to = list(rule_in.email_to)
    if rule_in.webhook_secret is not None:
        row.webhook_secret_encrypted = box.encrypt(rule_in.webhook_secret.get_secret_value())
    if rule_in.webhook_url == "":
        row.webhook_url = row.webhook_secret_encrypted = None
    elif rule_in.webhook_url is not None:
        row.webhook_url = rule_in.webhook_url
    if row.webhook_url and row.webhook_secret_encrypted is None:
        raise Unprocessable("A webhook needs webhook_secret (16-200 characters) to sign with")


async def update(
    session: AsyncSession,
    box: SecretBox,
    *,
    rule_id: uuid.UUID,
    rule_in: AlertRuleUpdate,
    user: UserOut,
) -> AlertRuleOut:
    """Change a rule; a changed condition is evaluated again at once."""
    row = await _visible_row(session, rule_id, user)
    firing = await _firing(session, row.id)
    before = rule_out(row, firing=firing)
    _apply(row, box, rule_in)
    row.next_evaluation_at = utcnow()
    await session.flush()
    after = rule_out(row, firing=firing)
    await audit.record(
        session,
        entity_type="alert_rule",
        entity_id=row.id,
        project_id=row.project_id,
        action=AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    return after


async def delete(session: AsyncSession, *, rule_id: uuid.UUID, user: UserOut) -> None:
    """Delete a rule with its episodes and their notifications."""
    row = await _visible_row(session, rule_id, user)
    before = rule_out(row, firing=await _firing(session, row.id))
    await session.delete(row)
    await audit.record(
        session,
        entity_type="alert_rule",
        entity_id=rule_id,
        project_id=before.project_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )


async def rotate_secrets(session: AsyncSession, *, box: SecretBox) -> list[str]:
    """Re-encrypt every webhook secret under ``box``'s first key (``berrys secrets rotate``);
    the rules' names. Raises SecretUnreadable, changing nothing, if one is under no key."""
    return await rotate_stored(
        session,
        box,
        AlertRule.webhook_secret_encrypted,
        order_by=(
            AlertRule.created_at,
            AlertRule.id,
        ),
        label=lambda row: f"alert rule {row.name}",
    )
