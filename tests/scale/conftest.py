"""Real ``berrys worker`` processes on PostgreSQL: starting, signalling and reading them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.conftest import TEST_DATABASE_URL
from tests.e2e.processes import berrys_env

from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunOut, RunStatus, TaskRunStatus, TaskSpec, WorkerOut
from berrys.services.runs.tables import TaskRun

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ONLY = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="many worker processes share PostgreSQL: set BERRYS_TEST_DATABASE_URL",
)


def worker_env(url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """A worker's environment: the database, small leases, the scripted model's latency."""
    env = berrys_env(
        data_dir,
        BERRYS_DATABASE_URL=url,
        BERRYS_WORKER_LEASE_SECONDS="2",
        BERRYS_WORKER_CONCURRENCY="8",
        BERRYS_WORKER_DRAIN_SECONDS="10",
        BERRYS_LLM_SCRIPTED_LATENCY_MS="[20, 80]",
        BERRYS_EMBEDDING_MODEL="hashing",
        BERRYS_LOG_LEVEL="INFO",
    )
    env.update(settings)
    # This checkout's code first, and the tests package for the child module.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


class Workers:
    """``berrys worker`` processes (with a scripted model), killed if still running at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, env: dict[str, str]) -> subprocess.Popen[str]:
        log = self.logs / f"worker-{len(self.processes)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.scale.worker_child"],
                cwd=ROOT,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.processes.append(process)
        return process

    def check_running(self, *expected: subprocess.Popen[str]) -> None:
        """Fail at once, with its output, when a worker that should run has exited."""
        for process in expected or tuple(self.processes):
            if process.poll() is not None:
                raise AssertionError(
                    f"worker exited with {process.returncode}:\n{self.output(process)[-3000:]}"
                )

    def output(self, process: subprocess.Popen[str]) -> str:
        return (self.logs / f"worker-{self.processes.index(process)}.log").read_text()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


async def start_run(database: Database, email: str, count: int, **kwargs: Any) -> RunOut:
    """A run of ``count`` independent tasks in a new project of the user ``email``."""
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=email)
        project = await projects.create(session, project_in=ProjectCreate(name="scale"), user=user)
        specs = [TaskSpec(key=f"t{n:03d}", name=f"task {n}") for n in range(count)]
        return await runs.create(
            session, project_id=project.id, tasks=specs, actor_id=user.id, **kwargs
        )


async def finished_count(database: Database, run_id: Any) -> int:
    async with database.transaction(read_only=True) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(TaskRun)
                .where(TaskRun.run_id == run_id, TaskRun.status == TaskRunStatus.COMPLETED)
            )
            or 0
        )


async def live_workers(database: Database) -> list[WorkerOut]:
    async with database.transaction(read_only=True) as session:
        return await runs.workers(session)


async def completed(database: Database, run_id: Any) -> bool:
    """Whether the run has COMPLETED (its status alone: cheap to ask often)."""
    async with database.transaction(read_only=True) as session:
        return await runs.get_status(session, run_id=run_id) == RunStatus.COMPLETED


async def held_by(database: Database, worker_id: str) -> set:
    """The tasks RUNNING under ``worker_id``'s lease."""
    async with database.transaction(read_only=True) as session:
        return set(
            await session.scalars(
                select(TaskRun.id).where(
                    TaskRun.lease_owner == worker_id, TaskRun.status == TaskRunStatus.RUNNING
                )
            )
        )
