"""Plan drafts by rules, per methodology: deterministic, offline, the router's last fallback.

The work items are the project's requirements (those its team was generated from), else the
sentences of its description that ask for something.
Each item becomes tasks of a few kinds (research, design, build, document, verify); a kind
goes to the team's agent of the matching type and takes its required skills from that
agent's own skills, so every drafted task fits its agent.

- WATERFALL: phases Analysis -> Design -> Build -> Verification -> Handover, each closed by a
  review; a phase starts when the previous review is done (FS).
- AGILE: a Sprint 0, then sprints of two work items; in a sprint, verification overlaps the
  build (FF + 4 h) and each sprint ends with a review that the next sprint waits for.
- CRITICAL_PATH: the least constrained network: each item's chain runs in parallel after a
  kick-off (documentation alongside the build, SS + 4 h), joined by integration and release.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from berrys.core.enums import AgentType, DependencyType, Methodology, Priority, RiskLevel
from berrys.services.planning.contracts import (
    DependencyDraft,
    MilestoneDraft,
    PhaseDraft,
    PlanDraft,
    TaskDraft,
)

T = AgentType
FS, SS, FF = DependencyType.FS, DependencyType.SS, DependencyType.FF


@dataclass(frozen=True)
class TeamMember:
    name: str
    agent_type: AgentType
    skills: tuple[str, ...]


@dataclass(frozen=True)
class Kind:
    verb: str
    agent_types: tuple[AgentType, ...]
    keywords: tuple[str, ...]
    hours: float


KINDS: dict[str, Kind] = {
    "plan": Kind("Plan", (T.COORDINATOR,), ("plan", "coordinat", "track", "deleg"), 4.0),
    "research": Kind(
        "Research", (T.RESEARCHER, T.SPECIALIST), ("research", "analys", "search"), 6.0
    ),
    "design": Kind("Design", (T.DESIGNER,), ("design", "ux", "prototyp", "visual"), 6.0),
    "build": Kind(
        "Build", (T.DEVELOPER, T.SPECIALIST, T.CUSTOM), ("engineer", "develop", "api", "cod"), 12.0
    ),
    "document": Kind("Document", (T.ASSISTANT,), ("writ", "edit", "summar", "document"), 4.0),
    "verify": Kind(
        "Verify", (T.AUDITOR, T.DEVELOPER), ("test", "quality", "review", "security"), 5.0
    ),
    "review": Kind("Review", (T.COORDINATOR, T.AUDITOR), ("review", "track", "plan"), 2.0),
}
_ASKS = re.compile(
    r"\b(?:build|create|make|develop|implement|write|design|add|support|provide|need|needs|"
    r"should|must|want|allow|let|include|research|test|deploy|publish)\b",
    re.IGNORECASE,
)
_RISKY = re.compile(r"\b(?:secur|payment|migrat|integrat|real-?time|scale|legacy|ai\b|ml\b)", re.I)


def work_items(description: str, *, requirements: Sequence[str] = (), limit: int = 8) -> list[str]:
    """The project's requirements (from its team's generation) when it has them, else the
    sentences of the description that ask for something (or all, or one fallback)."""
    listed = [r.strip().rstrip(".!?;") for r in requirements if len(r.strip()) > 3]
    if listed:
        return list(dict.fromkeys(r[:150] for r in listed))[:limit]
    sentences = [s.strip(" -*\t") for s in re.split(r"(?<=[.!?;])\s+|\n+", description)]
    sentences = [s.rstrip(".!?;") for s in sentences if len(s.strip()) > 3]
    asking = [s for s in sentences if _ASKS.search(s)] or sentences
    items = list(dict.fromkeys(s[:150] for s in asking))[:limit]
    return items or ["Deliver the project"]


def _short(item: str, words: int = 7) -> str:
    parts = item.split()
    return " ".join(parts[:words]) + ("..." if len(parts) > words else "")


class _Builder:
    def __init__(self, team: Sequence[TeamMember]) -> None:
        self.team = list(team)
        self.phases: list[PhaseDraft] = []
        self.deps: list[DependencyDraft] = []
        self.milestones: list[MilestoneDraft] = []
        self._count = 0
        self._load: dict[str, float] = {m.name: 0.0 for m in self.team}

    def has(self, agent_type: AgentType) -> bool:
        return any(m.agent_type == agent_type for m in self.team)

    def _member(self, kind: Kind) -> TeamMember | None:
        for agent_type in kind.agent_types:
            members = [m for m in self.team if m.agent_type == agent_type]
            if members:
                return min(members, key=lambda m: (self._load[m.name], m.name))
        if not self.team:
            return None
        return min(self.team, key=lambda m: (self._load[m.name], m.name))

    def task(
        self, phase: PhaseDraft, kind_name: str, subject: str, *, hours: float | None = None
    ) -> str:
        kind = KINDS[kind_name]
        member = self._member(kind)
        skills: list[str] = []
        if member is not None:
            skills = [s for s in member.skills if any(k in s.lower() for k in kind.keywords)][:2]
            skills = skills or list(member.skills[:1])
            self._load[member.name] += hours or kind.hours
        self._count += 1
        key = f"T{self._count}"
        likely = hours or kind.hours
        risky = bool(_RISKY.search(subject))
        phase.tasks.append(
            TaskDraft(
                key=key,
                name=f"{kind.verb}: {_short(subject)}"[:200],
                description=f"{kind.verb} for: {subject}",
                acceptance_criteria=[f"{kind.verb} of '{_short(subject)}' is done and reviewed"],
                estimate_hours=likely,
                optimistic_hours=round(likely * 0.75, 2),
                pessimistic_hours=round(likely * (2.0 if risky else 1.5), 2),
                required_skills=skills,
                priority=Priority.HIGH if kind_name in ("build", "verify") else Priority.MEDIUM,
                risk_level=RiskLevel.HIGH if risky else RiskLevel.LOW,
                agent=member.name if member else None,
            )
        )
        return key

    def dep(self, a: str, b: str, kind: DependencyType = FS, lag: float = 0.0) -> None:
        self.deps.append(DependencyDraft(from_task=a, to_task=b, type=kind, lag_hours=lag))

    def phase(self, name: str, description: str = "") -> PhaseDraft:
        phase = PhaseDraft(name=name, description=description, tasks=[])
        self.phases.append(phase)
        return phase

    def draft(self) -> PlanDraft:
        return PlanDraft(phases=self.phases, dependencies=self.deps, milestones=self.milestones)


def _chain(b: _Builder, phase: PhaseDraft, item: str, after: str | None) -> tuple[str, str]:
    """One work item's tasks: (research) -> (design) -> build (+ document) -> verify."""
    first = last = None
    for kind in ("research", "design"):
        if (kind == "research" and b.has(T.RESEARCHER)) or (kind == "design" and b.has(T.DESIGNER)):
            key = b.task(phase, kind, item)
            if last:
                b.dep(last, key)
            first, last = first or key, key
    build = b.task(phase, "build", item)
    if last:
        b.dep(last, build)
    first = first or build
    if b.has(T.ASSISTANT):
        b.dep(build, b.task(phase, "document", item), SS, 4.0)
    verify = b.task(phase, "verify", item)
    b.dep(build, verify)
    if after:
        b.dep(after, first)
    return first, verify


