"""Evaluating due rules, each in a transaction of its own that holds the rule's row lock
(SKIP LOCKED on PostgreSQL; SQLite's write lock serialises the rest), so two processes never
evaluate one rule at once: an episode opens once while its condition holds, resolves when
it clears, and each change queues its notifications in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.services.alerts import _conditions
from berrys.services.alerts._episodes import episode_out
from berrys.services.alerts._rules import condition_of
from berrys.services.alerts.contracts import (
    DeliveryChannel,
    DeliveryStatus,
    EpisodeEvent,
    EpisodeStatus,
)
from berrys.services.alerts.tables import AlertDelivery, AlertEpisode, AlertRule
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction

_log = structlog.get_logger("berrys.alerts")
# Rules one pass evaluates at most: the rest wait for the next pass (or another process).
MAX_RULES_PER_PASS = 200


async def evaluate_due(
    database: Database, *, interval_seconds: float, now: datetime | None = None
) -> int:
    """Evaluate every enabled rule whose time has come; how many were evaluated."""
    at = now or utcnow()
    if not await _any_due(database, at):
        return 0  # no write transaction (SQLite's write lock) while nothing is due
    evaluated = 0
    while evaluated < MAX_RULES_PER_PASS and await _evaluate_next(database, at, interval_seconds):
        evaluated += 1
    return evaluated


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return AlertRule.enabled.is_(True), AlertRule.next_evaluation_at <= now


async def _any_due(database: Database, now: datetime) -> bool:
    async with database.transaction(read_only=True) as session:
        return bool(await session.scalar(select(exists().where(*_due(now)))))


async def _evaluate_next(database: Database, now: datetime, interval_seconds: float) -> bool:
    async with database.transaction() as session:
        rule = await session.scalar(
            select(AlertRule)
            .where(*_due(now))
            .order_by(AlertRule.next_evaluation_at, AlertRule.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if rule is None:
            return False
        rule.last_evaluated_at = now
        rule.next_evaluation_at = now + timedelta(seconds=interval_seconds)
        try:
            # A savepoint: a rule that cannot be evaluated must not stop the others.
            async with session.begin_nested():
                finding = await _conditions.check(session, condition_of(rule), rule.project_id, now)
        except Exception as exc:
            if await database.outage(exc):
                raise
            _log.warning("alerts.rule_failed", rule_id=str(rule.id), error=str(exc)[:500])
            return True
        episode = await session.scalar(
            select(AlertEpisode).where(
                AlertEpisode.rule_id == rule.id, AlertEpisode.status == EpisodeStatus.FIRING
            )
        )
        # A rule changed to another kind ends the episode of the old condition.
        if episode is not None and (finding is None or episode.kind != rule.kind):
            await _resolve(session, rule, episode, now)
            episode = None
        if finding is not None and episode is None:
            await _open(session, rule, finding, now)
    return True


async def _open(
    session: AsyncSession, rule: AlertRule, finding: _conditions.Finding, now: datetime
) -> None:
    episode = AlertEpisode(
        rule_id=rule.id,
        project_id=rule.project_id,
        kind=rule.kind,
        status=EpisodeStatus.FIRING,
        summary=finding.summary,
        details=finding.details,
        opened_at=now,
    )
    session.add(episode)
    await session.flush()
    await _record(session, rule, episode, EpisodeEvent.FIRED, before=None)


async def _resolve(
    session: AsyncSession, rule: AlertRule, episode: AlertEpisode, now: datetime
) -> None:
    before = episode_out(episode, rule.name)
    episode.status = EpisodeStatus.RESOLVED
    episode.resolved_at = now
    await _record(session, rule, episode, EpisodeEvent.RESOLVED, before=before)


async def _record(
    session: AsyncSession,
    rule: AlertRule,
    episode: AlertEpisode,
    event: EpisodeEvent,
    *,
    before: object,
) -> None:
    """The audit entry of the episode's change, and a notification per channel."""
    out = episode_out(episode, rule.name)
    await audit.record(
        session,
        entity_type="alert_episode",
        entity_id=episode.id,
        project_id=episode.project_id,
        action=AuditAction.CREATE if event == EpisodeEvent.FIRED else AuditAction.TRANSITION,
        actor_id=None,
        before=before,
        after=out,
    )
    payload = {
        "event": event.value,
        "rule": {"id": str(rule.id), "name": rule.name, "kind": rule.kind.value},
        "episode": out.model_dump(mode="json"),
    }
    targets = []
    if rule.webhook_url:
        targets.append((DeliveryChannel.WEBHOOK, rule.webhook_url))
    if rule.email_to:
        targets.append((DeliveryChannel.EMAIL, ", ".join(rule.email_to)))
    for channel, target in targets:
        session.add(
            AlertDelivery(
                episode_id=episode.id,
                channel=channel,
                event=event,
                target=target,
                payload=payload,
                status=DeliveryStatus.PENDING,
                next_attempt_at=episode.resolved_at or episode.opened_at,
            )
        )
