"""The dashboard's audit page: the trail of who did what, and whether its chain holds.

Each entry names its actor by email and its entity and project by name: the emails and the
project names of a whole page are read in one query each, and an entity that no service
names (a deleted one, a plan task) by the name its entry recorded. Filters (entity type,
actor, action, project, dates) combine, and paging keeps them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.contracts import MAX_INT
from berrys.core.errors import NotFound
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction, AuditEntryOut
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.projects import service as projects
from berrys.web.pages import _database
from berrys.web.security import WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Text = Annotated[str, Query(max_length=254)]


class _BadFilter(ValueError):
    """A filter the page cannot use; its message says what is allowed."""


def _uuid(value: str, label: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        raise _BadFilter(f"{label} is not a project id.") from None


def _day(value: str, label: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise _BadFilter(f"{label} must be a date, YYYY-MM-DD: {value!r}.") from None


def _action(value: str) -> AuditAction | None:
    try:
        return AuditAction(value.upper()) if value else None
    except ValueError:
        allowed = ", ".join(a.value for a in AuditAction)
        raise _BadFilter(f"Action {value!r} is not one of {allowed}.") from None


async def _actor_id(session: AsyncSession, email: str) -> uuid.UUID | None:
    if not email:
        return None
    try:
        return (await auth.get_by_email(session, email=email)).id
    except NotFound:
        raise _BadFilter(f"No user has the email {email!r}.") from None


def _midnight(day: date | None, *, days: int = 0) -> datetime | None:
    return datetime.combine(day + timedelta(days=days), time(), UTC) if day else None


async def _names(
    session: AsyncSession, entries: list[AuditEntryOut], user: UserOut
) -> dict[str, dict[uuid.UUID, str]]:
    """The page's actors' emails and projects' names: one query each, whatever the rows."""
    user_ids = {e.actor_id for e in entries if e.actor_id} | {
        e.entity_id for e in entries if e.entity_type == "user" and e.entity_id
    }
    project_ids = {e.project_id for e in entries if e.project_id} | {
        e.entity_id for e in entries if e.entity_type == "project" and e.entity_id
    }
    return {
        "user": await auth.emails(session, user_ids=user_ids),
        "project": await projects.names(session, project_ids=project_ids, user=user),
    }


def _rows(
    entries: list[AuditEntryOut], names: dict[str, dict[uuid.UUID, str]]
) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        current = names.get(entry.entity_type, {}).get(entry.entity_id) if entry.entity_id else None
        rows.append(
            {
                "entry": entry,
                "entity": current or audit.recorded_name(entry),
                "actor": names["user"].get(entry.actor_id) if entry.actor_id else None,
                "project": names["project"].get(entry.project_id) if entry.project_id else None,
            }
        )
    return rows


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    user: WebUser,
    entity_type: Annotated[str, Query(max_length=64)] = "",
    actor: Text = "",
    action: Annotated[str, Query(max_length=16)] = "",
    project_id: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> Response:
    filters = {
        "entity_type": entity_type.strip(),
        "actor": actor.strip(),
        "action": action.strip().upper(),
        "project_id": project_id.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    is_admin = user.role == UserRole.ADMIN
    async with _database(request).transaction(read_only=True) as session:
        mine, _ = await projects.get_all(session, user=user, limit=200, offset=0)
        context: dict[str, Any] = {
            "filters": filters,
            "entity_types": await audit.entity_types(session),
            "actions": [a.value for a in AuditAction],
            "projects": mine,
            "offset": offset,
            "page": PAGE,
            "rows": [],
            "total": 0,
            "verification": await audit.verify(session) if is_admin else None,
        }
        try:
            start, end = _day(filters["since"], "From"), _day(filters["until"], "To")
            entries, total = await audit.get_all(
                session,
                limit=PAGE,
                offset=offset,
                entity_type=filters["entity_type"] or None,
                project_id=_uuid(filters["project_id"], "Project"),
                actor_id=await _actor_id(session, filters["actor"]),
                action=_action(filters["action"]),
                since=_midnight(start),
                until=_midnight(end, days=1),  # the "to" day is included
                visible_to=await projects.log_scope(session, user=user),
            )
        except _BadFilter as exc:
            return render(request, "audit.html", 422, flash=str(exc), flash_kind="error", **context)
        context.update(rows=_rows(entries, await _names(session, entries, user)), total=total)
    query = urlencode({key: value for key, value in filters.items() if value})
    return render(request, "audit.html", query=query, **context)
