"""Agent Orchestrator: a project's agents, their lifecycle, collaboration graph and messages.

Templates and specialisations live in ``templates.py``; team generation in ``generation.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page
from berrys.core.errors import Conflict, NotFound, Unprocessable
from berrys.core.lifecycle import history_page
from berrys.services.agents import _prompts, _specialisations, _templates
from berrys.services.agents._generation import generate
from berrys.services.agents._roster import (
    insert,
    remove,
    sync_budget,
)
from berrys.services.agents._specialisations import ensure_seeded
from berrys.services.agents._templates import get_all as get_templates
from berrys.services.agents.contracts import (
    AGENT_TRANSITIONS,
    AgentConfiguration,
    AgentCreate,
    AgentOut,
    AgentState,
    AgentStateOut,
    AgentUpdate,
    CollaborationOut,
    Specialisation,
    SpecialisationOut,
    TemplateDefinition,
)
from berrys.services.agents.tables import (
    Agent,
    AgentCollaboration,
    AgentStateHistory,
)
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue.contracts import AgentType
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import Specialisation as LlmSpecialisation
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectOut

__all__ = [
    "count",
    "create",
    "delete",
    "ensure_seeded",
    "generate",
    "get",
    "get_all",
    "get_collaboration",
    "get_history",
    "get_templates",
    "specialisation",
    "specialisation_for",
    "system_prompt",
    "transition",
    "update",
]

# States in which an agent is at work and must be stopped before it is deleted.
BUSY_STATES = frozenset({AgentState.INITIALIZING, AgentState.ACTIVE})


async def get_row(session: AsyncSession, agent_id: uuid.UUID, user: UserOut) -> Agent:
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NotFound.of("Agent", agent_id)
    try:
        await projects.get(session, project_id=agent.project_id, user=user)
    except NotFound:
        raise NotFound.of("Agent", agent_id) from None
    return agent


async def get(session: AsyncSession, *, agent_id: uuid.UUID, user: UserOut) -> AgentOut:
    """The agent if ``user`` may see its project; anyone else's agent is NotFound."""
    return AgentOut.model_validate(await get_row(session, agent_id, user))


async def get_all(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    user: UserOut,
    limit: int = 50,
    offset: int = 0,
    agent_type: AgentType | None = None,
    state: AgentState | None = None,
) -> tuple[list[AgentOut], int]:
    """A project's agents, oldest first (NotFound for someone else's project)."""
    await projects.get(session, project_id=project_id, user=user)
    conditions: list[ColumnElement[bool]] = [Agent.project_id == project_id]
    if agent_type is not None:
        conditions.append(Agent.agent_type == agent_type)
    if state is not None:
        conditions.append(Agent.state == state)
    rows, total = await fetch_page(
        session,
        select(Agent).where(*conditions).order_by(Agent.created_at, Agent.id),
        limit=limit,
        offset=offset,
    )
    return [AgentOut.model_validate(row) for row in rows], total


async def count(session: AsyncSession, *, project_id: uuid.UUID, user: UserOut) -> int:
    """How many agents the project has (for the project's stats)."""
    await projects.get(session, project_id=project_id, user=user)
    return (
        await session.execute(
            select(func.count()).select_from(Agent).where(Agent.project_id == project_id)
        )
    ).scalar_one()


def _definition_from(agent_in: AgentCreate, base: TemplateDefinition) -> TemplateDefinition:
    explicit = agent_in.model_dump(
        exclude_unset=True,
        include={"role", "goal", "description", "prompt_template", "configuration"},
    )
    merged = base.model_dump()
    merged.update({key: value for key, value in explicit.items() if value is not None})
    if agent_in.specialisation is not None:
        merged["specialisation"] = agent_in.specialisation.model_dump()
    return TemplateDefinition.model_validate(merged)


async def create(
    models: llm.Runtime,
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    agent_in: AgentCreate,
    user: UserOut,
) -> AgentOut:
    """Create an agent by hand or from a template version (with dotted-key overrides)."""
    await projects.get(session, project_id=project_id, user=user)
    template_id: uuid.UUID | None = None
    version: int | None = None
    if agent_in.template_id is not None:
        resolved = await _templates.resolve(
            session, template_id=agent_in.template_id, version=agent_in.template_version, user=user
        )
        template_id, version = agent_in.template_id, resolved.version
        base = _templates.apply_overrides(resolved.definition, agent_in.overrides)
        agent_type = agent_in.agent_type or resolved.agent_type
    else:
        if agent_in.overrides or agent_in.template_version is not None:
            raise Unprocessable("overrides and template_version need a template_id")
        if agent_in.agent_type is None:
            raise Unprocessable(
                "agent_type is required without a template; allowed: "
                + ", ".join(AgentType.allowed()),
                allowed=AgentType.allowed(),
            )
        agent_type, base = agent_in.agent_type, TemplateDefinition()
    definition = _definition_from(agent_in, base)
    return await insert(
        models,
        session,
        project_id=project_id,
        user=user,
        name=agent_in.name,
        agent_type=agent_type,
        definition=definition,
        template_id=template_id,
        template_version=version,
    )


