"""A project's stats: a read model joining the project, its team and its current plan, so it
sits here, above the services it reads, rather than in any one of them."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.services.agents import service as agents
from berrys.services.auth.contracts import UserOut
from berrys.services.planning import service as planning
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectStats


async def project_stats(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut
) -> ProjectStats:
    """Runs and cost (projects), agents (the team) and task progress with ETA (the plan)."""
    stats = await projects.get_stats(session, project_id=project_id, user=user)
    team = await agents.count(session, project_id=project_id, user=user)
    tasks = await planning.task_stats(session, project_id=project_id)
    return stats.model_copy(
        update={
            "agents": team,
            "tasks_by_status": tasks.tasks_by_status,
            "progress_percent": tasks.progress_percent,
            "eta": tasks.eta,
        }
    )
