"""Specialisations of every AgentType, and the seeding of them and of the system templates.

Seeding is idempotent and happens on first use (``ensure_seeded``), not in the migration: an
emptied table refills itself, and an edited specialisation is never overwritten.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.core.errors import Forbidden
from berrys.services.agents import _rules
from berrys.services.agents.contracts import (
    AgentConfiguration,
    Specialisation,
    SpecialisationOut,
    SpecialisationUpdate,
    TemplateDefinition,
)
from berrys.services.agents.tables import (
    AgentSpecialisation,
    AgentTemplate,
    AgentTemplateVersion,
)
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.catalogue.contracts import AgentType

T = AgentType
_SYSTEM_NAMESPACE = uuid.UUID("5b0f6a8e-4d0c-4a55-9a43-2f1f3f0b9e11")

SPECIALISATIONS: dict[AgentType, dict[str, Any]] = {
    T.COORDINATOR: {
        "summary": "Leads the team: plans, delegates, tracks progress and resolves blockers.",
        "skills": ["planning", "delegation", "progress tracking", "risk management"],
        "responsibilities": [
            "break the goal into tasks and assign them",
            "keep hand-offs moving and the plan current",
            "escalate decisions to a human when policy asks for it",
        ],
        "knowledge_domains": ["project management", "team coordination"],
        "collaboration_patterns": [
            "delegates work to every agent",
            "receives status and review reports",
        ],
    },
    T.ASSISTANT: {
        "summary": "Writes, edits, summarises and answers: the team's clear voice.",
        "skills": ["writing", "editing", "summarisation", "translation"],
        "responsibilities": [
            "turn findings and decisions into clear text",
            "keep documentation and summaries current",
        ],
        "knowledge_domains": ["technical writing", "communication"],
        "collaboration_patterns": ["receives material from researchers and developers"],
    },
    T.RESEARCHER: {
        "summary": "Finds, checks and synthesises information and evidence.",
        "skills": ["literature search", "source evaluation", "data analysis", "synthesis"],
        "responsibilities": [
            "answer open questions with cited evidence",
            "state how certain each finding is",
        ],
        "knowledge_domains": ["research methods", "statistics"],
        "collaboration_patterns": ["hands findings to specialists, designers and developers"],
    },
    T.DEVELOPER: {
        "summary": "Builds, integrates, tests and ships software.",
        "skills": ["software engineering", "APIs", "databases", "testing", "deployment"],
        "responsibilities": [
            "implement features and integrations",
            "write tests and keep the build green",
        ],
        "knowledge_domains": ["software architecture", "DevOps"],
        "collaboration_patterns": [
            "receives designs and domain rules",
            "submits work for review",
        ],
    },
    T.DESIGNER: {
        "summary": "Shapes how the result looks, feels and works for its users.",
        "skills": ["visual design", "UX", "prototyping", "accessibility"],
        "responsibilities": ["design interfaces and assets", "check designs with users"],
        "knowledge_domains": ["interaction design", "visual communication"],
        "collaboration_patterns": ["hands designs to developers"],
    },
    T.SPECIALIST: {
        "summary": "Brings deep knowledge of one domain the project depends on.",
        "skills": ["domain expertise", "best practices", "advice"],
        "responsibilities": [
            "define the domain's rules and constraints",
            "check domain-specific work",
        ],
        "knowledge_domains": [],
        "collaboration_patterns": ["consulted by every agent on domain questions"],
    },
    T.AUDITOR: {
        "summary": "Checks work against quality, security and compliance requirements.",
        "skills": ["quality assurance", "security review", "compliance checks", "testing"],
        "responsibilities": [
            "review deliverables before they are accepted",
            "report findings with their severity",
        ],
        "knowledge_domains": ["security", "quality standards", "regulation"],
        "collaboration_patterns": ["reviews producers' work", "reports to the coordinator"],
    },
    T.CUSTOM: {
        "summary": "An agent shaped entirely by its own prompt and configuration.",
        "skills": ["general problem solving"],
        "responsibilities": ["the work it is given"],
        "knowledge_domains": [],
        "collaboration_patterns": [],
    },
}


def system_template_id(agent_type: AgentType) -> uuid.UUID:
    return uuid.uuid5(_SYSTEM_NAMESPACE, f"system-template:{agent_type.value}")


def system_definition(agent_type: AgentType) -> TemplateDefinition:
    profile = _rules.PROFILES[agent_type]
    spec = SPECIALISATIONS[agent_type]
    return TemplateDefinition(
        role=profile.role,
        goal=profile.goal,
        description=spec["summary"],
        prompt_template=_rules.DEFAULT_PROMPT,
        configuration=AgentConfiguration(
            model_preference=profile.model_preference, temperature=profile.temperature
        ),
        specialisation=Specialisation(
            skills=spec["skills"],
            responsibilities=spec["responsibilities"],
            knowledge_domains=spec["knowledge_domains"],
            collaboration_patterns=spec["collaboration_patterns"],
        ),
    )


def _insert_ignoring_conflicts(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


async def seed(session: AsyncSession) -> None:
    """Write any missing specialisation and system template (never overwrites edits)."""
    now = utcnow()
    for agent_type, spec in SPECIALISATIONS.items():
        await session.execute(
            _insert_ignoring_conflicts(session, AgentSpecialisation.__table__)
            .values(id=uuid.uuid4(), agent_type=agent_type, created_at=now, updated_at=now, **spec)
            .on_conflict_do_nothing()
        )
        template_id = system_template_id(agent_type)
        await session.execute(
            _insert_ignoring_conflicts(session, AgentTemplate.__table__)
            .values(
                id=template_id,
                name=f"{agent_type.value.title()} (system)",
                description=f"Berrys' default {agent_type.value.lower()} agent.",
                agent_type=agent_type,
                tags=["system", agent_type.value.lower()],
                current_version=1,
                is_system=True,
                owner_id=None,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        await session.execute(
            _insert_ignoring_conflicts(session, AgentTemplateVersion.__table__)
            .values(
                id=uuid.uuid4(),
                template_id=template_id,
                version=1,
                definition=system_definition(agent_type).model_dump(mode="json"),
                change_note="seeded",
                created_by=None,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )


async def ensure_seeded(database: Database) -> None:
    """Seed in a short write transaction, only when something is missing."""
    async with database.transaction(read_only=True) as session:
        specs = (
            await session.execute(select(func.count()).select_from(AgentSpecialisation))
        ).scalar_one()
        system = (
            await session.execute(
                select(func.count()).select_from(AgentTemplate).where(AgentTemplate.is_system)
            )
        ).scalar_one()
    if specs < len(SPECIALISATIONS) or system < len(SPECIALISATIONS):
        async with database.transaction() as session:
            await seed(session)


def _default_specialisation(agent_type: AgentType) -> SpecialisationOut:
    return SpecialisationOut(
        agent_type=agent_type, updated_at=utcnow(), **SPECIALISATIONS[agent_type]
    )


async def get_specialisations(session: AsyncSession) -> list[SpecialisationOut]:
    rows = {row.agent_type: row for row in await session.scalars(select(AgentSpecialisation))}
    return [
        SpecialisationOut.model_validate(rows[t]) if t in rows else _default_specialisation(t)
        for t in AgentType
    ]


async def get_specialisation(session: AsyncSession, *, agent_type: AgentType) -> SpecialisationOut:
    """The stored specialisation of ``agent_type`` (the built-in default before seeding)."""
    row = await session.scalar(
        select(AgentSpecialisation).where(AgentSpecialisation.agent_type == agent_type)
    )
    return SpecialisationOut.model_validate(row) if row else _default_specialisation(agent_type)


async def update_specialisation(
    session: AsyncSession,
    *,
    agent_type: AgentType,
    specialisation_in: SpecialisationUpdate,
    user: UserOut,
) -> SpecialisationOut:
    """Edit one type's specialisation (ADMIN: it shapes every agent of that type)."""
    if user.role != UserRole.ADMIN:
        raise Forbidden("Only an ADMIN may edit specialisations")
    await seed(session)
    row = (
        await session.scalars(
            select(AgentSpecialisation).where(AgentSpecialisation.agent_type == agent_type)
        )
    ).one()
    before = SpecialisationOut.model_validate(row)
    for field, value in specialisation_in.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(row, field, value)
    await session.flush()
    after = SpecialisationOut.model_validate(row)
    await audit.record(
        session,
        entity_type="agent_specialisation",
        entity_id=row.id,
        action=AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    return after
