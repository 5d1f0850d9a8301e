"""From the chosen types to a project's requirements, team and work breakdown.

Each chosen type is a stream: its tasks that the description calls for (optional tasks need
their words or sizes), hours scaled by the stated sizes, its dependencies bridged over the
tasks left out. Streams of a blend are joined where one waits for another's release. The
person's own asks are matched to tasks; an ask no task covers becomes a task of its own, so
nothing asked for is dropped. A description no type fits is broken down by its asks alone.
"""

from __future__ import annotations

import re

from berrys.core.enums import Priority
from berrys.services.catalogue import _asks, _text
from berrys.services.catalogue._catalogue import Catalogue
from berrys.services.catalogue._work import Breakdown, PlannedTask, priority
from berrys.services.catalogue.contracts import (
    CURRENCY_SYMBOLS,
    AgentType,
    Constraint,
    DependencyType,
    ProjectType,
    Requirement,
    RequirementCategory,
    TaskDependency,
    TaskSpec,
    TeamRole,
    TypeMatch,
)

MIN_FACTOR, MAX_FACTOR = 0.25, 12.0
_TINY = re.compile(
    r"\b(?:typo|one[- ]line|a line|small (?:fix|change|tweak)|quick (?:fix|change)|tweak|"
    r"broken link|rename|bump|change the|update the|correct the|spelling)\b",
    re.I,
)


_NON_FUNCTIONAL = re.compile(
    r"\b(?:safe\w*|secur\w*|access\w*|perform\w*|fast|privacy|gdpr|complian\w*|insur\w*|"
    r"reliab\w*|first aid|risk\w*)\b",
    re.I,
)


_INTEGRATION = re.compile(r"\b(?:integrat\w*|api|sync\w*|import\w*|export\w*|connect\w*)\b", re.I)


_COLLABORATION = re.compile(
    r"\b(?:volunteer\w*|team|rota|brief\w*|hand-?off|staff\w*|train\w*|crew)\b", re.I
)


def sizes(constraints: list[Constraint]) -> dict[str, float]:
    return {c.dimension: c.value for c in constraints if c.dimension != "budget"}


def scaled_hours(task: TaskSpec, project_type: ProjectType, size: dict[str, float]) -> float:
    factor = 1.0
    for dimension, elasticity in task.scale.items():
        if dimension in size:
            factor *= (size[dimension] / project_type.typical_size[dimension]) ** elasticity
    return round(task.hours * min(MAX_FACTOR, max(MIN_FACTOR, factor)), 1)


def is_tiny(description: str) -> bool:
    """A small change asked for alone: a tiny word, few words and nothing listed or joined."""
    goals, items = _text.asks(description)
    joined = re.search(r"\b(?:and|then|also|plus)\b|,", description, re.I)
    return (
        len(description.split()) <= 14
        and bool(_TINY.search(description))
        and len(goals) <= 1
        and not items
        and not joined
    )


def _wanted(task: TaskSpec, description: str, size: dict[str, float]) -> bool:
    if task.unless_any and _text.matched(description, task.unless_any):
        return False
    if not task.when_any and not task.when_size:
        return True
    if _text.matched(description, task.when_any):
        return True
    return any(size.get(d, 0) >= minimum for d, minimum in task.when_size.items())


def _bridged(task: TaskSpec, kept: set[str], by_key: dict[str, TaskSpec]) -> list[TaskDependency]:
    """The task's dependencies, each left-out task replaced by its own (transitively)."""
    result: list[TaskDependency] = []
    for dep in task.depends_on:
        if dep.task in kept:
            result.append(dep)
        else:
            for inner in _bridged(by_key[dep.task], kept, by_key):
                result.append(inner.model_copy(update={"lag_hours": 0.0}))
    return result


def _stream(
    project_type: ProjectType,
    *,
    description: str,
    size: dict[str, float],
    tiny: bool,
    catalogue: Catalogue,
    prefix: str,
) -> list[PlannedTask]:
    tasks = project_type.tasks
    core = [t for t in tasks if t.core]
    chosen = core if tiny and core else [t for t in tasks if _wanted(t, description, size)]
    kept = {t.key for t in chosen}
    by_key = {t.key: t for t in tasks}
    phase_of = {t.key: phase.name for phase in project_type.phases for t in phase.tasks}
    planned = []
    for task in chosen:
        deps = _bridged(task, kept, by_key)
        planned.append(
            PlannedTask(
                key=f"{prefix}{task.key}",
                name=task.name,
                description=task.description,
                deliverable=task.deliverable,
                role=f"{project_type.key}.{task.agent}",
                hours=scaled_hours(task, project_type, size),
                priority=task.priority,
                risk_level=task.risk_level,
                risk_reason=task.risk_reason,
                phase=phase_of[task.key],
                acceptance=list(catalogue.deliverable(task.deliverable).acceptance),
                depends_on=list(
                    {
                        f"{prefix}{d.task}": (f"{prefix}{d.task}", d.type, d.lag_hours)
                        for d in reversed(deps)
                    }.values()
                )[::-1],
                terms=list(task.when_any),
                release=task.release,
                awaits_release=task.awaits_release,
            )
        )
    return planned


