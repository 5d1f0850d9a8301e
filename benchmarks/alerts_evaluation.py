"""Alert evaluation: what one pass over many rules costs, and what an idle tick costs.

Seeds P projects, each with R rules of every kind (P*R*5 rules, all due) and one QUEUED run
nobody works on, on a fresh database (SQLite in a temporary directory, or ``--database-url``
for PostgreSQL: it must be empty and is migrated). Then measures (a) one evaluation pass over
every rule (each in its own transaction holding its row lock), wall and CPU per rule; (b) an
idle tick of the loop (nothing due: read-only looks only), its wall and CPU time; (c) two concurrent
evaluators over the same rules: the episodes opened (one per firing rule, never two).

    python benchmarks/alerts_evaluation.py --projects 20 --rules 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database, utcnow
from berrys.services.alerts import service as alerts
from berrys.services.alerts.contracts import AlertRuleCreate
from berrys.services.alerts.tables import AlertEpisode
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserCreate
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import TaskSpec
from berrys.wiring import Services

CONDITIONS: list[dict[str, Any]] = [
    {"kind": "TASK_FAILURE_RATE", "threshold_percent": 20},
    {"kind": "BUDGET_SPENT", "threshold_percent": 80},
    {"kind": "RUN_STALLED", "idle_minutes": 10},
    {"kind": "APPROVAL_WAITING", "waiting_minutes": 30},
    {"kind": "WORKER_SILENT", "grace_minutes": 2},
]


async def _seed(services: Services, project_count: int, rules_per_kind: int) -> int:
    async with services.database.transaction() as session:
        user = await auth.create_user(
            session,
            user_in=UserCreate.model_validate(
                {"email": "bench@example.com", "password": "correct horse battery", "role": "ADMIN"}
            ),
            actor_id=None,
        )
    count = 0
    for index in range(project_count):
        async with services.database.transaction() as session:
            project = await projects.create(
                session, project_in=ProjectCreate(name=f"bench {index}"), user=user
            )
            await runs.create(session, project_id=project.id, tasks=[TaskSpec(key="a", name="a")])
            for condition in CONDITIONS * rules_per_kind:
                rule_in = AlertRuleCreate.model_validate(
                    {"name": condition["kind"], "project_id": project.id, "condition": condition}
                )
                await alerts.create(session, services.models.secrets, rule_in=rule_in, user=user)
                count += 1
    return count


async def _episodes(database: Database) -> int:
    async with database.transaction(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(AlertEpisode)) or 0)


async def _idle_tick_ms(services: Services, now: Any) -> tuple[float, float]:
    """One pass of the loop with nothing due (both looks): median wall and CPU of 20, ms."""
    walls, cpus = [], []
    for _ in range(20):
        wall, cpu = time.perf_counter(), time.process_time()
        await alerts.evaluate_due(services.database, interval_seconds=30, now=now)
        await alerts.deliver_due(
            services.database, services.models.secrets, services.settings, now=now
        )
        walls.append(1000 * (time.perf_counter() - wall))
        cpus.append(1000 * (time.process_time() - cpu))
    return statistics.median(walls), statistics.median(cpus)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(data_dir) / 'bench.db'}"
        settings = Settings(data_dir=Path(data_dir), database_url=url, _env_file=None)
        services = Services.build(settings)
        try:
            await migrate.upgrade(services.database)
            rules = await _seed(services, args.projects, args.rules)
            later = utcnow() + timedelta(minutes=15)  # the runs have stalled by then
            wall, cpu = time.perf_counter(), time.process_time()
            evaluated = await alerts.evaluate_due(services.database, interval_seconds=30, now=later)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            fired = await _episodes(services.database)
            idle_wall, idle_cpu = await _idle_tick_ms(services, later)
            again = later + timedelta(seconds=31)
            await asyncio.gather(
                *(alerts.evaluate_due(services.database, interval_seconds=30, now=again)
                  for _ in range(2))
            )  # fmt: skip
            return {
                "database": "postgresql" if args.database_url else "sqlite",
                "rules": rules,
                "evaluated": evaluated,
                "pass_wall_ms_per_rule": round(1000 * wall / evaluated, 3),
                "pass_cpu_ms_per_rule": round(1000 * cpu / evaluated, 3),
                "episodes_after_pass": fired,
                "idle_tick_wall_ms_median_of_20": round(idle_wall, 3),
                "idle_tick_cpu_ms_median_of_20": round(idle_cpu, 3),
                "episodes_after_two_concurrent_passes": await _episodes(services.database),
            }
        finally:
            await services.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--rules", type=int, default=2, help="Rules of each kind per project.")
    parser.add_argument("--database-url", default=None)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
