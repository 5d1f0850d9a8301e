"""Project Coordinator: projects, their lifecycle, and who may see them."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import ColumnElement, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page
from berrys.core.errors import NotFound, Unprocessable
from berrys.core.lifecycle import Lifecycle, history_page
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.projects.contracts import (
    ProjectCreate,
    ProjectOut,
    ProjectStateOut,
    ProjectStats,
    ProjectStatus,
    ProjectUpdate,
)
from berrys.services.projects.tables import Project, ProjectState

__all__ = [
    "TRANSITIONS",
    "advance",
    "create",
    "delete",
    "get",
    "get_all",
    "get_history",
    "get_stats",
    "log_scope",
    "names",
    "transition",
    "update",
    "visible_ids",
    "visible_scope",
]

S = ProjectStatus
TRANSITIONS = Lifecycle[ProjectStatus](
    "Project",
    {
        S.DRAFT: {S.PLANNING, S.ARCHIVED, S.CANCELLED},
        S.PLANNING: {S.IN_PROGRESS, S.DRAFT, S.CANCELLED},
        S.IN_PROGRESS: {S.PAUSED, S.REVIEW, S.COMPLETED, S.CANCELLED},
        S.PAUSED: {S.IN_PROGRESS, S.CANCELLED},
        S.REVIEW: {S.IN_PROGRESS, S.COMPLETED},
        S.COMPLETED: {S.ARCHIVED},
        S.CANCELLED: {S.ARCHIVED},
        S.ARCHIVED: set(),
    },
)
INITIAL_STATUSES = frozenset({S.DRAFT, S.PLANNING})


def _visible(user: UserOut) -> ColumnElement[bool]:
    return Project.owner_id == user.id if user.role != UserRole.ADMIN else Project.id.is_not(None)


async def _get_row(session: AsyncSession, project_id: uuid.UUID, user: UserOut) -> Project:
    project = await session.scalar(select(Project).where(Project.id == project_id, _visible(user)))
    if project is None:
        raise NotFound.of("Project", project_id)
    return project


# Every request under /projects/{id} runs one of these, so they are built once (building
# the expression costs more than SQLite takes to answer it) and run on the session's
# connection: no ORM execution, identity map or instances for a row that only becomes a
# ProjectOut. The same visibility as ``_visible``: an ADMIN sees every project, anyone
# else only their own.
_ANY_PROJECT = select(Project.__table__).where(Project.id == bindparam("project_id"))
# The foreign key's type is only known once the tables are all defined: name it.
_OWN_PROJECT = _ANY_PROJECT.where(
    Project.owner_id == bindparam("owner_id", type_=Project.__table__.c.id.type)
)


async def get(session: AsyncSession, *, project_id: uuid.UUID, user: UserOut) -> ProjectOut:
    """The project if ``user`` may see it; anyone else's project is NotFound."""
    connection = await session.connection()
    if user.role == UserRole.ADMIN:
        result = await connection.execute(_ANY_PROJECT, {"project_id": project_id})
    else:
        result = await connection.execute(
            _OWN_PROJECT, {"project_id": project_id, "owner_id": user.id}
        )
    row = result.mappings().first()
    if row is None:
        raise NotFound.of("Project", project_id)
    return ProjectOut.model_validate(row)


async def names(
    session: AsyncSession, *, project_ids: Collection[uuid.UUID], user: UserOut
) -> dict[uuid.UUID, str]:
    """The name of each of these projects that ``user`` may see, in one query."""
    if not project_ids:
        return {}
    rows = await session.execute(
        select(Project.id, Project.name).where(Project.id.in_(list(project_ids)), _visible(user))
    )
    return {row.id: row.name for row in rows}


async def visible_ids(session: AsyncSession, *, user: UserOut) -> list[uuid.UUID]:
    """The ids of every project ``user`` may see."""
    return list(await session.scalars(select(Project.id).where(_visible(user))))


async def visible_scope(session: AsyncSession, *, user: UserOut) -> list[uuid.UUID] | None:
    """The projects ``user`` may see as a filter: None for an ADMIN (every project, nothing to
    filter), else their ids."""
    return None if user.role == UserRole.ADMIN else await visible_ids(session, user=user)


async def log_scope(
    session: AsyncSession, *, user: UserOut
) -> tuple[uuid.UUID, list[uuid.UUID]] | None:
    """What of a log (audit entries, model and tool calls) ``user`` may read: None for an
    ADMIN (all of it), else (their id, their projects' ids): what they did, and what happened
    in the projects they may see."""
    project_ids = await visible_scope(session, user=user)
    return None if project_ids is None else (user.id, project_ids)


