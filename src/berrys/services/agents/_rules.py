"""The agent types' standing profiles (role, goal, skills, model preference, temperature), the
default agent prompt, and the collaboration graph drawn for a team: who delegates, who hands
off to whom, who reviews.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from berrys.services.agents.contracts import (
    DEFAULT_AGENT_PROMPT,
    AgentDraft,
    CollaborationDraft,
    CollaborationType,
)
from berrys.services.catalogue.contracts import AgentType

T = AgentType


@dataclass(frozen=True)
class Profile:
    role: str
    goal: str
    skills: tuple[str, ...]
    model_preference: str
    temperature: float


PROFILES: dict[AgentType, Profile] = {
    T.COORDINATOR: Profile(
        "Project Coordinator",
        "Break the work down, hand it to the right agent and keep the team on track.",
        ("planning", "delegation", "progress tracking", "stakeholder communication"),
        "quality",
        0.2,
    ),
    T.ASSISTANT: Profile(
        "Writer and Assistant",
        "Write, edit and summarise the project's texts clearly and accurately.",
        ("technical writing", "editing", "summarisation"),
        "balanced",
        0.5,
    ),
    T.RESEARCHER: Profile(
        "Researcher",
        "Find, check and synthesise the evidence the project needs.",
        ("literature search", "source evaluation", "synthesis", "analysis"),
        "quality",
        0.3,
    ),
    T.DEVELOPER: Profile(
        "Software Developer",
        "Build, integrate and ship working, tested software.",
        ("software engineering", "APIs", "testing", "deployment"),
        "quality",
        0.2,
    ),
    T.DESIGNER: Profile(
        "Designer",
        "Shape how the result looks and feels for the people who use it.",
        ("visual design", "UX", "prototyping", "accessibility"),
        "balanced",
        0.7,
    ),
    T.SPECIALIST: Profile(
        "Domain Specialist",
        "Bring the domain expertise the project depends on.",
        ("domain expertise", "best practices"),
        "quality",
        0.3,
    ),
    T.AUDITOR: Profile(
        "Quality and Compliance Auditor",
        "Check the work against the quality, security and compliance requirements.",
        ("quality assurance", "security review", "compliance checks", "testing"),
        "quality",
        0.1,
    ),
    T.CUSTOM: Profile(
        "Agent", "Do the work assigned.", ("general problem solving",), "balanced", 0.4
    ),
}

DEFAULT_PROMPT = DEFAULT_AGENT_PROMPT

# Who hands work to whom: the order work flows through a team.
PIPELINE = (T.RESEARCHER, T.SPECIALIST, T.DESIGNER, T.DEVELOPER, T.ASSISTANT, T.CUSTOM)


def collaboration_graph(agents: Sequence[AgentDraft]) -> list[CollaborationDraft]:
    """Edges: the coordinator delegates, workers hand off in order, the auditor reviews."""
    coordinator = next((a for a in agents if a.agent_type == T.COORDINATOR), None)
    auditor = next((a for a in agents if a.agent_type == T.AUDITOR), None)
    workers = sorted(
        (a for a in agents if a.agent_type in PIPELINE),
        key=lambda a: PIPELINE.index(a.agent_type),
    )
    edges: list[CollaborationDraft] = []
    if coordinator is not None:
        for agent in agents:
            if agent is not coordinator:
                edges.append(
                    CollaborationDraft(
                        from_agent=coordinator.name,
                        to_agent=agent.name,
                        interaction=CollaborationType.DELEGATES,
                        description=f"assigns work to the {agent.role}",
                    )
                )
    for earlier, later in itertools.pairwise(workers):
        edges.append(
            CollaborationDraft(
                from_agent=earlier.name,
                to_agent=later.name,
                interaction=CollaborationType.HANDS_OFF,
                description=f"hands results to the {later.role}",
            )
        )
    if auditor is not None:
        for worker in workers:
            edges.append(
                CollaborationDraft(
                    from_agent=auditor.name,
                    to_agent=worker.name,
                    interaction=CollaborationType.REVIEWS,
                    description=f"reviews the {worker.role}'s work",
                )
            )
    reporter = auditor or (workers[-1] if workers else None)
    if coordinator is not None and reporter is not None:
        edges.append(
            CollaborationDraft(
                from_agent=reporter.name,
                to_agent=coordinator.name,
                interaction=CollaborationType.REPORTS_TO,
                description="reports results and open issues",
            )
        )
    return edges
