"""A run's AG-UI event stream: the outbox followed as every stream of a run follows it, read
through :class:`RunView`, its placeholders filled from the journal, the task runs and the
interactions (a few queries per read of the outbox), encoded as SSE with ids
``<seq>:<index>``, so that a reconnection resumes exactly."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ag_ui.core import (
    BaseEvent,
    Interrupt,
    RunAgentInput,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionOut
from berrys.services.runs._agui import Interrupts, Item, Output, RunView, ToolCalls
from berrys.services.runs._event_listener import RunEventListener, follow_outbox
from berrys.services.runs.contracts import RUN_TERMINAL, StepKind
from berrys.services.runs.tables import Run, Step, TaskRun

_run = Run.__table__
_task = TaskRun.__table__
_step = Step.__table__

# What answering an approval takes, for a client to build its form.
APPROVAL_SCHEMA = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
    "required": ["approved"],
}
EVENT_ID = re.compile(r"^(\d{1,18})(?::(\d{1,9}))?$")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a client got to: the AG-UI event ``index`` of outbox event ``seq`` (None: all
    of that outbox event's)."""

    seq: int
    index: int | None = None

    @classmethod
    def parse(cls, event_id: str | None) -> Position | None:
        """The position a ``Last-Event-ID`` names (``<seq>`` or ``<seq>:<index>``)."""
        if not event_id:
            return None
        found = EVENT_ID.match(event_id)
        if found is None:
            raise Unprocessable(
                f"Last-Event-ID {event_id[:40]!r} is not '<seq>' or '<seq>:<index>'"
            )
        index = found.group(2)
        return cls(int(found.group(1)), int(index) if index is not None else None)

    def sent(self, seq: int, index: int) -> bool:
        """Whether the client has the ``index``-th AG-UI event of outbox event ``seq``."""
        return self.covers(seq) or (seq == self.seq and index <= (self.index or 0))

    def covers(self, seq: int) -> bool:
        """Whether the client has every AG-UI event of outbox event ``seq``."""
        return seq < self.seq or (seq == self.seq and self.index is None)


async def open_view(session: AsyncSession, *, run_id: uuid.UUID) -> RunView:
    """A view of the run that has read nothing yet."""
    project_id = await session.scalar(select(_run.c.project_id).where(_run.c.id == run_id))
    if project_id is None:
        raise NotFound.of("Run", run_id)
    rows = await session.execute(
        select(_task.c.id, _task.c.key, _task.c.name)
        .where(_task.c.run_id == run_id)
        .order_by(_task.c.position)
    )
    tasks = [(row.id, row.key, row.name) for row in rows]
    return RunView(run_id=run_id, project_id=project_id, tasks=tasks)


async def agui_stream(
    database: Database,
    listener: RunEventListener,
    *,
    run_id: uuid.UUID,
    after: Position | None,
    disconnected: Callable[[], Awaitable[bool]],
    given: RunAgentInput | None = None,
) -> AsyncIterator[str]:
    """The run's AG-UI events after ``after`` as SSE messages, up to the end of the AG-UI
    run they are in (or, with nothing left to send, until the run is over). ``given``: the
    request a run was started or resumed by, echoed in its RUN_STARTED."""
    async with database.transaction(read_only=True) as session:
        view = await open_view(session, run_id=run_id)
    encoder = EventEncoder()
    with listener.subscribe(run_id, after_seq=0) as subscription:
        async for outbox in follow_outbox(database, subscription, disconnected=disconnected):
            messages, done = await _messages(database, view, outbox.events, after)
            for event_id, event in messages:
                if given is not None and isinstance(event, RunStartedEvent):
                    event, given = event.model_copy(update={"input": given}), None
                yield f"id: {event_id}\n{encoder.encode(event)}"
            if done or (not outbox.events and outbox.status in RUN_TERMINAL):
                return
            if outbox.quiet:
                yield ": keep-alive\n\n"


async def _messages(
    database: Database, view: RunView, events: list[dict[str, Any]], after: Position | None
) -> tuple[list[tuple[str, BaseEvent]], bool]:
    """The AG-UI events (with their ids) ``events`` add after ``after``; and whether an AG-UI
    run ended among them (then nothing after that is sent: a stream is one AG-UI run)."""
    groups: list[tuple[int, list[Item], bool]] = []
    for event in events:
        seq, items = event["seq"], view.feed(event)
        if not items or (after is not None and after.covers(seq)):
            continue
        groups.append((seq, items, view.ended))
        if view.ended and (after is None or seq > after.seq):
            break  # the end of an AG-UI run the client has none of: the stream ends there
    if not groups:
        return [], False  # nothing to tell (an idle read, or one the client already has)
    async with database.transaction(read_only=True) as session:
        found = await _Found.read(session, [item for _, items, _ in groups for item in items])
    messages: list[tuple[str, BaseEvent]] = []
    for seq, items, ended in groups:
        told = [agui for item in items for agui in found.expand(item)]
        fresh = [
            (f"{seq}:{index}", agui)
            for index, agui in enumerate(told)
            if after is None or not after.sent(seq, index)
        ]
        messages += fresh
        if ended and fresh:
            return messages, True
    return messages, False