def _join(streams: list[list[PlannedTask]]) -> None:
    """In a blend, a stream's tasks that await a release wait for the other streams' release
    (a campaign's announcement waits for the site going live), unless that would loop."""
    for waiting in streams:
        awaiting = [t for t in waiting if t.awaits_release]
        for other in streams:
            if other is waiting or any(t.awaits_release for t in other):
                continue
            for release in (t for t in other if t.release):
                for task in awaiting:
                    task.depends_on.append((release.key, DependencyType.FS, 0.0))


def _category(value: str) -> RequirementCategory:
    if _INTEGRATION.search(value):
        return RequirementCategory.INTEGRATION
    if _NON_FUNCTIONAL.search(value):
        return RequirementCategory.NON_FUNCTIONAL
    if _COLLABORATION.search(value):
        return RequirementCategory.COLLABORATION
    return RequirementCategory.FUNCTIONAL


def _roles(types: list[ProjectType], tasks: list[PlannedTask]) -> dict[str, str]:
    """Role keys in use, merged: one coordinator, and one agent per distinct role name."""
    available = {f"{t.key}.{r.key}": r for t in types for r in t.team} | _asks.GENERIC_ROLES
    merged: dict[str, str] = {}
    by_identity: dict[tuple[str, str], str] = {}
    for task in tasks:
        role = available[task.role]
        identity = (
            ("COORDINATOR", "") if role.agent_type == AgentType.COORDINATOR else ("", role.name)
        )
        merged[task.role] = by_identity.setdefault(identity, task.role)
    return merged


def build(
    description: str,
    *,
    types: list[TypeMatch],
    constraints: list[Constraint],
    catalogue: Catalogue,
) -> Breakdown:
    """Requirements, team roles and tasks for ``description`` of ``types``."""
    size = sizes(constraints)
    goals, items = _text.asks(description)
    tiny = is_tiny(description)
    chosen = [catalogue.type(t.key) for t in types if t.key in catalogue.types]
    notes: list[str] = []
    if chosen:
        blend = len(chosen) > 1
        streams = [
            _stream(
                t,
                description=description,
                size=size,
                tiny=tiny,
                catalogue=catalogue,
                prefix=f"{t.key}_" if blend else "",
            )
            for t in chosen
        ]
        if blend:
            for t, stream in zip(chosen, streams, strict=True):
                for task in stream:
                    task.phase = f"{t.name}: {task.phase}"
        _join(streams)
        tasks = [task for stream in streams for task in stream]
    else:
        tasks = _asks.generic(description, goals, items)
        notes.append("no project type fits: the plan is the description's own asks")
    requirements, asked = _requirements(description, goals, items, chosen, tasks, constraints)
    if chosen:
        tasks += _unmatched_asks(asked, tasks, chosen, notes)
    merged = _roles(chosen, tasks)
    for task in tasks:
        task.role = merged[task.role]
    available = {f"{t.key}.{r.key}": r for t in chosen for r in t.team} | _asks.GENERIC_ROLES
    roles = {key: available[key] for key in dict.fromkeys(t.role for t in tasks)}
    return Breakdown(
        title=_text.title(description),
        types=types,
        constraints=constraints,
        requirements=requirements,
        roles=roles,
        role_requirements=_coverage(requirements, tasks, roles, asked),
        tasks=tasks,
        tiny=tiny,
        notes=notes,
    )


