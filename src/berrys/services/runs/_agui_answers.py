"""What an AG-UI client sends: a ``RunAgentInput`` read (the project its last user message
describes), and the answers to the interrupts a run's AG-UI run ended with, given as the
client's user through the same function as the approvals inbox and REST."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from ag_ui.core import ResumeEntry, RunAgentInput, TextPart, UserMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import Conflict, Unprocessable
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionResponse
from berrys.services.projects import service as projects
from berrys.services.runs._agui import RunView
from berrys.services.runs._agui_stream import Position, open_view
from berrys.services.runs._answers import respond_interaction
from berrys.services.runs.contracts import AguiProject, RunStatus
from berrys.services.runs.engine.events import read


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