def draft(
    methodology: Methodology,
    description: str,
    team: Sequence[TeamMember],
    *,
    requirements: Sequence[str] = (),
) -> PlanDraft:
    """The rules' plan for ``methodology`` (see the module docstring)."""
    items = work_items(description, requirements=requirements)
    b = _Builder(team)
    if methodology == Methodology.WATERFALL:
        return _waterfall(b, items)
    if methodology == Methodology.AGILE:
        return _agile(b, items)
    return _critical_path(b, items)


def _waterfall(b: _Builder, items: list[str]) -> PlanDraft:
    stages = [
        ("Analysis", "research", "Requirements and analysis"),
        ("Design", "design", "Architecture and design"),
        ("Build", "build", "Implementation"),
        ("Verification", "verify", "Testing and verification"),
        ("Handover", "document", "Documentation, release and handover"),
    ]
    gate: str | None = None
    for name, kind, description in stages:
        phase = b.phase(name, description)
        keys = [b.task(phase, kind, item) for item in items]
        review = b.task(phase, "review", f"{name} phase", hours=2.0)
        for key in keys:
            if gate:
                b.dep(gate, key)
            b.dep(key, review)
        b.milestones.append(MilestoneDraft(name=f"{name} complete", phase=name, task_keys=[review]))
        gate = review
    return b.draft()


def _agile(b: _Builder, items: list[str]) -> PlanDraft:
    setup = b.phase("Sprint 0", "Backlog, environment and working agreements")
    gate = b.task(setup, "plan", "backlog and sprint plan")
    sprints = [items[i : i + 2] for i in range(0, len(items), 2)]
    for number, chunk in enumerate(sprints, start=1):
        phase = b.phase(f"Sprint {number}", "; ".join(_short(i, 5) for i in chunk))
        ends = []
        for item in chunk:
            build = b.task(phase, "build", item)
            verify = b.task(phase, "verify", item)
            b.dep(gate, build)
            b.dep(build, verify, FF, 4.0)
            b.dep(gate, verify)
            ends += [build, verify]
            if b.has(T.ASSISTANT):
                document = b.task(phase, "document", item, hours=3.0)
                b.dep(build, document, SS, 4.0)
                ends.append(document)
        review = b.task(phase, "review", f"Sprint {number} review and retrospective", hours=2.0)
        for key in ends:
            b.dep(key, review)
        b.milestones.append(
            MilestoneDraft(name=f"Sprint {number} done", phase=phase.name, task_keys=[review])
        )
        gate = review
    return b.draft()


def _critical_path(b: _Builder, items: list[str]) -> PlanDraft:
    start = b.phase("Kick-off")
    kickoff = b.task(start, "plan", "scope, plan and hand-offs", hours=3.0)
    work = b.phase("Work streams", "Independent streams, one per work item, run in parallel")
    ends = [_chain(b, work, item, kickoff)[1] for item in items]
    finish = b.phase("Integration and release")
    integrate = b.task(finish, "build", "integration of all work streams", hours=6.0)
    for key in ends:
        b.dep(key, integrate)
    release = b.task(finish, "verify", "release acceptance", hours=3.0)
    b.dep(integrate, release)
    b.milestones.append(MilestoneDraft(name="Release", phase=finish.name, task_keys=[release]))
    return b.draft()
