"""An agent's insert and removal, and a project's agents and graph as a whole.

The agents' CRUD (``service``) and team generation (``generation``) both write through these:
each insert and removal keeps the agent's AGENT budget in step and writes its audit entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete as sql_delete
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.services.agents import _prompts
from berrys.services.agents.contracts import (
    AgentOut,
    AgentState,
    CollaborationDraft,
    TemplateDefinition,
)
from berrys.services.agents.tables import Agent, AgentCollaboration, AgentStateHistory
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue.contracts import AgentType
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import BudgetScope, BudgetSet


async def insert(
    models: llm.Runtime,
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    user: UserOut,
    name: str,
    agent_type: AgentType,
    definition: TemplateDefinition,
    template_id: uuid.UUID | None = None,
    template_version: int | None = None,
    generated: bool = False,
    requirements: Sequence[str] = (),
) -> AgentOut:
    """Write one agent, its first history row and its audit entry (access already checked)."""
    _prompts.check(definition.prompt_template)
    agent = Agent(
        project_id=project_id,
        name=name,
        agent_type=agent_type,
        role=definition.role,
        goal=definition.goal,
        description=definition.description,
        prompt_template=definition.prompt_template,
        configuration=definition.configuration.model_dump(),
        specialisation=definition.specialisation.model_dump(),
        state=AgentState.CREATED,
        template_id=template_id,
        template_version=template_version,
        generated=generated,
        requirements=list(requirements),
        created_by=user.id,
    )
    session.add(agent)
    await session.flush()
    return await _record_creation(models, session, agent, user=user)


async def _record_creation(
    models: llm.Runtime, session: AsyncSession, agent: Agent, *, user: UserOut
) -> AgentOut:
    """A new agent's first history row, its AGENT budget and its audit entry."""
    session.add(
        AgentStateHistory(
            agent_id=agent.id,
            from_state=None,
            to_state=AgentState.CREATED,
            reason="generated" if agent.generated else "created",
            transitioned_by=user.id,
        )
    )
    created = AgentOut.model_validate(agent)
    await sync_budget(
        models,
        session,
        agent_id=agent.id,
        before=None,
        after=created.configuration.budget_usd,
        user=user,
    )
    await audit.record(
        session,
        entity_type="agent",
        entity_id=agent.id,
        project_id=agent.project_id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=created,
    )
    return created


async def sync_budget(
    models: llm.Runtime,
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    before: float | None,
    after: float | None,
    user: UserOut,
) -> None:
    """The agent's ``budget_usd`` is the router's AGENT budget: set, changed or removed."""
    if after is not None and after != before:
        await llm.set_budget(
            models,
            session,
            budget_in=BudgetSet(scope=BudgetScope.AGENT, agent_id=agent_id, limit_usd=after),
            user=user,
        )
    elif after is None and before is not None:
        for budget in await llm.get_budgets(session):
            if budget.scope == BudgetScope.AGENT and budget.agent_id == agent_id:
                await llm.delete_budget(models, session, budget_id=budget.id, user=user)


async def remove(
    models: llm.Runtime, session: AsyncSession, *, agent: Agent, user: UserOut
) -> None:
    before = AgentOut.model_validate(agent)
    await sync_budget(
        models,
        session,
        agent_id=agent.id,
        before=before.configuration.budget_usd,
        after=None,
        user=user,
    )
    await session.delete(agent)
    await audit.record(
        session,
        entity_type="agent",
        entity_id=before.id,
        project_id=before.project_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )


async def replace_collaboration(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    edges: Sequence[CollaborationDraft],
    ids_by_name: dict[str, uuid.UUID],
) -> None:
    """Rewrite the project's graph from named edges (edges naming unknown agents are dropped)."""
    await session.execute(
        sql_delete(AgentCollaboration).where(AgentCollaboration.project_id == project_id)
    )
    seen: set[tuple[uuid.UUID, uuid.UUID, str]] = set()
    for edge in edges:
        source, target = ids_by_name.get(edge.from_agent), ids_by_name.get(edge.to_agent)
        if source is None or target is None or source == target:
            continue
        key = (source, target, edge.interaction.value)
        if key in seen:
            continue
        seen.add(key)
        session.add(
            AgentCollaboration(
                project_id=project_id,
                from_agent_id=source,
                to_agent_id=target,
                interaction=edge.interaction,
                description=edge.description,
            )
        )
    await session.flush()


async def lock_project_agents(session: AsyncSession, *, project_id: uuid.UUID) -> list[Agent]:
    """The project's agent rows, locked for a regeneration (access already checked).

    On PostgreSQL a transaction-scoped advisory lock per project serialises concurrent
    regenerations (SQLite's write transactions are serial already) and the rows are locked
    against concurrent transitions.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(project_id.bytes[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    rows = await session.scalars(
        select(Agent)
        .where(Agent.project_id == project_id)
        .order_by(Agent.created_at, Agent.id)
        .with_for_update()
    )
    return list(rows)
