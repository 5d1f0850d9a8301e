"""What an action produces, and the checks every action shares."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from berrys.core.errors import BerrysError
from berrys.services.agents import service as agents
from berrys.services.auth.contracts import UserOut
from berrys.services.chat._turn import Turn
from berrys.services.chat.contracts import (
    ChatAction,
    ChatActionStatus,
    ChatIntent,
    IntentResult,
    PendingAction,
)

Intent = ChatIntent
Status = ChatActionStatus


@dataclass
class Outcome:
    reply: str
    actions: list[ChatAction] = field(default_factory=list)
    project_id: uuid.UUID | None = None
    pending: PendingAction | None = None


def project_url(project_id: uuid.UUID, anchor: str = "") -> str:
    return f"/projects/{project_id}" + (f"#{anchor}" if anchor else "")


def refuse_read_only(user: UserOut, intent: ChatIntent) -> Outcome | None:
    if user.can_write:
        return None
    detail = f"Your role {user.role.value} can only read; this needs MEMBER or ADMIN."
    return Outcome(
        reply=f"I can't do that for you: {detail}",
        actions=[ChatAction(type=intent, status=Status.FAILED, detail=detail)],
    )


def failed(intent: ChatIntent, exc: BerrysError, project_id: uuid.UUID | None) -> Outcome:
    return Outcome(
        reply=f"That did not work: {exc.detail}",
        actions=[
            ChatAction(
                type=intent,
                status=Status.FAILED,
                detail=exc.detail,
                result={"project_id": str(project_id)} if project_id else {},
            )
        ],
        project_id=project_id,
    )


def not_ready(intent: ChatIntent, project_id: uuid.UUID, detail: str, hint: str) -> Outcome:
    """An action the project is not ready for: what it lacks (``detail``), what to do first."""
    return Outcome(
        reply=f"{detail} {hint}",
        project_id=project_id,
        actions=[
            ChatAction(
                type=intent,
                status=Status.FAILED,
                detail=detail,
                result={"project_id": str(project_id)},
            )
        ],
    )


def confirm(intent: ChatIntent, project_id: uuid.UUID, question: str) -> Outcome:
    """Ask before a costly or destructive action; a "yes" in the next message carries it out."""
    return Outcome(
        reply=question,
        project_id=project_id,
        actions=[
            ChatAction(
                type=intent,
                status=Status.NEEDS_CONFIRMATION,
                detail=question,
                result={"project_id": str(project_id)},
            )
        ],
        pending=PendingAction(type=intent, project_id=project_id, question=question),
    )


def answered(question: str, reply: str, project_id: uuid.UUID | None, **result: Any) -> Outcome:
    """A question's outcome: the reply, and one completed STATUS action with what it read."""
    return Outcome(
        reply=reply,
        project_id=project_id,
        actions=[
            ChatAction(
                type=Intent.STATUS,
                status=Status.COMPLETED,
                result={
                    "question": question,
                    "project_id": str(project_id) if project_id else None,
                    **result,
                },
            )
        ],
    )


def target_project(turn: Turn, intent: IntentResult) -> tuple[uuid.UUID | None, str | None]:
    """The project meant: one named in the message, else the conversation's."""
    if intent.project_name:
        wanted = intent.project_name.strip().lower()
        for name, project_id in turn.projects.items():
            if name.lower() == wanted:
                return project_id, name
    if turn.project_id is not None:
        names = {pid: name for name, pid in turn.projects.items()}
        return turn.project_id, names.get(turn.project_id)
    return None, None


def ask_which_project(intent: ChatIntent) -> Outcome:
    what = {
        Intent.GENERATE_TEAM: "generate a team for",
        Intent.PLAN: "plan",
        Intent.STATUS: "report on",
    }
    return Outcome(
        reply=f"Which project should I {what.get(intent, 'use')}? Create one first, for "
        'example: "Create a project called Bakery Site to build a website for my bakery", '
        "or name an existing one."
    )


async def agent_count(session: Any, project_id: uuid.UUID, user: UserOut) -> int:
    """How many agents the project has."""
    return await agents.count(session, project_id=project_id, user=user)
