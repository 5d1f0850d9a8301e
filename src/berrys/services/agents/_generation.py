"""Team generation: description -> requirements -> agent types -> team -> collaboration graph.

Both model calls go through the router with structured output, the catalogue's reading of
the description as guidance and the catalogue's answer as their ``rules=`` answer; a model's
team that lacks the kind of agent doing most of the work is replaced by the catalogue's. What
was understood is kept as the project's profile. No transaction is held across a model
call: the project is read in one short transaction, the team written in another.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.agents import _prompts, _roster, _rules
from berrys.services.agents.contracts import (
    MAX_GENERATION_DESCRIPTION,
    AgentConfiguration,
    AgentDraft,
    AgentState,
    CollaborationDraft,
    GenerateRequest,
    GenerationOut,
    ProposedAgent,
    RequirementDraft,
    RequirementOut,
    RequirementsDraft,
    Specialisation,
    StepSource,
    TeamDraft,
    TemplateDefinition,
)
from berrys.services.agents.tables import Agent
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import AgentType
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelTaskType,
)
from berrys.services.projects import service as projects

Answer = TypeVar("Answer", bound=BaseModel)

T = AgentType

REQUIREMENTS_INSTRUCTIONS = (
    "Extract the requirements of the project described by the user. Return JSON with "
    '"requirements": a list of {"text", "category" (FUNCTIONAL, NON_FUNCTIONAL, '
    'DOMAIN_SPECIFIC, TECHNICAL, INTEGRATION or COLLABORATION), "priority" (CRITICAL, HIGH, '
    'MEDIUM or LOW), "confidence" (0 to 1, how sure you are this is a real requirement), '
    '"agent_types" (which of COORDINATOR, ASSISTANT, RESEARCHER, DEVELOPER, DESIGNER, '
    "SPECIALIST, AUDITOR the requirement calls for)}. One requirement per distinct need; "
    "do not invent needs the description does not state."
)
TEAM_INSTRUCTIONS = (
    "Propose the smallest team of AI agents that can meet these requirements. Return JSON "
    'with "agents": a list of {"name", "agent_type", "role", "goal", "skills", '
    '"responsibilities", "knowledge_domains", "model_preference" (quality, balanced or cost), '
    '"requirement_ids" (1-based numbers of the requirements the agent covers)} and '
    '"collaboration": a list of {"from_agent", "to_agent", "interaction" (DELEGATES, '
    'HANDS_OFF, REVIEWS, REPORTS_TO or CONSULTS), "description"} naming agents by name. '
    "Include a COORDINATOR when the team has more than one agent, and an AUDITOR when any "
    "requirement concerns quality, security or compliance. No agent without a requirement."
)


async def _complete(
    models: llm.Runtime,
    database: Database,
    *,
    task_type: ModelTaskType,
    instructions: str,
    content: str,
    schema: type[Answer],
    rules_answer: Callable[[], Answer],
    project_id: uuid.UUID,
    user_id: uuid.UUID,
) -> tuple[Answer, StepSource]:
    """One structured model call through the router; the rules are its last fallback."""
    completion = await llm.complete(
        models,
        database,
        CompletionRequest(
            messages=[
                ChatMessage(role="system", content=instructions),
                ChatMessage(role="user", content=content),
            ],
            task_type=task_type,
            response_schema=schema,
            rules=rules_answer,
            project_id=project_id,
            user_id=user_id,
        ),
    )
    parsed = completion.parsed
    answer = parsed if isinstance(parsed, schema) else schema.model_validate(parsed)
    return answer, StepSource(
        provider=completion.provider,
        model=completion.model,
        from_rules=completion.from_rules,
        fallback=completion.fallback,
        reason=completion.reason,
    )


def check_description(description: str | None) -> str:
    """The description to generate from; empty or over-long is Unprocessable."""
    text = (description or "").strip()
    if "\x00" in text:
        raise Unprocessable("The description contains NUL (\\u0000) characters")
    if not text:
        raise Unprocessable(
            "There is no description to generate a team from: give the project a description "
            "or pass one in the request"
        )
    if len(text) > MAX_GENERATION_DESCRIPTION:
        raise Unprocessable(
            f"The description is {len(text)} characters long; team generation takes at most "
            f"{MAX_GENERATION_DESCRIPTION}"
        )
    return text


def _numbered(requirements: Sequence[RequirementDraft]) -> str:
    return json.dumps(
        [
            {"id": number, **requirement.model_dump(mode="json")}
            for number, requirement in enumerate(requirements, start=1)
        ],
        ensure_ascii=False,
    )


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate.lower() in taken:
        candidate = f"{name} {number}"[:200]
        number += 1
    taken.add(candidate.lower())
    return candidate


def normalise_team(
    team: TeamDraft, requirements: Sequence[RequirementDraft], *, guide: TeamDraft
) -> tuple[TeamDraft, list[str]]:
    """Enforce the team's invariants on any answer: unique names, valid prompts and
    requirement numbers, a coordinator (the ``guide``'s) for three or more, edges between
    known agents. Return the team and what was changed."""
    notes: list[str] = []
    count = len(requirements)
    taken: set[str] = set()
    renamed: dict[str, str] = {}
    agents: list[AgentDraft] = []
    for agent in team.agents:
        name = _unique(agent.name, taken)
        if name != agent.name:
            notes.append(f"renamed a second {agent.name!r} to {name!r}")
        renamed.setdefault(agent.name, name)
        ids = [n for n in dict.fromkeys(agent.requirement_ids) if 1 <= n <= count]
        prompt = agent.prompt_template or _rules.DEFAULT_PROMPT
        try:
            _prompts.check(prompt)
        except Unprocessable:
            notes.append(f"{name}: invalid prompt template replaced by the default")
            prompt = _rules.DEFAULT_PROMPT
        agents.append(
            agent.model_copy(
                update={"name": name, "requirement_ids": ids, "prompt_template": prompt}
            )
        )
    types = {agent.agent_type for agent in agents}
    lead = next((a for a in guide.agents if a.agent_type == AgentType.COORDINATOR), None)
    if len(agents) > 2 and AgentType.COORDINATOR not in types and lead is not None:
        agents.insert(0, lead.model_copy(update={"name": _unique(lead.name, taken)}))
        notes.append("added a COORDINATOR: a team of three or more needs one")
    names = {agent.name for agent in agents}
    edges: list[CollaborationDraft] = []
    for edge in team.collaboration:
        source = renamed.get(edge.from_agent, edge.from_agent)
        target = renamed.get(edge.to_agent, edge.to_agent)
        if source in names and target in names and source != target:
            edges.append(edge.model_copy(update={"from_agent": source, "to_agent": target}))
        else:
            notes.append(
                f"dropped an edge naming an unknown agent: {edge.from_agent} -> {edge.to_agent}"
            )
    if len(agents) > len(team.agents) or (len(agents) > 1 and not edges):
        edges = _rules.collaboration_graph(agents)
        if team.collaboration:
            notes.append("collaboration graph drawn by the rules")
    return TeamDraft(agents=agents, collaboration=edges), notes


def _requirement_drafts(understood: catalogue.Breakdown) -> list[RequirementDraft]:
    """The catalogue's requirements, each with the agent types of the roles answering it."""
    types_of: dict[int, set[AgentType]] = {}
    for key, numbers in understood.role_requirements.items():
        for number in numbers:
            types_of.setdefault(number, set()).add(understood.roles[key].agent_type)
    return [
        RequirementDraft(
            text=requirement.text,
            category=requirement.category,
            priority=requirement.priority,
            confidence=(0.9 if understood.types else 0.5)
            if requirement.source == "stated"
            else 0.7,
            agent_types=sorted(types_of.get(number, set()), key=list(AgentType).index),
            source=requirement.source,
        )
        for number, requirement in enumerate(understood.requirements, start=1)
    ]


def _guidance(understood: catalogue.Breakdown) -> str:
    """The catalogue's reading of the project, given to a model as guidance."""
    types = ", ".join(f"{t.name} ({t.confidence:.2f})" for t in understood.types) or "none fits"
    roles = "; ".join(
        f"{r.name} ({r.agent_type.value}): {', '.join(r.responsibilities[:2])}"
        for r in understood.roles.values()
    )
    return f"Project types: {types}.\nA professional would staff: {roles}."


class Proposal(NamedTuple):
    understood: catalogue.Breakdown
    requirements: list[RequirementOut]
    team: TeamDraft
    sources: dict[str, StepSource]
    notes: list[str]


async def propose(
    models: llm.Runtime,
    database: Database,
    *,
    project_id: uuid.UUID,
    description: str,
    user_id: uuid.UUID,
) -> Proposal:
    """Requirements and a team for ``description`` (model calls, no transaction held): the
    catalogue's, or a model's checked against the catalogue's."""
    understood = await catalogue.understand(models, description)
    guide_requirements = _requirement_drafts(understood)
    guide = catalogue.team_draft(understood)
    guidance = _guidance(understood)
    requirements_answer, requirements_source = await _complete(
        models,
        database,
        task_type=ModelTaskType.REQUIREMENTS,
        instructions=REQUIREMENTS_INSTRUCTIONS,
        content=f"{description}\n\nGuidance:\n{guidance}",
        schema=RequirementsDraft,
        rules_answer=lambda: RequirementsDraft(requirements=guide_requirements),
        project_id=project_id,
        user_id=user_id,
    )
    drafts = requirements_answer.requirements or guide_requirements
    team_answer, team_source = await _complete(
        models,
        database,
        task_type=ModelTaskType.TEAM,
        instructions=TEAM_INSTRUCTIONS,
        content=f"Project description:\n{description}\n\nRequirements:\n{_numbered(drafts)}"
        f"\n\nGuidance:\n{guidance}",
        schema=TeamDraft,
        rules_answer=lambda: guide,
        project_id=project_id,
        user_id=user_id,
    )
    notes: list[str] = []
    if not team_source.from_rules:
        problems = catalogue.team_problems(team_answer, understood)
        if problems:
            notes.append(f"the model's team was replaced by the catalogue's: {'; '.join(problems)}")
            team_answer = guide
            team_source = _replaced(team_source, problems)
    if team_source.from_rules and not requirements_source.from_rules:
        # the catalogue's requirement numbers do not index a model's requirements
        team_answer = TeamDraft(
            agents=[a.model_copy(update={"requirement_ids": []}) for a in team_answer.agents],
            collaboration=team_answer.collaboration,
        )
    team, changed = normalise_team(team_answer, drafts, guide=guide)
    requirements = [
        RequirementOut(id=number, **draft.model_dump())
        for number, draft in enumerate(drafts, start=1)
    ]
    sources = {"requirements": requirements_source, "team": team_source}
    return Proposal(understood, requirements, team, sources, notes + changed)


def _replaced(source: StepSource, problems: list[str]) -> StepSource:
    return StepSource(
        provider=ModelProvider.RULES,
        model="catalogue",
        from_rules=True,
        fallback=True,
        reason=f"{source.provider.value}/{source.model} answered a team that "
        f"{'; '.join(problems)}: the catalogue's team replaced it",
    )


def _definition(agent: AgentDraft, requirements: Sequence[RequirementOut]) -> TemplateDefinition:
    profile = _rules.PROFILES[agent.agent_type]
    covered = [requirements[n - 1].text for n in agent.requirement_ids]
    return TemplateDefinition(
        role=agent.role,
        goal=agent.goal,
        description=f"Generated for {len(covered)} requirement(s)." if covered else "Generated.",
        prompt_template=agent.prompt_template,
        configuration=AgentConfiguration(
            model_preference=agent.model_preference, temperature=profile.temperature
        ),
        specialisation=Specialisation(
            skills=agent.skills,
            responsibilities=agent.responsibilities,
            knowledge_domains=agent.knowledge_domains,
        ),
    )


def match_kept(proposed: Sequence[AgentDraft], kept: Sequence[Agent]) -> dict[str, Agent]:
    """Which kept agent stands in for which proposal: the same name and type first, then the
    same type (a model may name the same role differently each time)."""
    free = list(kept)
    matches: dict[str, Agent] = {}
    for exact in (True, False):
        for agent in proposed:
            if agent.name in matches:
                continue
            found = next(
                (
                    k
                    for k in free
                    if k.agent_type == agent.agent_type
                    and (not exact or k.name.lower() == agent.name.lower())
                ),
                None,
            )
            if found is not None:
                matches[agent.name] = found
                free.remove(found)
    return matches


async def generate(
    models: llm.Runtime,
    database: Database,
    *,
    project_id: uuid.UUID,
    request: GenerateRequest,
    user: UserOut,
) -> GenerationOut:
    """Generate a team; persist it unless ``dry_run``. Regenerating replaces generated agents
    that never started (still CREATED) and keeps every agent that did."""
    async with database.transaction(read_only=True) as session:
        project = await projects.get(session, project_id=project_id, user=user)
    description = check_description(request.description or project.description)
    proposal = await propose(
        models, database, project_id=project_id, description=description, user_id=user.id
    )
    proposed = [ProposedAgent(**agent.model_dump()) for agent in proposal.team.agents]
    result = GenerationOut(
        project_id=project_id,
        dry_run=request.dry_run,
        requirements=proposal.requirements,
        team=proposed,
        collaboration=proposal.team.collaboration,
        sources=proposal.sources,
        notes=proposal.notes,
        title=proposal.understood.title,
        project_types=proposal.understood.types,
    )
    if request.dry_run:
        return result
    async with database.transaction() as session:
        await _persist(models, session, proposal, proposed, result=result, user=user)
    return result


async def _persist(
    models: llm.Runtime,
    session: AsyncSession,
    proposal: Proposal,
    proposed: list[ProposedAgent],
    *,
    result: GenerationOut,
    user: UserOut,
) -> None:
    """Write the proposed team, its collaboration and the project's profile; ``proposed`` and
    ``result`` learn the agents' ids, which were kept and how many were replaced."""
    project_id = result.project_id
    try:
        await projects.get(session, project_id=project_id, user=user)
    except NotFound:
        raise NotFound.of("Project", project_id) from None
    replaced, kept = await _clear_unstarted(models, session, project_id=project_id, user=user)
    ids_by_name, renamed = await _place_agents(
        models, session, proposed, kept, proposal.requirements, project_id=project_id, user=user
    )
    result.collaboration = [
        edge.model_copy(
            update={
                "from_agent": renamed.get(edge.from_agent, edge.from_agent),
                "to_agent": renamed.get(edge.to_agent, edge.to_agent),
            }
        )
        for edge in proposal.team.collaboration
    ]
    await _roster.replace_collaboration(
        session, project_id=project_id, edges=result.collaboration, ids_by_name=ids_by_name
    )
    await catalogue.save_profile(
        session,
        project_id=project_id,
        understood=proposal.understood,
        source=_profile_source(proposal.sources),
    )
    result.kept = sum(1 for agent in proposed if agent.kept)
    result.replaced = len(replaced)
    await audit.record(
        session,
        entity_type="agent_team",
        entity_id=project_id,
        project_id=project_id,
        action=AuditAction.GENERATE,
        actor_id=user.id,
        after=_generation_entry(proposal, proposed, replaced),
    )


async def _clear_unstarted(
    models: llm.Runtime, session: AsyncSession, *, project_id: uuid.UUID, user: UserOut
) -> tuple[list[Agent], list[Agent]]:
    """Remove the generated agents that never started: (the removed, the kept alive)."""
    existing = await _roster.lock_project_agents(session, project_id=project_id)
    replaced = [a for a in existing if a.generated and a.state == AgentState.CREATED]
    kept = [a for a in existing if a not in replaced and a.state != AgentState.TERMINATED]
    for agent in replaced:
        await _roster.remove(models, session, agent=agent, user=user)
    await session.flush()
    return replaced, kept


async def _place_agents(
    models: llm.Runtime,
    session: AsyncSession,
    proposed: list[ProposedAgent],
    kept: list[Agent],
    requirements: list[RequirementOut],
    *,
    project_id: uuid.UUID,
    user: UserOut,
) -> tuple[dict[str, uuid.UUID], dict[str, str]]:
    """A kept agent stands in for each proposal it matches (taking its name), the others are
    created: (each agent's id by name, the proposed name -> the kept agent's)."""
    matches = match_kept(proposed, kept)
    ids_by_name: dict[str, uuid.UUID] = {}
    renamed: dict[str, str] = {}
    for agent in proposed:
        match = matches.get(agent.name)
        if match is not None:
            renamed[agent.name] = match.name
            agent.id, agent.kept, agent.name = match.id, True, match.name
        else:
            created = await _roster.insert(
                models,
                session,
                project_id=project_id,
                user=user,
                name=agent.name,
                agent_type=agent.agent_type,
                definition=_definition(agent, requirements),
                generated=True,
                requirements=[requirements[n - 1].text for n in agent.requirement_ids],
            )
            agent.id = created.id
        ids_by_name[agent.name] = agent.id
    return ids_by_name, renamed


def _generation_entry(
    proposal: Proposal, proposed: list[ProposedAgent], replaced: list[Agent]
) -> dict[str, object]:
    """What the audit entry of a generation keeps: the requirements, the team, its sources."""
    return {
        "requirements": [r.model_dump(mode="json") for r in proposal.requirements],
        "agents": [
            {
                "id": str(agent.id),
                "name": agent.name,
                "agent_type": agent.agent_type.value,
                "kept": agent.kept,
                "requirement_ids": agent.requirement_ids,
            }
            for agent in proposed
        ],
        "replaced": [str(agent.id) for agent in replaced],
        "sources": {k: v.model_dump(mode="json") for k, v in proposal.sources.items()},
        "notes": proposal.notes,
    }


def _profile_source(sources: dict[str, StepSource]) -> str:
    team = sources["team"]
    if team.from_rules:
        return f"catalogue ({team.reason})" if team.fallback and team.reason else "catalogue"
    return f"{team.provider.value}/{team.model}".lower()
