"""A run's AG-UI event stream: the outbox followed as every stream of a run follows it, read
through :class:`RunView`, its placeholders filled from the journal, the task runs and the
interactions, encoded as SSE with ids ``<seq>:<index>`` (resumable exactly); and the answers
an AG-UI client sends to a run's interrupts, given as its user."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ag_ui.core import (
    BaseEvent,
    Interrupt,
    ResumeEntry,
    RunAgentInput,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TextPart,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
    UserMessage,
)
from ag_ui.encoder import EventEncoder
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import Conflict, NotFound, Unprocessable
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionResponse
from berrys.services.projects import service as projects
from berrys.services.runs._agui import Interrupts, Item, Output, RunView, ToolCalls
from berrys.services.runs._answers import respond_interaction
from berrys.services.runs._event_listener import RunEventListener, follow_outbox
from berrys.services.runs.contracts import RUN_TERMINAL, AguiProject, RunStatus, StepKind
from berrys.services.runs.engine.events import read
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


def agent_input(body: dict[str, Any]) -> RunAgentInput:
    """A request's body as the protocol's ``RunAgentInput``."""
    try:
        return RunAgentInput.model_validate(body)
    except ValidationError as exc:
        raise Unprocessable(f"Not an AG-UI RunAgentInput: {_first_error(exc)}") from None


def project_description(given: RunAgentInput) -> str:
    """The text of the last user message: what the project is (bounded as a project's)."""
    said = [message for message in given.messages if isinstance(message, UserMessage)]
    content = said[-1].content if said else ""
    if not isinstance(content, str):
        content = "\n".join(part.text for part in content if isinstance(part, TextPart))
    try:
        return AguiProject(description=content.strip()).description
    except ValidationError as exc:
        raise Unprocessable(
            f"The last user message describes the project: {_first_error(exc)}"
        ) from None


def _first_error(exc: ValidationError) -> str:
    problem = exc.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}" if where else str(problem["msg"])


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
    messages: list[tuple[str, BaseEvent]] = []
    async with database.transaction(read_only=True) as session:
        for event in events:
            seq, items = event["seq"], view.feed(event)
            if not items or (after is not None and after.covers(seq)):
                continue
            told = [e for item in items for e in await _expand(session, item)]
            fresh = [
                (f"{seq}:{index}", agui)
                for index, agui in enumerate(told)
                if after is None or not after.sent(seq, index)
            ]
            messages += fresh
            if view.ended and fresh:
                return messages, True
    return messages, False


async def _expand(session: AsyncSession, item: Item) -> list[BaseEvent]:
    """An item as AG-UI events: a placeholder filled from what the database holds."""
    if isinstance(item, ToolCalls):
        return await _tool_calls(session, item)
    if isinstance(item, Output):
        return await _output(session, item)
    if isinstance(item, Interrupts):
        return [await _interrupted(session, item)]
    return [item]


async def _tool_calls(session: AsyncSession, item: ToolCalls) -> list[BaseEvent]:
    """Each tool call the journal recorded for the attempt: its name and arguments, and what
    it answered (its error, if it failed)."""
    steps = await session.execute(
        select(_step.c.id, _step.c.name, _step.c.request, _step.c.result, _step.c.error)
        .where(
            _step.c.task_run_id == item.task_run_id,
            _step.c.attempt == item.attempt,
            _step.c.kind == StepKind.TOOL,
        )
        .order_by(_step.c.seq)
    )
    told: list[BaseEvent] = []
    at = {"timestamp": item.timestamp}
    for step in steps:
        call = str(step.id)
        answer = step.error or json.dumps((step.result or {}).get("value"), default=str)
        told += [
            ToolCallStartEvent(tool_call_id=call, tool_call_name=step.name, **at),
            ToolCallArgsEvent(tool_call_id=call, delta=json.dumps(step.request, default=str), **at),
            ToolCallEndEvent(tool_call_id=call, **at),
            ToolCallResultEvent(
                message_id=f"{call}:result", tool_call_id=call, content=answer, role="tool", **at
            ),
        ]
    return told


