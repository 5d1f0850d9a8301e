"""What the engine needs from the services around it, handed to it by whoever builds it.

The engine knows runs and task runs only. A run's status change has effects elsewhere (an
audit entry, its project's lifecycle), a task may ask a person before it goes on (an
interaction), and questions nobody answered in time expire: the run hooks do these, called
by the engine inside the transaction that makes the change, so both commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.enums import Priority
from berrys.services.interactions.contracts import ApprovalSubject, EscalationRule, RejectionPolicy
from berrys.services.runs.contracts import RunStatus


@dataclass(frozen=True)
class StatusChange:
    """A run's status moved from ``old`` to ``new`` in the transaction at hand."""

    run_id: uuid.UUID
    project_id: uuid.UUID
    options: dict[str, Any]
    old: RunStatus
    new: RunStatus


@dataclass(frozen=True)
class ApprovalAsked:
    """A task waits for a person's approval (AWAITING_INPUT until it is answered)."""

    project_id: uuid.UUID
    run_id: uuid.UUID
    task_run_id: uuid.UUID
    subject: ApprovalSubject
    title: str
    prompt: str
    details: dict[str, Any]
    priority: Priority
    expires_at: datetime | None
    escalation: EscalationRule
    on_reject: RejectionPolicy


# Each is called with an ORM session joined to the engine's transaction.
OnStatusChange = Callable[[AsyncSession, StatusChange], Awaitable[None]]
AskPerson = Callable[[AsyncSession, ApprovalAsked], Awaitable[uuid.UUID]]
ExpireAnswers = Callable[[Database], Awaitable[int]]


@dataclass(frozen=True)
class RunHooks:
    status_changed: OnStatusChange
    # Records the question for a person; returns its id (the interaction's).
    ask_person: AskPerson
    # Applies the escalation rule of questions past their expiry (the worker's upkeep).
    expire_answers: ExpireAnswers
