"""A deterministic test executor: every model and tool call goes through the journal."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from berrys.services.runs.engine.executor import PermanentTaskError, TaskOutcome
from berrys.services.runs.engine.journal import TaskContext, TransientError


class ScriptedExecutor:
    """Runs a task from its ``spec``:

    - ``fail_attempts``: the first N attempts raise; ``permanent``: raise without retries
    - ``transient``: the model call raises TransientError this many times first
    - ``hold``: wait until ``release(key)``; ``tool``: append a line to ``side_effects``
      (non-idempotent unless ``idempotent_tool``); ``models``: how many model calls
    """

    def __init__(self, side_effects: Path | None = None) -> None:
        self.side_effects = side_effects
        self.gates: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.order: list[tuple[str, str]] = []
        self.model_calls: Counter[str] = Counter()
        self.tool_calls: Counter[str] = Counter()
        self.executions: Counter[str] = Counter()
        self._transient: Counter[str] = Counter()
        self.hold_names: set[str] = set()  # tasks (by name) that wait for release(name)
        self.fail_names: set[str] = set()  # tasks (by name) that fail without retries

    def release(self, key: str) -> None:
        self.gates[key].set()

    def started(self, key: str) -> bool:
        return ("start", key) in self.order

    async def execute(self, ctx: TaskContext) -> TaskOutcome:
        task = ctx.task
        spec = task.spec
        self.executions[task.key] += 1
        self.order.append(("start", task.key))
        if spec.get("permanent") or task.name in self.fail_names:
            raise PermanentTaskError("scripted permanent failure")
        if ctx.attempt <= spec.get("fail_attempts", 0):
            raise RuntimeError(f"scripted failure on attempt {ctx.attempt}")
        texts = []
        for index in range(spec.get("models", 1)):
            request = {"task": task.key, "n": index, "upstream": sorted(task.upstream)}

            async def call(key: str = task.key, n: int = index) -> dict[str, Any]:
                if self._transient[key] < spec.get("transient", 0):
                    self._transient[key] += 1
                    raise TransientError("scripted 429")
                self.model_calls[key] += 1
                return {"content": f"{key}#{n}", "tokens": 10}

            reply = await ctx.model(request, call, usage=lambda r: (0.001, r["tokens"]))
            texts.append(reply["content"])
        if spec.get("hold"):
            await self.gates[task.key].wait()
        if task.name in self.hold_names:
            await self.gates[task.name].wait()
        if spec.get("tool"):
            line = f"{task.key}:{task.attempt}"

            async def append(line: str = line, key: str = task.key) -> dict[str, Any]:
                self.tool_calls[key] += 1
                if spec.get("tool_hold"):
                    await self.gates[f"tool:{key}"].wait()
                if self.side_effects is not None:
                    with self.side_effects.open("a") as handle:
                        handle.write(line + "\n")
                return {"appended": line}

            self.order.append(("tool_step", task.key))
            await ctx.tool(
                "append",
                {"line": line},
                append,
                idempotent=bool(spec.get("idempotent_tool", False)),
            )
        self.order.append(("end", task.key))
        output = {
            "text": " ".join(texts),
            "upstream": {k: v.get("text") for k, v in task.upstream.items()},
        }
        return TaskOutcome(output=output, produced_by="scripted/test", artifacts=[])


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