async def update(
    models: llm.Runtime,
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    agent_in: AgentUpdate,
    user: UserOut,
) -> AgentOut:
    agent = await get_row(session, agent_id, user)
    if agent.state == AgentState.TERMINATED:
        raise Conflict(f"Agent {agent_id} is TERMINATED and can no longer be changed")
    before = AgentOut.model_validate(agent)
    changes = agent_in.model_dump(exclude_unset=True, exclude_none=True)
    if "prompt_template" in changes:
        _prompts.check(changes["prompt_template"])
    # Each is in ``changes`` exactly when it was given (not None): merged over the stored one.
    if agent_in.configuration is not None:
        merged = {**agent.configuration, **agent_in.configuration.model_dump(exclude_unset=True)}
        changes["configuration"] = AgentConfiguration.model_validate(merged).model_dump()
    if agent_in.specialisation is not None:
        merged = {**agent.specialisation, **agent_in.specialisation.model_dump(exclude_unset=True)}
        changes["specialisation"] = Specialisation.model_validate(merged).model_dump()
    for field, value in changes.items():
        setattr(agent, field, value)
    await session.flush()
    after = AgentOut.model_validate(agent)
    await sync_budget(
        models,
        session,
        agent_id=agent.id,
        before=before.configuration.budget_usd,
        after=after.configuration.budget_usd,
        user=user,
    )
    if after != before:
        await audit.record(
            session,
            entity_type="agent",
            entity_id=agent.id,
            project_id=agent.project_id,
            action=AuditAction.UPDATE,
            actor_id=user.id,
            before=before,
            after=after,
        )
    return after


async def delete(
    models: llm.Runtime, session: AsyncSession, *, agent_id: uuid.UUID, user: UserOut
) -> None:
    """Delete an agent that is not at work (pause or terminate a busy one first)."""
    agent = await get_row(session, agent_id, user)
    if agent.state in BUSY_STATES:
        raise Conflict(
            f"Agent {agent_id} is {agent.state}; pause or terminate it before deleting it",
            state=agent.state,
        )
    await remove(models, session, agent=agent, user=user)


async def transition(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    to_state: AgentState,
    user: UserOut,
    reason: str | None = None,
) -> AgentOut:
    """Move an agent along its lifecycle; an illegal move names the allowed ones."""
    agent = await get_row(session, agent_id, user)
    return await audit.record_transition(
        session,
        lifecycle=AGENT_TRANSITIONS,
        row=agent,
        field="state",
        to=to_state,
        history=lambda current, to: AgentStateHistory(
            agent_id=agent.id,
            from_state=current,
            to_state=to,
            reason=reason,
            transitioned_by=user.id,
        ),
        out=AgentOut.model_validate,
        entity_type="agent",
        project_id=agent.project_id,
        actor_id=user.id,
    )


async def get_history(
    session: AsyncSession, *, agent_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[AgentStateOut], int]:
    await get_row(session, agent_id, user)
    rows, total = await history_page(
        session,
        AgentStateHistory,
        of=AgentStateHistory.agent_id == agent_id,
        limit=limit,
        offset=offset,
    )
    return [AgentStateOut.model_validate(row) for row in rows], total


def _merged(own: Sequence[str], general: Sequence[str], limit: int = 20) -> list[str]:
    return list(dict.fromkeys([*own, *general]))[:limit]


async def specialisation(
    session: AsyncSession, *, agent_id: uuid.UUID, user: UserOut
) -> LlmSpecialisation:
    """What the router's specialisation hook needs to speak as this agent: its role, its own
    skills and duties merged with its type's, and its rendered prompt as instructions."""
    agent = await get(session, agent_id=agent_id, user=user)
    project = await projects.get(session, project_id=agent.project_id, user=user)
    general = await _specialisations.get_specialisation(session, agent_type=agent.agent_type)
    return specialisation_for(agent=agent, project=project, general=general)


def specialisation_for(
    *, agent: AgentOut, project: ProjectOut, general: SpecialisationOut | None
) -> LlmSpecialisation:
    """The hook's input for ``agent`` (no database access)."""
    own = agent.specialisation
    rendered = _prompts.render(
        agent.prompt_template,
        {
            "agent": agent.model_dump(mode="json"),
            "project": {"id": str(project.id), "name": project.name},
        },
    ).strip()
    instructions = "\n\n".join(
        part
        for part in (
            general.summary if general else "",
            "Working with others: " + "; ".join(general.collaboration_patterns) + "."
            if general and general.collaboration_patterns
            else "",
            rendered,
        )
        if part
    )
    return LlmSpecialisation(
        role=agent.role or None,
        skills=_merged(own.skills, general.skills if general else []),
        responsibilities=_merged(own.responsibilities, general.responsibilities if general else []),
        domains=_merged(own.knowledge_domains, general.knowledge_domains if general else []),
        instructions=instructions or None,
    )


async def system_prompt(session: AsyncSession, *, agent_id: uuid.UUID, user: UserOut) -> str:
    """The system prompt the router composes for this agent (specialisation hook included)."""
    return llm.compose_system_prompt(await specialisation(session, agent_id=agent_id, user=user))


# --- collaboration graph --------------------------------------------------------------------


async def get_collaboration(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut
) -> list[CollaborationOut]:
    await projects.get(session, project_id=project_id, user=user)
    rows = await session.scalars(
        select(AgentCollaboration)
        .where(AgentCollaboration.project_id == project_id)
        .order_by(AgentCollaboration.from_agent_id, AgentCollaboration.to_agent_id)
    )
    return [CollaborationOut.model_validate(row) for row in rows]
