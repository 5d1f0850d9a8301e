"""A run in a subprocess is killed with SIGKILL at random points and resumed each time; it
completes, no tool step ran more often than its record says (real side effects), and no
step ran again once a later step of its attempt had run (its record was committed)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserCreate
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionResponse, InteractionStatus
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import (
    DependencySpec,
    RunStatus,
    StepKind,
    StepStatus,
    TaskRunStatus,
    TaskSpec,
)
from berrys.services.runs.tables import Step, TaskRun

KILLS = 12
ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _dag() -> tuple[list[TaskSpec], list[DependencySpec]]:
    """24 tasks: four chains of six, cross-linked with every dependency type."""
    specs = [
        TaskSpec(key=f"c{c}t{t}", name=f"chain {c} task {t}") for c in range(4) for t in range(6)
    ]
    deps = []
    kinds = ["FS", "SS", "FF", "SF"]
    for c in range(4):
        for t in range(5):
            deps.append(DependencySpec(from_key=f"c{c}t{t}", to_key=f"c{c}t{t + 1}"))
    for c in range(3):
        deps.append(
            DependencySpec(from_key=f"c{c}t2", to_key=f"c{c + 1}t3", dependency_type=kinds[c + 1])
        )
    return specs, deps


async def _setup(url: str) -> tuple[Database, object]:
    database = Database(url)
    await migrate.upgrade(database)
    async with database.transaction() as session:
        user = await auth.create_user(
            session,
            user_in=UserCreate.model_validate(
                {
                    "email": "crash@example.com",
                    "password": "correct horse battery",
                    "role": "MEMBER",
                }
            ),
            actor_id=None,
        )
        project = await projects.create(session, project_in=ProjectCreate(name="crash"), user=user)
        specs, deps = _dag()
        run = await runs.create(
            session, project_id=project.id, tasks=specs, dependencies=deps, max_concurrency=4
        )
    return database, run


async def _answer_reruns(database: Database, run_id, tool_log: Path, decisions: dict) -> None:
    """The human: approve re-running an in-flight tool call (noting whether it had run)."""
    async with database.transaction(read_only=True) as session:
        pending, _ = await interactions.get_all(
            session, limit=50, offset=0, run_id=run_id, status=InteractionStatus.PENDING
        )
    for item in pending:
        details = item.detail["details"]
        key = details["arguments"]["line"]
        decisions[key] = key in _lines(tool_log)
        async with database.transaction() as session:
            await runs.respond_interaction(
                session,
                interaction_id=item.id,
                response=InteractionResponse(approved=True, comment="checked the log"),
                user=None,
            )


def _child(url: str, workdir: Path, run_id) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.crash_child", url, str(workdir), str(run_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_sigkill_at_random_points_and_resume(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    database, run = await _setup(url)
    model_log, tool_log = tmp_path / "model.log", tmp_path / "tool.log"
    rng = random.Random(int(os.environ.get("CRASH_SEED", "7")))
    decisions: dict[str, bool] = {}
    kills = 0
    try:
        while True:
            child = _child(url, tmp_path, run.id)
            target = len(_lines(model_log)) + len(_lines(tool_log)) + rng.randint(2, 7)
            killed = False
            deadline = time.monotonic() + 120
            while child.poll() is None:
                await _answer_reruns(database, run.id, tool_log, decisions)
                progress = len(_lines(model_log)) + len(_lines(tool_log))
                if kills < KILLS and progress >= target:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    kills += 1
                    killed = True
                    break
                assert time.monotonic() < deadline, "the child made no progress"
                await asyncio.sleep(0.002)  # polling the logs for the kill point
            if not killed:
                output = child.stdout.read() if child.stdout else ""
                assert child.returncode == 0, output
                break
        assert kills >= 10

        async with database.transaction(read_only=True) as session:
            final = await runs.get(session, run_id=run.id)
            steps = (await session.execute(select(Step))).scalars().all()
            tasks = {t.id: t.key for t in (await session.execute(select(TaskRun))).scalars()}
        assert final.status == RunStatus.COMPLETED
        assert all(t.status == TaskRunStatus.COMPLETED for t in final.task_runs)
        assert all(t.attempt == 1 for t in final.task_runs), [
            (t.key, t.attempt, t.error) for t in final.task_runs if t.attempt != 1
        ]

        model_counts = Counter(_lines(model_log))
        tool_counts = Counter(_lines(tool_log))
        assert len(steps) == 24 * 3
        for step in steps:
            assert step.status == StepStatus.COMPLETED
            key = f"{tasks[step.task_run_id]}:{step.attempt}:{step.seq}"
            if step.kind == StepKind.MODEL:
                # A model step is written once, with its result: a kill before that commit
                # means the call is issued again (no side effect, only cost).
                ran = model_counts.pop(key, 0)
                assert 1 <= ran <= 1 + kills, (key, ran)
                continue
            ran = tool_counts.pop(key, 0)
            # A tool step finished in one go ran exactly once; one re-issued after a kill ran
            # at most as often as recorded (a kill may land before the call itself).
            assert 1 <= ran <= step.calls, (key, ran, step.calls)
            if step.kind == StepKind.TOOL and step.calls > 1:
                assert step.resolution == "RERUN"  # a person decided, never silently
                if ran == 2:
                    assert decisions[key] is True  # the person saw it had run
        assert not model_counts, f"calls with no record: {model_counts}"
        assert not tool_counts, f"tool calls with no record: {tool_counts}"
        # Each step's record is committed before the next step of its attempt runs, so
        # within an attempt the calls never go back to an earlier step.
        last_seq: dict[str, int] = {}
        for line in _lines(tmp_path / "calls.log"):
            attempt, _, seq = line.rpartition(":")
            assert int(seq) >= last_seq.get(attempt, 0), f"{line} ran after a later step"
            last_seq[attempt] = int(seq)
        reissued = [s for s in steps if s.calls > 1]
        print(
            f"kills={kills} steps={len(steps)} reissued={len(reissued)} approvals={len(decisions)}"
        )
    finally:
        await database.dispose()
