"""What Berry reads about a project to answer a question, in one read-only transaction."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from berrys.core.errors import NotFound
from berrys.services.agents import service as agents
from berrys.services.agents.contracts import AgentOut
from berrys.services.auth.contracts import UserOut
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import PlanDetail
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectOut
from berrys.services.runs import service as run_service
from berrys.services.runs.contracts import RunOut

_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about which agent or task is meant.
_FILLER = frozenset(
    re.findall(
        r"\w+",
        "a an the of for to and or in on at by with is are was were be been it its this that "
        "what which who why how did does do has have had write wrote written produce produced "
        "make made task tasks so high risk risky critical marked considered me my our we you "
        "your please show tell about output work",
    )
)


@dataclass
class Facts:
    """A project, its team, its current plan (None without one) and its latest run."""

    project: ProjectOut
    agents: list[AgentOut]
    plan: PlanDetail | None
    run: RunOut | None


async def current_plan(session: Any, user: UserOut, project_id: uuid.UUID) -> PlanDetail | None:
    try:
        return await planning.get_current(session, project_id=project_id, user=user)
    except NotFound:
        return None


async def latest_run(session: Any, project_id: uuid.UUID) -> RunOut | None:
    """The project's latest run with its tasks and artifacts (the caller checked access)."""
    latest, _ = await run_service.get_all(session, project_id=project_id, limit=1, offset=0)
    return await run_service.get(session, run_id=latest[0].id) if latest else None


async def read_facts(session: Any, user: UserOut, project_id: uuid.UUID) -> Facts:
    """Everything most answers need (NotFound for a project ``user`` may not see)."""
    project = await projects.get(session, project_id=project_id, user=user)
    team, _ = await agents.get_all(session, project_id=project_id, user=user, limit=200)
    return Facts(
        project=project,
        agents=team,
        plan=await current_plan(session, user, project_id),
        run=await latest_run(session, project_id),
    )


def task_status(task: Any) -> str:
    """A task run's status as its value (NEEDS_REVIEW compares whatever the enum holds)."""
    return str(getattr(task.status, "value", task.status))


def hours(value: float) -> str:
    """8.33333 -> "8.3 h", 12.0 -> "12 h", 193.4 -> "193 h"."""
    if value >= 100:
        return f"{value:.0f} h"
    return f"{value:.1f}".rstrip("0").rstrip(".") + " h"


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _FILLER}


def agents_named(text: str, team: list[AgentOut]) -> list[AgentOut]:
    """The agents ``text`` names: by name, role or type ("the Designer", "designers")."""
    lowered = text.lower()
    found = []
    for agent in team:
        labels = {agent.name.lower(), agent.role.lower(), agent.agent_type.value.lower()}
        if any(
            label and re.search(rf"\b{re.escape(label)}(?:s|'s|\u2019s)?\b", lowered)
            for label in labels
        ):
            found.append(agent)
    if found:
        # The most specific: a name beats a type shared by several agents.
        by_name = [a for a in found if re.search(rf"\b{re.escape(a.name.lower())}\b", lowered)]
        return by_name or found
    return found


def task_named(text: str, tasks: list[Any]) -> Any | None:
    """The task ``text`` names: its whole name, else the one sharing most of its words."""
    lowered = text.lower()
    whole = [t for t in tasks if t.name.lower() in lowered]
    if whole:
        return max(whole, key=lambda t: len(t.name))
    said = words(text)
    if not said:
        return None
    scored = []
    for task in tasks:
        own = words(task.name)
        if own:
            scored.append((len(own & said) / len(own), len(own & said), task))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    if not scored or scored[0][0] < 0.5:
        return None
    if len(scored) > 1 and scored[1][:2] == scored[0][:2]:
        return None  # two tasks match as well: do not guess
    return scored[0][2]
