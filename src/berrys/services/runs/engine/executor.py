"""The task executor interface: the engine hands it a context, it returns an outcome.

Every model call and tool call an executor makes goes through ``ctx.model`` / ``ctx.tool``
(or ``ctx.step``) so that it is recorded and replayed; an executor must be deterministic in
everything else (its output is a function of its recorded steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from berrys.services.runs.engine.journal import TaskContext


@dataclass
class ArtifactSpec:
    name: str
    media_type: str
    content: str = ""
    path: str | None = None


@dataclass
class TaskOutcome:
    output: dict[str, Any]
    artifacts: list[ArtifactSpec] = field(default_factory=list)
    produced_by: str | None = None
    # Why a person must look at the deliverable before it counts as final (TODOs left for a
    # person, quality-gate findings); empty when it is final.
    review_reasons: list[str] = field(default_factory=list)


class PermanentTaskError(Exception):
    """The task cannot succeed by trying again: FAILED without retries."""


class PauseRun(Exception):
    """The run cannot go on before a person acts (its creator lost access to the project):
    the run is paused and the task handed back as it was, with this reason for people to
    read as its error until it runs again."""


class TaskExecutor(Protocol):
    async def execute(self, ctx: TaskContext) -> TaskOutcome: ...
