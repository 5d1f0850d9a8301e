"""A run's outbox seen as AG-UI events (the ag-ui-protocol package's models): each stretch
of work one AG-UI run (RUN_STARTED .. RUN_FINISHED or RUN_ERROR; an approval the run waits
for ends it as an interrupt), a step per task, an attempt's tool calls and output when it
ends, the tasks' statuses as state. A function of the outbox read in order, so every reading
of a run gives the same events at the same positions; docs/architecture.md has the table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
)

from berrys.services.runs.contracts import RUN_TERMINAL, RunEventType, RunStatus, TaskRunStatus

E = RunEventType
T = TaskRunStatus

# What a task event says its task's status now is (the engine wrote it in the same change).
_TASK_STATUS = {
    E.TASK_READY: T.READY,
    E.TASK_STARTED: T.RUNNING,
    E.TASK_RECLAIMED: T.RUNNING,
    E.TASK_COMPLETED: T.COMPLETED,
    E.TASK_NEEDS_REVIEW: T.NEEDS_REVIEW,
    E.TASK_ACCEPTED: T.COMPLETED,
    E.TASK_EDITED: T.COMPLETED,
    E.TASK_SENT_BACK: T.READY,
    E.TASK_FAILED: T.FAILED,
    E.TASK_RETRY_SCHEDULED: T.READY,
    E.TASK_RETRIED: T.READY,
    E.TASK_AWAITING_INPUT: T.AWAITING_INPUT,
    E.TASK_RESUMED: T.READY,
    E.TASK_SKIPPED: T.SKIPPED,
    E.TASK_CANCELLED: T.CANCELLED,
}
# Events that end a task's attempt: its tool calls are told then (and its output, if it has
# one), and its step finishes.
_ATTEMPT_ENDS = {
    E.TASK_OUTPUT_READY: True,
    E.TASK_COMPLETED: True,
    E.TASK_NEEDS_REVIEW: True,
    E.TASK_FAILED: False,
    E.TASK_RETRY_SCHEDULED: False,
    E.TASK_SKIPPED: False,
    E.TASK_CANCELLED: False,
}
# Outbox events no AG-UI event stands for: passed on as CUSTOM events named after them.
_CUSTOM = frozenset(
    {
        E.WORKFLOW_STAGE,
        E.DEGRADED,
        E.RUN_PAUSED,
        E.RUN_RESUMED,
        E.RUN_CANCELLED,
        E.STEP_REISSUED,
        E.TASK_REVIEWED,
    }
)


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """Stands for the tool calls the journal recorded for one attempt of a task."""

    task_run_id: uuid.UUID
    attempt: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Output:
    """Stands for a task's output, told as one assistant message."""

    task_run_id: uuid.UUID
    attempt: int
    name: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Interrupts:
    """Stands for RUN_FINISHED with an interrupt outcome: the approvals the run waits for."""

    thread_id: str
    run_id: str
    asked: tuple[dict[str, Any], ...]
    timestamp: int


Item = BaseEvent | ToolCalls | Output | Interrupts


@dataclass(slots=True)
class _Task:
    key: str
    step_name: str
    status: TaskRunStatus = T.PENDING
    attempt: int = 0
    step_open: bool = False
    ended_attempts: set[int] = field(default_factory=set)