def _requirements(
    description: str,
    goals: list[str],
    items: list[str],
    chosen: list[ProjectType],
    tasks: list[PlannedTask],
    constraints: list[Constraint],
) -> tuple[list[Requirement], dict[int, PlannedTask | str]]:
    """Stated requirements (the goal, each listed ask, each number), then implied ones; and
    which task (or unmatched ask) each stated ask went to, by requirement index."""
    stated: list[Requirement] = []
    asked: dict[int, PlannedTask | str] = {}
    for goal in goals[:3]:
        stated.append(_stated(goal, _category(goal)))
        stated += [_stated(p, _category(p)) for p in _text.purposes(goal)]
    described: set[str] = set()  # tasks whose description a requirement already quotes
    for item in items:
        task = _asks.ask_match(item, tasks)
        if task is not None and task.key in described:
            # a second ask for the same task names it rather than repeat its description
            detail = f"{item[0].upper()}{item[1:]}: part of “{task.name}”"
        elif task is not None:
            described.add(task.key)
            detail = (
                f"{item[0].upper()}{item[1:]}: {task.description[0].lower()}{task.description[1:]}"
            )
        else:
            detail = f"{_asks.ask_task_name(item)} (asked for in the description)"
        asked[len(stated)] = task or item
        stated.append(_stated(detail, _category(item), asked=item))
    for constraint in constraints:
        stated.append(
            Requirement(
                text=_constraint_text(constraint),
                category=RequirementCategory.NON_FUNCTIONAL,
                priority=Priority.HIGH,
                source="stated",
            )
        )
    implied = [
        Requirement(
            text=need.text,
            category=need.category,
            priority=need.priority,
            source="implied",
            project_type=t.key,
        )
        for t in chosen
        for need in t.implied_requirements
        if not (need.unless_any and _text.matched(description, need.unless_any))
        and (not need.when_any or _text.matched(description, need.when_any))
    ]
    return stated + implied, asked


_LABELS = {
    "people": "Sized for {v} people",
    "days": "Runs over {v} day(s)",
    "budget": "Within a budget of {v}",
    "languages": "In {v} language(s)",
    "pages": "{v} page(s)",
    "words": "About {v} words",
}


def _constraint_text(constraint: Constraint) -> str:
    value = f"{constraint.value:g}"
    if constraint.dimension == "budget":
        symbol = CURRENCY_SYMBOLS.get(constraint.unit)
        value = (
            f"{symbol}{constraint.value:,.0f}"
            if symbol
            else f"{constraint.value:,.0f} {constraint.unit}".strip()
        )
    if constraint.unit == "working days":
        return f"Within {constraint.text} (about {value} working days)"
    label = _LABELS.get(constraint.dimension, f"{{v}} {constraint.dimension}")
    return f"{label.format(v=value)} (as stated: {constraint.text!r})"


def _stated(value: str, category: RequirementCategory, *, asked: str = "") -> Requirement:
    """A requirement the person stated; its priority from their own words (``asked``)."""
    return Requirement(
        text=value[:500], category=category, priority=priority(asked or value), source="stated"
    )


def _unmatched_asks(
    asked: dict[int, PlannedTask | str],
    tasks: list[PlannedTask],
    chosen: list[ProjectType],
    notes: list[str],
) -> list[PlannedTask]:
    """A task for each listed ask that no catalogue task covers."""
    primary = chosen[0]
    roles = {f"{t.key}.{r.key}": r for t in chosen for r in t.team}
    first = tasks[0].key if tasks else None
    releases = [t for t in tasks if t.release]
    extra = []
    for index, ask in asked.items():
        if isinstance(ask, str):
            role = _asks.ask_role(ask, roles, tasks[0].role)
            task = _asks.ask_task(f"ask{index}", ask, role, tasks[0].phase, first)
            extra.append(task)
            asked[index] = task
            notes.append(f"no {primary.name} task covers {ask!r}: it has a task of its own")
    for release in releases:
        release.depends_on += [(t.key, DependencyType.FS, 0.0) for t in extra]
    return extra


def _coverage(
    requirements: list[Requirement],
    tasks: list[PlannedTask],
    roles: dict[str, TeamRole],
    asked: dict[int, PlannedTask | str],
) -> dict[str, list[int]]:
    """Which requirements (1-based) each role answers for."""
    covered: dict[str, list[int]] = {key: [] for key in roles}
    lead = next(
        (k for k, r in roles.items() if r.agent_type == AgentType.COORDINATOR), next(iter(roles))
    )
    for index, requirement in enumerate(requirements):
        task = asked.get(index)
        if isinstance(task, PlannedTask):
            role = task.role
        else:
            match = _asks.ask_match(requirement.text, tasks)
            role = match.role if match else _asks.best_role(requirement.text, roles, lead)
        covered[role].append(index + 1)
    for numbers in covered.values():  # every agent serves at least the project's goal
        if not numbers and requirements:
            numbers.append(1)
    return covered