@dataclass(slots=True)
class _Found:
    """What the placeholders of one read of the outbox stand for, read in a few queries:
    the attempts' tool steps, the tasks' outputs, the approvals asked."""

    steps: dict[tuple[uuid.UUID, int], list[Any]]
    outputs: dict[uuid.UUID, Any]
    asked: dict[str, InteractionOut]

    @classmethod
    async def read(cls, session: AsyncSession, items: list[Item]) -> _Found:
        attempts = {(i.task_run_id, i.attempt) for i in items if isinstance(i, ToolCalls)}
        steps: dict[tuple[uuid.UUID, int], list[Any]] = {key: [] for key in attempts}
        if attempts:
            rows = await session.execute(
                select(_step.c.task_run_id, _step.c.attempt, *_TOLD_STEP)
                .where(
                    _step.c.task_run_id.in_({task for task, _ in attempts}),
                    _step.c.kind == StepKind.TOOL,
                )
                .order_by(_step.c.task_run_id, _step.c.attempt, _step.c.seq)
            )
            for row in rows:
                steps.get((row.task_run_id, row.attempt), []).append(row)
        tasks = {item.task_run_id for item in items if isinstance(item, Output)}
        outputs: dict[uuid.UUID, Any] = {}
        if tasks:
            rows = await session.execute(
                select(_task.c.id, _task.c.output).where(_task.c.id.in_(tasks))
            )
            outputs = {row.id: row.output for row in rows}
        asked = {
            entry["interaction_id"]: await interactions.get(
                session, interaction_id=uuid.UUID(entry["interaction_id"])
            )
            for item in items
            if isinstance(item, Interrupts)
            for entry in item.asked
        }
        return cls(steps, outputs, asked)

    def expand(self, item: Item) -> list[BaseEvent]:
        """An item as AG-UI events: a placeholder filled in from what was read."""
        if isinstance(item, ToolCalls):
            return _tool_calls(self.steps[(item.task_run_id, item.attempt)], item.timestamp)
        if isinstance(item, Output):
            return _output(self.outputs.get(item.task_run_id), item)
        if isinstance(item, Interrupts):
            return [_interrupted([self.asked[a["interaction_id"]] for a in item.asked], item)]
        return [item]


_TOLD_STEP = (_step.c.id, _step.c.name, _step.c.request, _step.c.result, _step.c.error)


def _tool_calls(steps: list[Any], timestamp: int) -> list[BaseEvent]:
    """Each tool call the journal recorded for an attempt: its name and arguments, and what
    it answered (its error, if it failed)."""
    told: list[BaseEvent] = []
    for step in steps:
        call = str(step.id)
        answer = step.error or json.dumps((step.result or {}).get("value"), default=str)
        arguments = json.dumps(step.request, default=str)
        told += [
            ToolCallStartEvent(tool_call_id=call, tool_call_name=step.name, timestamp=timestamp),
            ToolCallArgsEvent(tool_call_id=call, delta=arguments, timestamp=timestamp),
            ToolCallEndEvent(tool_call_id=call, timestamp=timestamp),
            ToolCallResultEvent(
                message_id=f"{call}:result",
                tool_call_id=call,
                content=answer,
                role="tool",
                timestamp=timestamp,
            ),
        ]
    return told


def _output(output: dict[str, Any] | None, item: Output) -> list[BaseEvent]:
    """The task's output text as one assistant message, named after its task."""
    text = str((output or {}).get("text") or "")
    message, at = f"{item.task_run_id}:{item.attempt}", item.timestamp
    return [
        TextMessageStartEvent(message_id=message, role="assistant", name=item.name, timestamp=at),
        TextMessageContentEvent(message_id=message, delta=text, timestamp=at),
        TextMessageEndEvent(message_id=message, timestamp=at),
    ]


def _interrupted(asked: list[InteractionOut], item: Interrupts) -> RunFinishedEvent:
    """RUN_FINISHED whose interrupts are the approvals the run waits for, as people see them."""
    interrupts = []
    for found, entry in zip(asked, item.asked, strict=True):
        subject = str(entry.get("subject") or found.type.value)
        metadata = {
            "type": found.type.value,
            "subject": subject,
            "task_run_id": entry.get("task_run_id"),
            "details": found.detail.get("details"),
            "prompt": found.prompt,
        }
        interrupts.append(
            Interrupt(
                id=str(found.id),
                reason=f"{subject.lower()}_approval",
                message=found.title,
                response_schema=APPROVAL_SCHEMA,
                expires_at=found.expires_at.isoformat() if found.expires_at else None,
                metadata=metadata,
            )
        )
    return RunFinishedEvent(
        thread_id=item.thread_id,
        run_id=item.run_id,
        outcome=RunFinishedInterruptOutcome(interrupts=interrupts),
        timestamp=item.timestamp,
    )
