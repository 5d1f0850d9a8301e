"""Team generation by rules: deterministic, offline, and the router's last fallback.

Requirements come from sentences (modal verbs give the priority, keywords the category and
the agent types); the team is one agent per type the requirements call for (one specialist
per domain, at most two), a COORDINATOR for any team over one, an AUDITOR where quality,
security or compliance is asked for; the collaboration graph follows the hand-off order.
Confidence is honest: the rules never claim more than 0.8, and a sentence with no signal
gets 0.3.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from berrys.core.enums import AgentType, CollaborationType, Priority, RequirementCategory
from berrys.services.agents import keywords as kw
from berrys.services.agents.contracts import (
    AgentDraft,
    CollaborationDraft,
    RequirementDraft,
    RequirementsDraft,
    TeamDraft,
)

T = AgentType
C = RequirementCategory

MAX_REQUIREMENTS = 60
SPECIALIST_LIMIT = 2


def split_sentences(text: str) -> list[str]:
    """Sentences and bullet points, in order, without their bullets or trailing punctuation."""
    text = text.replace("\x00", " ")
    protected = kw.ABBREVIATIONS.sub(lambda m: m.group(0).replace(". ", "\u2024 "), text)
    pieces: list[str] = []
    for raw in kw.SENTENCE_END.split(protected):
        piece = kw.BULLET.sub("", raw.replace("\u2024", ".")).strip().rstrip(".!?;:").strip()
        if len(piece.split()) >= 2 or (piece and _any_signal(piece)):
            pieces.append(piece)
    return pieces


def _any_signal(text: str) -> bool:
    return bool(agent_types_for(text) or specialist_domains(text))


def agent_types_for(text: str) -> list[AgentType]:
    """The agent types a piece of text calls for (SPECIALIST when a domain is named)."""
    found = [agent_type for agent_type, pattern in kw.TYPE_KEYWORDS.items() if pattern.search(text)]
    if specialist_domains(text):
        found.append(T.SPECIALIST)
    return sorted(set(found), key=list(T).index)


def specialist_domains(text: str) -> list[str]:
    return [domain for domain, pattern in kw.SPECIALIST_DOMAINS.items() if pattern.search(text)]


def _category(text: str) -> tuple[RequirementCategory, int]:
    scores = {
        category: len(pattern.findall(text)) for category, pattern in kw.CATEGORY_KEYWORDS.items()
    }
    best = max(kw.CATEGORY_ORDER, key=lambda c: (scores.get(c, 0), -kw.CATEGORY_ORDER.index(c)))
    if scores.get(best, 0) == 0:
        return C.FUNCTIONAL, 0
    return best, scores[best]


def _priority(text: str, category: RequirementCategory) -> tuple[Priority, bool]:
    """Priority from modal verbs; the flag says whether any modal or imperative was seen."""
    if kw.CRITICAL.search(text):
        return Priority.CRITICAL, True
    if kw.STRONG.search(text):
        if category == C.NON_FUNCTIONAL and kw.SENSITIVE.search(text):
            return Priority.CRITICAL, True
        return Priority.HIGH, True
    if kw.WEAK.search(text):
        return Priority.LOW, True
    if kw.MEDIUM.search(text):
        return Priority.MEDIUM, True
    if kw.IMPERATIVE.search(text):
        return Priority.HIGH, True
    return Priority.MEDIUM, False


def _confidence(*, modal: bool, category_hits: int, type_hits: int, words: int) -> float:
    score = 0.3
    if modal:
        score += 0.15
    score += min(0.1 * category_hits, 0.15)
    score += min(0.1 * type_hits, 0.2)
    if words < 4:
        score -= 0.1
    return round(max(0.1, min(score, 0.8)), 2)


def extract_requirements(description: str) -> RequirementsDraft:
    """Requirements from a plain-English description, one per sentence or bullet."""
    requirements: list[RequirementDraft] = []
    for sentence in split_sentences(description)[:MAX_REQUIREMENTS]:
        category, category_hits = _category(sentence)
        priority, modal = _priority(sentence, category)
        types = agent_types_for(sentence)
        requirements.append(
            RequirementDraft(
                text=sentence[:2000],
                category=category,
                priority=priority,
                confidence=_confidence(
                    modal=modal,
                    category_hits=category_hits,
                    type_hits=len(types),
                    words=len(sentence.split()),
                ),
                agent_types=types,
            )
        )
    return RequirementsDraft(requirements=requirements)


# --- the team --------------------------------------------------------------------------------


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

NAMES: dict[AgentType, str] = {
    T.COORDINATOR: "Coordinator",
    T.ASSISTANT: "Writer",
    T.RESEARCHER: "Researcher",
    T.DEVELOPER: "Developer",
    T.DESIGNER: "Designer",
    T.AUDITOR: "Auditor",
    T.CUSTOM: "Generalist",
}

# The agent's own instructions; the router's specialisation hook puts its role, skills,
# responsibilities and domains in front of them.
DEFAULT_PROMPT = (
    'You are {{ agent.name }}, working on the project "{{ project.name }}".\n'
    "Your goal: {{ agent.goal }}\n"
    "Hand your results on as the collaboration plan says, and say plainly when you are unsure."
)

# Who hands work to whom: the order work flows through a team.
PIPELINE = (T.RESEARCHER, T.SPECIALIST, T.DESIGNER, T.DEVELOPER, T.ASSISTANT, T.CUSTOM)


def _matched_terms(text: str, patterns: Iterable[re.Pattern[str]]) -> list[str]:
    terms: list[str] = []
    for pattern in patterns:
        for match in pattern.finditer(text):
            term = match.group(0).lower().strip()
            if term not in terms:
                terms.append(term)
    return terms


def draft_team(requirements: Sequence[RequirementDraft]) -> TeamDraft:
    """A team for the requirements: one agent per type they call for, and no more."""
    by_type: dict[AgentType, list[int]] = {}
    by_domain: dict[str, list[int]] = {}
    for number, requirement in enumerate(requirements, start=1):
        types = set(requirement.agent_types) | set(agent_types_for(requirement.text))
        types.discard(T.COORDINATOR)
        for agent_type in types - {T.SPECIALIST}:
            by_type.setdefault(agent_type, []).append(number)
        domains = specialist_domains(requirement.text)
        if T.SPECIALIST in types and not domains:
            domains = ["Domain"]
        for domain in domains:
            by_domain.setdefault(domain, []).append(number)

    agents: list[AgentDraft] = []
    for agent_type in (*PIPELINE, T.AUDITOR):
        if agent_type == T.SPECIALIST:
            ranked = sorted(by_domain.items(), key=lambda item: (-len(item[1]), item[1][0]))
            for domain, numbers in ranked[:SPECIALIST_LIMIT]:
                agents.append(
                    agent_draft(T.SPECIALIST, numbers, requirements, name=f"{domain} Specialist")
                )
        elif agent_type in by_type:
            agents.append(agent_draft(agent_type, by_type[agent_type], requirements))
    if not agents:  # nothing recognisable: one generalist assistant takes everything
        agents.append(agent_draft(T.ASSISTANT, list(range(1, len(requirements) + 1)), requirements))
    if len(agents) > 1:
        collaboration_numbers = [
            number
            for number, requirement in enumerate(requirements, start=1)
            if requirement.category == C.COLLABORATION
        ]
        agents.insert(0, agent_draft(T.COORDINATOR, collaboration_numbers, requirements))
    return TeamDraft(agents=agents, collaboration=collaboration_graph(agents))


def agent_draft(
    agent_type: AgentType,
    numbers: list[int],
    requirements: Sequence[RequirementDraft],
    *,
    name: str | None = None,
) -> AgentDraft:
    """One drafted agent of ``agent_type`` for the requirements numbered ``numbers``."""
    profile = PROFILES[agent_type]
    texts = [requirements[n - 1].text for n in numbers]
    skills = list(profile.skills)
    role = profile.role
    domains: list[str] = []
    if agent_type == T.SPECIALIST and name:
        domain = name.removesuffix(" Specialist")
        role = f"{domain} Specialist" if domain != "Domain" else profile.role
        if domain in kw.SPECIALIST_DOMAINS:
            domains.append(domain.lower())
            patterns = [kw.SPECIALIST_DOMAINS[domain]]
            skills += _matched_terms(" ".join(texts), patterns)
    elif agent_type in kw.TYPE_KEYWORDS:
        skills += _matched_terms(" ".join(texts), [kw.TYPE_KEYWORDS[agent_type]])
    if agent_type == T.COORDINATOR:
        texts = texts or ["Coordinate the team and keep the plan, hand-offs and status current."]
    return AgentDraft(
        name=name or NAMES[agent_type],
        agent_type=agent_type,
        role=role,
        goal=profile.goal,
        skills=list(dict.fromkeys(s[:500] for s in skills))[:15],
        responsibilities=[t[:500] for t in texts][:30],
        knowledge_domains=domains,
        model_preference=profile.model_preference,
        prompt_template=DEFAULT_PROMPT,
        requirement_ids=numbers,
    )


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