async def get_all(
    session: AsyncSession,
    *,
    user: UserOut,
    limit: int,
    offset: int,
    status: ProjectStatus | None = None,
    q: str | None = None,
) -> tuple[list[ProjectOut], int]:
    conditions = [_visible(user)]
    if status is not None:
        conditions.append(Project.status == status)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                Project.name.ilike(pattern, escape="\\"),
                Project.description.ilike(pattern, escape="\\"),
            )
        )
    rows, total = await fetch_page(
        session,
        select(Project).where(*conditions).order_by(Project.created_at.desc()),
        limit=limit,
        offset=offset,
    )
    return [ProjectOut.model_validate(row) for row in rows], total


async def create(session: AsyncSession, *, project_in: ProjectCreate, user: UserOut) -> ProjectOut:
    if project_in.status not in INITIAL_STATUSES:
        raise Unprocessable(
            f"A project cannot be created in status {project_in.status}; "
            f"allowed: {', '.join(sorted(INITIAL_STATUSES))}",
            allowed=sorted(INITIAL_STATUSES),
        )
    project = Project(
        name=project_in.name,
        description=project_in.description,
        status=project_in.status,
        owner_id=user.id,
        project_metadata=project_in.metadata,
    )
    session.add(project)
    await session.flush()
    session.add(
        ProjectState(
            project_id=project.id,
            from_status=None,
            to_status=project.status,
            reason="created",
            transitioned_by=user.id,
        )
    )
    created = ProjectOut.model_validate(project)
    await audit.record(
        session,
        entity_type="project",
        entity_id=project.id,
        project_id=project.id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=created,
    )
    return created


async def update(
    session: AsyncSession, *, project_id: uuid.UUID, project_in: ProjectUpdate, user: UserOut
) -> ProjectOut:
    project = await _get_row(session, project_id, user)
    before = ProjectOut.model_validate(project)
    changes = project_in.model_dump(exclude_unset=True, exclude_none=True)
    if "metadata" in changes:
        project.project_metadata = changes.pop("metadata")
    for field, value in changes.items():
        setattr(project, field, value)
    await session.flush()
    after = ProjectOut.model_validate(project)
    if after != before:
        await audit.record(
            session,
            entity_type="project",
            entity_id=project.id,
            project_id=project.id,
            action=AuditAction.UPDATE,
            actor_id=user.id,
            before=before,
            after=after,
        )
    return after


async def delete(session: AsyncSession, *, project_id: uuid.UUID, user: UserOut) -> None:
    project = await _get_row(session, project_id, user)
    before = ProjectOut.model_validate(project)
    await session.delete(project)
    await audit.record(
        session,
        entity_type="project",
        entity_id=project_id,
        project_id=project_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )


async def transition(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    to_status: ProjectStatus,
    user: UserOut,
    reason: str | None = None,
) -> ProjectOut:
    """Move a project along its lifecycle; an illegal move names the allowed ones."""
    project = await _get_row(session, project_id, user)
    return await audit.record_transition(
        session,
        lifecycle=TRANSITIONS,
        row=project,
        field="status",
        to=to_status,
        history=lambda current, to: ProjectState(
            project_id=project.id,
            from_status=current,
            to_status=to,
            reason=reason,
            transitioned_by=user.id,
        ),
        out=ProjectOut.model_validate,
        entity_type="project",
        project_id=project.id,
        actor_id=user.id,
    )


async def advance(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    to_status: ProjectStatus,
    user: UserOut,
    reason: str,
) -> None:
    """Move the project to ``to_status`` when its lifecycle allows (a DRAFT project passes
    through PLANNING on its way to IN_PROGRESS); otherwise leave it where it is."""
    current = (await get(session, project_id=project_id, user=user)).status
    path = [to_status]
    if current == S.DRAFT and to_status == S.IN_PROGRESS:
        path = [S.PLANNING, to_status]
    for step in path:
        if current == step or step not in TRANSITIONS[current]:
            return
        await transition(session, project_id=project_id, to_status=step, user=user, reason=reason)
        current = step


async def get_history(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[ProjectStateOut], int]:
    await _get_row(session, project_id, user)
    rows, total = await history_page(
        session, ProjectState, of=ProjectState.project_id == project_id, limit=limit, offset=offset
    )
    return [ProjectStateOut.model_validate(row) for row in rows], total


async def get_stats(session: AsyncSession, *, project_id: uuid.UUID, user: UserOut) -> ProjectStats:
    project = await _get_row(session, project_id, user)
    transitions, status_since = (
        await session.execute(
            select(func.count(), func.max(ProjectState.transitioned_at)).where(
                ProjectState.project_id == project_id
            )
        )
    ).one()
    current = ProjectStatus(project.status)
    return ProjectStats(
        project_id=project.id,
        status=current,
        status_since=status_since or project.created_at,
        transitions=transitions,
        allowed_transitions=sorted(TRANSITIONS[current]),
    )
