"""Agent templates: immutable versions with a current pointer, tags, compare, revert,
dotted-key overrides, and JSON documents for export and import."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from berrys.services.agents import _prompts
from berrys.services.agents.contracts import (
    ExportedVersion,
    FieldChange,
    TemplateComparison,
    TemplateCreate,
    TemplateDefinition,
    TemplateDocument,
    TemplateOut,
    TemplateRevert,
    TemplateUpdate,
    TemplateVersionCreate,
    TemplateVersionOut,
)
from berrys.services.agents.tables import (
    AgentTemplate,
    AgentTemplateVersion,
)
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.catalogue.contracts import AgentType

MAX_OVERRIDES = 50


def _visible(user: UserOut) -> ColumnElement[bool]:
    if user.role == UserRole.ADMIN:
        return AgentTemplate.id.is_not(None)
    return or_(AgentTemplate.is_system.is_(True), AgentTemplate.owner_id == user.id)


async def _get_row(session: AsyncSession, template_id: uuid.UUID, user: UserOut) -> AgentTemplate:
    template = await session.scalar(
        select(AgentTemplate).where(AgentTemplate.id == template_id, _visible(user))
    )
    if template is None:
        raise NotFound.of("Agent template", template_id)
    return template


def _check_writable(template: AgentTemplate, user: UserOut) -> None:
    if template.is_system and user.role != UserRole.ADMIN:
        raise Forbidden("System templates can only be changed by an ADMIN; copy it instead")


async def _version_row(
    session: AsyncSession, template_id: uuid.UUID, version: int
) -> AgentTemplateVersion:
    row = await session.scalar(
        select(AgentTemplateVersion).where(
            AgentTemplateVersion.template_id == template_id,
            AgentTemplateVersion.version == version,
        )
    )
    if row is None:
        raise NotFound(f"Agent template {template_id} has no version {version}")
    return row


async def _out(session: AsyncSession, template: AgentTemplate) -> TemplateOut:
    current = await _version_row(session, template.id, template.current_version)
    return TemplateOut(
        id=template.id,
        name=template.name,
        description=template.description,
        agent_type=template.agent_type,
        tags=template.tags,
        current_version=template.current_version,
        is_system=template.is_system,
        owner_id=template.owner_id,
        definition=TemplateDefinition.model_validate(current.definition),
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


async def get(session: AsyncSession, *, template_id: uuid.UUID, user: UserOut) -> TemplateOut:
    return await _out(session, await _get_row(session, template_id, user))


async def get_all(
    session: AsyncSession,
    *,
    user: UserOut,
    limit: int,
    offset: int,
    tag: str | None = None,
    agent_type: AgentType | None = None,
    q: str | None = None,
) -> tuple[list[TemplateOut], int]:
    """Templates the user may see: the system ones and their own (all for an ADMIN)."""
    conditions = [_visible(user)]
    if agent_type is not None:
        conditions.append(AgentTemplate.agent_type == agent_type)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(AgentTemplate.name.ilike(pattern, escape="\\"))
    rows = list(
        await session.scalars(
            select(AgentTemplate)
            .where(*conditions)
            .order_by(AgentTemplate.is_system.desc(), AgentTemplate.name)
        )
    )
    if tag:  # tags are a JSON list: filtered here, portably
        rows = [row for row in rows if tag.strip().lower() in row.tags]
    return [await _out(session, row) for row in rows[offset : offset + limit]], len(rows)


async def _name_free(session: AsyncSession, name: str, except_id: uuid.UUID | None = None) -> None:
    existing = await session.scalar(select(AgentTemplate.id).where(AgentTemplate.name == name))
    if existing is not None and existing != except_id:
        raise Conflict(f"An agent template named {name!r} already exists")


def _check_definition(definition: TemplateDefinition) -> TemplateDefinition:
    _prompts.check(definition.prompt_template, field="definition.prompt_template")
    return definition


async def create(
    session: AsyncSession, *, template_in: TemplateCreate, user: UserOut
) -> TemplateOut:
    await _name_free(session, template_in.name)
    _check_definition(template_in.definition)
    template = AgentTemplate(
        name=template_in.name,
        description=template_in.description,
        agent_type=template_in.agent_type,
        tags=list(dict.fromkeys(template_in.tags)),
        current_version=1,
        is_system=False,
        owner_id=user.id,
    )
    session.add(template)
    await session.flush()
    session.add(
        AgentTemplateVersion(
            template_id=template.id,
            version=1,
            definition=template_in.definition.model_dump(mode="json"),
            change_note=template_in.change_note,
            created_by=user.id,
        )
    )
    await session.flush()
    created = await _out(session, template)
    await audit.record(
        session,
        entity_type="agent_template",
        entity_id=template.id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=created,
    )
    return created


async def update(
    session: AsyncSession, *, template_id: uuid.UUID, template_in: TemplateUpdate, user: UserOut
) -> TemplateOut:
    """Rename, describe or re-tag (not versioned: the content changes only by new versions)."""
    template = await _get_row(session, template_id, user)
    _check_writable(template, user)
    before = await _out(session, template)
    changes = template_in.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in changes:
        await _name_free(session, changes["name"], except_id=template.id)
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))
    for field, value in changes.items():
        setattr(template, field, value)
    await session.flush()
    after = await _out(session, template)
    if after != before:
        await audit.record(
            session,
            entity_type="agent_template",
            entity_id=template.id,
            action=AuditAction.UPDATE,
            actor_id=user.id,
            before=before,
            after=after,
        )
    return after


async def delete(session: AsyncSession, *, template_id: uuid.UUID, user: UserOut) -> None:
    template = await _get_row(session, template_id, user)
    if template.is_system:
        raise Conflict("System templates cannot be deleted")
    before = await _out(session, template)
    await session.delete(template)
    await audit.record(
        session,
        entity_type="agent_template",
        entity_id=template_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )


async def get_versions(
    session: AsyncSession, *, template_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[TemplateVersionOut], int]:
    await _get_row(session, template_id, user)
    condition = AgentTemplateVersion.template_id == template_id
    rows, total = await fetch_page(
        session,
        select(AgentTemplateVersion).where(condition).order_by(AgentTemplateVersion.version),
        limit=limit,
        offset=offset,
    )
    return [TemplateVersionOut.model_validate(row) for row in rows], total


async def get_version(
    session: AsyncSession, *, template_id: uuid.UUID, version: int, user: UserOut
) -> TemplateVersionOut:
    await _get_row(session, template_id, user)
    return TemplateVersionOut.model_validate(await _version_row(session, template_id, version))


async def _append_version(
    session: AsyncSession,
    template: AgentTemplate,
    definition: TemplateDefinition,
    change_note: str,
    user: UserOut,
) -> TemplateOut:
    before = await _out(session, template)
    latest = (
        await session.execute(
            select(func.max(AgentTemplateVersion.version)).where(
                AgentTemplateVersion.template_id == template.id
            )
        )
    ).scalar_one()
    number = (latest or 0) + 1
    session.add(
        AgentTemplateVersion(
            template_id=template.id,
            version=number,
            definition=definition.model_dump(mode="json"),
            change_note=change_note,
            created_by=user.id,
        )
    )
    template.current_version = number
    template.updated_at = utcnow()
    await session.flush()
    after = await _out(session, template)
    await audit.record(
        session,
        entity_type="agent_template",
        entity_id=template.id,
        action=AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    return after


async def add_version(
    session: AsyncSession,
    *,
    template_id: uuid.UUID,
    version_in: TemplateVersionCreate,
    user: UserOut,
) -> TemplateOut:
    """A new current version: a whole definition, or dotted-key overrides of the current one."""
    template = await _get_row(session, template_id, user)
    _check_writable(template, user)
    if version_in.definition is not None:
        definition = version_in.definition
    else:
        current = await _version_row(session, template.id, template.current_version)
        definition = apply_overrides(
            TemplateDefinition.model_validate(current.definition), version_in.overrides or {}
        )
    _check_definition(definition)
    return await _append_version(session, template, definition, version_in.change_note, user)


async def revert(
    session: AsyncSession, *, template_id: uuid.UUID, revert_in: TemplateRevert, user: UserOut
) -> TemplateOut:
    """Make an old version current again, as a new version (history is never rewritten)."""
    template = await _get_row(session, template_id, user)
    _check_writable(template, user)
    old = await _version_row(session, template.id, revert_in.version)
    note = revert_in.change_note or f"revert to version {revert_in.version}"
    return await _append_version(
        session, template, TemplateDefinition.model_validate(old.definition), note, user
    )


async def compare(
    session: AsyncSession,
    *,
    template_id: uuid.UUID,
    from_version: int,
    to_version: int,
    user: UserOut,
) -> TemplateComparison:
    """A field-level diff between two versions (dotted paths, lists compared whole)."""
    await _get_row(session, template_id, user)
    before = await _version_row(session, template_id, from_version)
    after = await _version_row(session, template_id, to_version)
    return TemplateComparison(
        template_id=template_id,
        from_version=from_version,
        to_version=to_version,
        changes=diff(before.definition, after.definition),
    )


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(_flatten(item, path + "."))
        else:
            flat[path] = item
    return flat


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    old, new = _flatten(before), _flatten(after)
    return [
        FieldChange(path=path, before=old.get(path), after=new.get(path))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]


def apply_overrides(
    definition: TemplateDefinition, overrides: dict[str, Any]
) -> TemplateDefinition:
    """Set dotted keys (``configuration.temperature``) on a definition; unknown keys and bad
    values are Unprocessable, naming the key."""
    if not overrides:
        return definition
    if len(overrides) > MAX_OVERRIDES:
        raise Unprocessable(f"At most {MAX_OVERRIDES} overrides at once")
    data = definition.model_dump(mode="json")
    allowed = sorted(_flatten(data).keys() | {k for k, v in data.items() if isinstance(v, dict)})
    for key, value in overrides.items():
        parts = key.split(".")
        node: Any = data
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or parts[-1] not in node or any(not p for p in parts):
            raise Unprocessable(
                f"Unknown override key {key!r}; allowed keys: {', '.join(allowed)}",
                allowed=allowed,
            )
        node[parts[-1]] = value
    try:
        return TemplateDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise Unprocessable(f"Overrides give an invalid template: {problems}") from None


@dataclass(frozen=True)
class Resolved:
    agent_type: AgentType
    version: int
    definition: TemplateDefinition


async def resolve(
    session: AsyncSession, *, template_id: uuid.UUID, version: int | None, user: UserOut
) -> Resolved:
    """What an agent made from ``template_id`` (at ``version``, or current) starts with."""
    template = await _get_row(session, template_id, user)
    number = version or template.current_version
    row = await _version_row(session, template.id, number)
    return Resolved(
        agent_type=template.agent_type,
        version=number,
        definition=TemplateDefinition.model_validate(row.definition),
    )


async def export(
    session: AsyncSession, *, template_id: uuid.UUID, user: UserOut
) -> TemplateDocument:
    template = await _get_row(session, template_id, user)
    rows = await session.scalars(
        select(AgentTemplateVersion)
        .where(AgentTemplateVersion.template_id == template.id)
        .order_by(AgentTemplateVersion.version)
    )
    return TemplateDocument(
        name=template.name,
        description=template.description,
        agent_type=template.agent_type,
        tags=template.tags,
        current_version=template.current_version,
        versions=[
            ExportedVersion(
                version=row.version,
                definition=TemplateDefinition.model_validate(row.definition),
                change_note=row.change_note,
            )
            for row in rows
        ],
    )


async def import_document(
    session: AsyncSession, *, document: TemplateDocument, user: UserOut, name: str | None = None
) -> TemplateOut:
    """Create a template (owned by ``user``) with every version of an exported document."""
    name = name or document.name
    await _name_free(session, name)
    for version in document.versions:
        _check_definition(version.definition)
    template = AgentTemplate(
        name=name,
        description=document.description,
        agent_type=document.agent_type,
        tags=[tag for tag in dict.fromkeys(document.tags) if tag != "system"],
        current_version=document.current_version,
        is_system=False,
        owner_id=user.id,
    )
    session.add(template)
    await session.flush()
    for version in document.versions:
        session.add(
            AgentTemplateVersion(
                template_id=template.id,
                version=version.version,
                definition=version.definition.model_dump(mode="json"),
                change_note=version.change_note,
                created_by=user.id,
            )
        )
    await session.flush()
    created = await _out(session, template)
    await audit.record(
        session,
        entity_type="agent_template",
        entity_id=template.id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=created,
    )
    return created