async def _output(session: AsyncSession, item: Output) -> list[BaseEvent]:
    """The task's output text as one assistant message, named after its task."""
    output = await session.scalar(select(_task.c.output).where(_task.c.id == item.task_run_id))
    text = str((output or {}).get("text") or "")
    message = f"{item.task_run_id}:{item.attempt}"
    at = {"timestamp": item.timestamp}
    return [
        TextMessageStartEvent(message_id=message, role="assistant", name=item.name, **at),
        TextMessageContentEvent(message_id=message, delta=text, **at),
        TextMessageEndEvent(message_id=message, **at),
    ]


async def _interrupted(session: AsyncSession, item: Interrupts) -> RunFinishedEvent:
    """RUN_FINISHED whose interrupts are the approvals the run waits for, as people see them."""
    interrupts = []
    for asked in item.asked:
        found = await interactions.get(session, interaction_id=uuid.UUID(asked["interaction_id"]))
        subject = str(asked.get("subject") or found.type.value)
        metadata = {
            "type": found.type.value,
            "subject": subject,
            "task_run_id": asked.get("task_run_id"),
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


async def answer_interrupts(
    database: Database, *, entries: Sequence[ResumeEntry], user: UserOut
) -> tuple[uuid.UUID, Position]:
    """Answer, as ``user``, the interrupts an AG-UI run ended with: every one the run waits
    for, each once. The run, and the position its next AG-UI run starts after."""
    answers = {_interaction_id(entry): entry for entry in entries}
    if len(answers) != len(entries):
        raise Unprocessable("Each interrupt is answered once.")
    async with database.transaction(read_only=True) as session:
        scope = await projects.visible_scope(session, user=user)
        asked = [
            await interactions.get(session, interaction_id=key, project_ids=scope)
            for key in answers
        ]
        run_ids = {item.run_id for item in asked}
        run_id = run_ids.pop() if len(run_ids) == 1 else None
        if run_id is None:
            raise Unprocessable("The interrupts answered together are those of one run.")
        view, last = await _replayed(session, run_id)
    if view.status != RunStatus.AWAITING_INPUT or view.open:
        raise Conflict(f"Run {run_id} is not waiting for an answer (it is {view.status.value}).")
    waiting = set(view.asked)
    given = {str(key) for key in answers}
    if given != waiting:
        missing, unknown = sorted(waiting - given), sorted(given - waiting)
        raise Unprocessable(
            f"Answer every interrupt of the run: missing {missing}, not asked {unknown}."
        )
    async with database.transaction() as session:
        for key, entry in answers.items():
            response = _response(entry)
            await respond_interaction(session, interaction_id=key, response=response, user=user)
    return run_id, Position(last)


def _interaction_id(entry: ResumeEntry) -> uuid.UUID:
    try:
        return uuid.UUID(entry.interrupt_id)
    except ValueError:
        raise Unprocessable(f"No interrupt {entry.interrupt_id[:80]!r}: ids are UUIDs.") from None


def _response(entry: ResumeEntry) -> InteractionResponse:
    """A resolved entry's payload is the answer (an approval's ``{approved, comment}``); a
    cancelled one declines: it approves nothing."""
    if entry.status == "cancelled":
        return InteractionResponse(approved=False, comment="Cancelled in an AG-UI client.")
    try:
        return InteractionResponse.model_validate(entry.payload)
    except ValidationError as exc:
        raise Unprocessable(f"Interrupt {entry.interrupt_id}: {_first_error(exc)}") from None


async def _replayed(session: AsyncSession, run_id: uuid.UUID) -> tuple[RunView, int]:
    """The run's view after reading its whole outbox, and the last seq read."""
    view = await open_view(session, run_id=run_id)
    last = 0
    while events := await read(session, run_id=run_id, after_seq=last):
        for event in events:
            view.feed(event)
        last = events[-1]["seq"]
    return view, last
