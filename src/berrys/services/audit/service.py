"""The audit log: every state change of every service is written here, through ``record``.

Entries form a hash chain (each hash covers the entry and its predecessor's hash), so an
edited, inserted or deleted row is detected by :func:`verify`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.core.lifecycle import Lifecycle, StateT
from berrys.services.audit.contracts import AuditAction, AuditEntryOut, AuditVerification
from berrys.services.audit.tables import AuditEntry, AuditHead

__all__ = [
    "entity_types",
    "get_all",
    "record",
    "record_transition",
    "recorded_name",
    "verify",
]

GENESIS_HASH = "0" * 64
HEAD_ID = 1

OutT = TypeVar("OutT")


def _snapshot(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    snapshot: dict[str, Any] = to_jsonable_python(value)
    return snapshot


def _entry_hash(
    *,
    seq: int,
    entity_type: str,
    entity_id: uuid.UUID | None,
    project_id: uuid.UUID | None,
    action: str,
    actor_id: uuid.UUID | None,
    before: Any,
    after: Any,
    created_at: datetime,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "entity_type": entity_type,
            "entity_id": str(entity_id) if entity_id else None,
            "project_id": str(project_id) if project_id else None,
            "action": action,
            "actor_id": str(actor_id) if actor_id else None,
            "before": before,
            "after": after,
            "created_at": created_at.isoformat(),
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record(
    session: AsyncSession,
    *,
    entity_type: str,
    entity_id: uuid.UUID | None,
    action: AuditAction,
    actor_id: uuid.UUID | None,
    project_id: uuid.UUID | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits or rolls back with the change)."""
    head = (
        await session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update())
    ).scalar_one()
    entry = AuditEntry(
        seq=head.seq + 1,
        entity_type=entity_type,
        entity_id=entity_id,
        project_id=project_id,
        action=action,
        actor_id=actor_id,
        before=_snapshot(before),
        after=_snapshot(after),
        created_at=utcnow(),
        prev_hash=head.entry_hash,
    )
    entry.entry_hash = _hash_of(entry)
    head.seq, head.entry_hash = entry.seq, entry.entry_hash
    session.add(entry)
    return entry


async def record_transition(
    session: AsyncSession,
    *,
    lifecycle: Lifecycle[StateT],
    row: Any,
    field: str,
    to: StateT,
    history: Callable[[StateT, StateT], object],
    out: Callable[[Any], OutT],
    entity_type: str,
    project_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
) -> OutT:
    """Move ``row``'s ``field`` to ``to`` if its lifecycle allows, add the move's history row
    (``history(from, to)``) and the TRANSITION entry (``out`` of the row before and after)."""
    current = type(to)(getattr(row, field))
    lifecycle.check(current, to)
    before = out(row)
    setattr(row, field, to)
    session.add(history(current, to))
    await session.flush()
    after = out(row)
    await record(
        session,
        entity_type=entity_type,
        entity_id=row.id,
        project_id=project_id,
        action=AuditAction.TRANSITION,
        actor_id=actor_id,
        before=before,
        after=after,
    )
    return after


def _hash_of(entry: AuditEntry) -> str:
    return _entry_hash(
        seq=entry.seq,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        project_id=entry.project_id,
        action=AuditAction(entry.action).value,
        actor_id=entry.actor_id,
        before=entry.before,
        after=entry.after,
        created_at=entry.created_at,
        prev_hash=entry.prev_hash,
    )


async def get_all(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: AuditAction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    visible_to: tuple[uuid.UUID, Collection[uuid.UUID]] | None = None,
) -> tuple[list[AuditEntryOut], int]:
    """Entries newest first. ``visible_to`` = (user, their project ids) limits a non-admin."""
    conditions: list[ColumnElement[bool]] = []
    if entity_type:
        conditions.append(AuditEntry.entity_type == entity_type)
    if entity_id:
        conditions.append(AuditEntry.entity_id == entity_id)
    if project_id:
        conditions.append(AuditEntry.project_id == project_id)
    if actor_id:
        conditions.append(AuditEntry.actor_id == actor_id)
    if action:
        conditions.append(AuditEntry.action == action)
    if since:
        conditions.append(AuditEntry.created_at >= since)
    if until:
        conditions.append(AuditEntry.created_at < until)
    if visible_to is not None:
        user_id, project_ids = visible_to
        conditions.append(
            or_(AuditEntry.actor_id == user_id, AuditEntry.project_id.in_(list(project_ids)))
        )
    rows, total = await fetch_page(
        session,
        select(AuditEntry).where(*conditions).order_by(AuditEntry.seq.desc()),
        limit=limit,
        offset=offset,
    )
    return [AuditEntryOut.model_validate(row) for row in rows], total


async def entity_types(session: AsyncSession) -> list[str]:
    """Every kind of entity the log has entries for, by name (a filter's choices)."""
    found = await session.scalars(
        select(AuditEntry.entity_type).distinct().order_by(AuditEntry.entity_type)
    )
    return list(found)


def recorded_name(entry: AuditEntryOut) -> str | None:
    """The name the entity had when the entry was written, from its snapshot (after, else
    before): what still names it once it is deleted or renamed."""
    for snapshot in (entry.after, entry.before):
        for key in ("name", "title", "email", "key"):
            value = (snapshot or {}).get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


async def verify(session: AsyncSession) -> AuditVerification:
    """Walk the chain: a changed field, an inserted, removed or reordered row breaks it."""
    expected_prev = GENESIS_HASH
    count = 0
    stream = await session.stream_scalars(select(AuditEntry).order_by(AuditEntry.seq))
    async for entry in stream:
        count += 1
        if entry.seq != count:
            return AuditVerification(
                valid=False, entries=count, first_bad=count, reason=f"entry {count} is missing"
            )
        if entry.prev_hash != expected_prev:
            return AuditVerification(
                valid=False,
                entries=count,
                first_bad=entry.seq,
                reason="previous hash does not match",
            )
        if _hash_of(entry) != entry.entry_hash:
            return AuditVerification(
                valid=False, entries=count, first_bad=entry.seq, reason="entry content was altered"
            )
        expected_prev = entry.entry_hash
    head = (await session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID))).scalar_one()
    if head.seq != count or head.entry_hash != expected_prev:
        return AuditVerification(
            valid=False,
            entries=count,
            first_bad=count + 1,
            reason="entries after the last one were removed",
        )
    return AuditVerification(valid=True, entries=count)
