"""The process the crash test kills: a worker executing one run until it ends.

Usage: python -m tests.e2e.crash_child DATABASE_URL WORKDIR RUN_ID

Every model call appends ``task:attempt:seq`` to WORKDIR/model.log and every tool call to
WORKDIR/tool.log (a real, non-idempotent side effect), so the parent can count executions;
both go to WORKDIR/calls.log too, in the order they ran.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

from berrys.core.db import Database
from berrys.services.runs.contracts import RunStatus
from berrys.services.runs.engine.executor import TaskOutcome
from berrys.services.runs.engine.journal import StepPolicy, TaskContext
from berrys.services.runs.engine.worker import EngineConfig, Worker, run_status
from berrys.services.runs.service import HOOKS

CONFIG = EngineConfig(
    lease_seconds=1.0,
    heartbeat_seconds=0.25,
    poll_seconds=0.05,
    retry_base_seconds=0.05,
    retry_max_seconds=0.2,
    maintenance_seconds=0.2,
    concurrency=4,
    step_policy=StepPolicy(base_delay=0.01),
)


def _append(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")
        handle.flush()


class FileExecutor:
    def __init__(self, workdir: Path) -> None:
        self.model_log = workdir / "model.log"
        self.tool_log = workdir / "tool.log"
        self.calls_log = workdir / "calls.log"

    async def execute(self, ctx: TaskContext) -> TaskOutcome:
        task = ctx.task
        parts = []
        for n in range(2):
            seq = ctx.peek_seq()
            key = f"{task.key}:{task.attempt}:{seq}"

            async def model(key: str = key) -> dict[str, Any]:
                await asyncio.sleep(0.005)  # simulated model latency
                _append(self.model_log, key)
                _append(self.calls_log, key)
                return {"content": f"{key}", "tokens": 5}

            request = {"task": task.key, "n": n, "upstream": sorted(task.upstream)}
            reply = await ctx.model(request, model, usage=lambda r: (0.0001, r["tokens"]))
            parts.append(reply["content"])
            if n == 0:
                tool_key = f"{task.key}:{task.attempt}:{ctx.peek_seq()}"

                async def tool(key: str = tool_key) -> dict[str, Any]:
                    _append(self.tool_log, key)
                    _append(self.calls_log, key)
                    return {"appended": key}

                await ctx.tool("append", {"line": tool_key}, tool, idempotent=False)
        return TaskOutcome(output={"text": " ".join(parts)}, produced_by="scripted/crash")


async def main(url: str, workdir: Path, run_id: uuid.UUID) -> int:
    database = Database(url)
    worker = Worker(database, FileExecutor(workdir), hooks=HOOKS, config=CONFIG)
    runner = asyncio.create_task(worker.run())
    try:
        while True:
            status = await run_status(database, run_id)
            if status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
                return 0 if status == RunStatus.COMPLETED else 3
            done, _ = await asyncio.wait({runner}, timeout=0.05)
            if done:
                return 4
    finally:
        worker.stop()
        await asyncio.wait({runner}, timeout=5)
        await database.dispose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], Path(sys.argv[2]), uuid.UUID(sys.argv[3]))))