def pointer(key: str) -> str:
    """``key`` as one JSON Pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def timestamp_of(event: dict[str, Any]) -> int:
    """Milliseconds since the epoch of the outbox event (what every AG-UI SDK writes)."""
    return int(datetime.fromisoformat(event["created_at"]).timestamp() * 1000)


class RunView:
    """Reads a run's outbox events in order (:meth:`feed`) and says what each means in AG-UI:
    events, or placeholders for what the journal and the task runs hold."""

    def __init__(
        self, *, run_id: uuid.UUID, project_id: uuid.UUID, tasks: list[tuple[uuid.UUID, str, str]]
    ) -> None:
        self.thread_id = str(project_id)
        self.run_id = str(run_id)
        names = [name for _, _, name in tasks]
        # A step is named after its task; two tasks of one name are told apart by their key.
        self._tasks = {
            task_id: _Task(key, name if names.count(name) == 1 else f"{name} ({key})")
            for task_id, key, name in tasks
        }
        self.status = RunStatus.QUEUED
        self.open = False  # between RUN_STARTED and its end
        self.ended = False  # the event just read ended an AG-UI run
        self.asked: dict[str, dict[str, Any]] = {}  # interactions waiting for an answer
        self._failures: list[str] = []
        self._held: list[Item] = []  # what happened between two AG-UI runs
        self._out: list[Item] = []
        self._now = 0

    def feed(self, event: dict[str, Any]) -> list[Item]:
        """What the outbox ``event`` (as ``runs.events`` reads it) adds to the stream."""
        self._out, self.ended, self._now = [], False, timestamp_of(event)
        kind = RunEventType(event["type"])
        task_id = event.get("task_run_id")
        task = self._tasks.get(uuid.UUID(task_id)) if task_id else None
        payload: dict[str, Any] = event.get("payload") or {}
        if kind == E.RUN_CREATED:
            self._start()
        elif kind == E.RUN_STATUS:
            self._run_status(RunStatus(payload["to"]))
        elif kind == E.INTERACTION_CREATED:
            self.asked[payload["interaction_id"]] = {**payload, "task_run_id": task_id}
        elif kind == E.INTERACTION_RESOLVED:
            self.asked.pop(payload["interaction_id"], None)
        elif kind in _CUSTOM:
            key = {"task": task.key} if task is not None else {}
            name = f"berrys.{kind.value.lower()}"
            self._show(CustomEvent(name=name, value={**payload, **key}, timestamp=self._now))
        if task is not None and task_id is not None:
            self._task_event(kind, uuid.UUID(task_id), task, payload)
        return self._out

    def snapshot(self) -> dict[str, Any]:
        """The state AG-UI clients hold: the run's status and each task's name and status."""
        tasks = {
            t.key: {"name": t.step_name, "status": t.status.value} for t in self._tasks.values()
        }
        return {"status": self.status.value, "tasks": tasks}

    # -- the AG-UI runs -------------------------------------------------------------------
    def _start(self) -> None:
        started = RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id, timestamp=self._now)
        snapshot = StateSnapshotEvent(snapshot=self.snapshot(), timestamp=self._now)
        self._out += [started, snapshot, *self._held]
        self._held, self.open = [], True

    def _run_status(self, to: RunStatus) -> None:
        self.status = to
        if not self.open:
            if to == RunStatus.AWAITING_INPUT:
                return  # still waiting for a person
            self._start()
        else:
            self._state([{"op": "replace", "path": "/status", "value": to.value}])
        if to == RunStatus.AWAITING_INPUT and self.asked:
            asked = tuple(self.asked.values())
            self._end(Interrupts(self.thread_id, self.run_id, asked, self._now))
        elif to in RUN_TERMINAL:
            self._end(self._last_word(to))

    def _last_word(self, status: RunStatus) -> BaseEvent:
        """How a run that ended in ``status`` is told: finished, cancelled or failed."""
        ids = {"thread_id": self.thread_id, "run_id": self.run_id, "timestamp": self._now}
        if status == RunStatus.FAILED:
            why = "; ".join(self._failures[-5:]) or "no task could go on"
            return RunErrorEvent(message=f"The run failed: {why}", code="RUN_FAILED", **ids)
        if status == RunStatus.CANCELLED:
            return RunFinishedEvent(outcome=RunFinishedCancelledOutcome(), **ids)
        review = [t.key for t in self._tasks.values() if t.status == T.NEEDS_REVIEW]
        result = {"status": status.value, "needs_review": review}
        return RunFinishedEvent(outcome=RunFinishedSuccessOutcome(), result=result, **ids)

    def _end(self, last: Item) -> None:
        for task in self._tasks.values():
            self._finish_step(task)
        self._out.append(last)
        self.open, self.ended = False, True

    # -- tasks ----------------------------------------------------------------------------
    def _task_event(
        self, kind: RunEventType, task_id: uuid.UUID, task: _Task, payload: dict[str, Any]
    ) -> None:
        if kind in (E.TASK_STARTED, E.TASK_RECLAIMED):
            task.attempt = int(payload.get("attempt") or 1)
            if not task.step_open:
                task.step_open = True
                self._show(StepStartedEvent(step_name=task.step_name, timestamp=self._now))
        elif kind == E.TASK_DIVERGED:
            self._end_attempt(task_id, task, output=False)
            task.attempt = int(payload["attempt"])
        elif kind in _ATTEMPT_ENDS:
            self._end_attempt(task_id, task, output=_ATTEMPT_ENDS[kind])
            self._finish_step(task)
        elif kind == E.TASK_AWAITING_INPUT:
            self._finish_step(task)
        if kind == E.TASK_FAILED:
            self._failures.append(f"{task.step_name}: {payload.get('error') or 'failed'}")
        status = _TASK_STATUS.get(kind)
        if status is not None and status != task.status:
            task.status = status
            path = f"/tasks/{pointer(task.key)}/status"
            self._state([{"op": "replace", "path": path, "value": status.value}])

    def _end_attempt(self, task_id: uuid.UUID, task: _Task, *, output: bool) -> None:
        """The attempt's tool calls (and output), once: an attempt ends once."""
        if task.attempt == 0 or task.attempt in task.ended_attempts:
            return
        task.ended_attempts.add(task.attempt)
        self._show(ToolCalls(task_id, task.attempt, self._now))
        if output:
            self._show(Output(task_id, task.attempt, task.step_name, self._now))

    def _finish_step(self, task: _Task) -> None:
        if task.step_open:
            task.step_open = False
            self._show(StepFinishedEvent(step_name=task.step_name, timestamp=self._now))

    # -- output ---------------------------------------------------------------------------
    def _show(self, item: Item) -> None:
        """Into the current AG-UI run; between two, held for the next one's start."""
        (self._out if self.open else self._held).append(item)

    def _state(self, operations: list[dict[str, Any]]) -> None:
        """A change of state; between two AG-UI runs the next one's snapshot has it."""
        if self.open:
            self._out.append(StateDeltaEvent(delta=operations, timestamp=self._now))
