"""Request and response models of interactions: one waiting question, and a person's answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from berrys.core.contracts import Contract
from berrys.core.enums import (
    EscalationRule,
    HumanInteractionType,
    InteractionStatus,
    Priority,
    RejectionPolicy,
)

Text = Annotated[str, StringConstraints(max_length=20_000)]


class InteractionOut(Contract):
    id: uuid.UUID
    type: HumanInteractionType
    status: InteractionStatus
    priority: Priority
    project_id: uuid.UUID
    run_id: uuid.UUID | None
    task_run_id: uuid.UUID | None
    title: str
    prompt: str
    expires_at: datetime | None
    escalation: EscalationRule
    escalations: int
    on_reject: RejectionPolicy
    responded_by: uuid.UUID | None
    responded_at: datetime | None
    created_at: datetime
    # The type's own part: approval {subject, details, approved, comment}; clarification
    # {question, options, answer}; feedback {subject, feedback}; notification {level,
    # message, acknowledged}.
    detail: dict[str, Any] = Field(default_factory=dict)


class InteractionResponse(Contract):
    """approval ``{approved, comment?}``, clarification ``{answer}``, feedback
    ``{feedback}``, notification ``{acknowledged: true}``."""

    approved: bool | None = None
    comment: Text | None = None
    answer: Text | None = None
    feedback: Text | None = None
    acknowledged: bool | None = None
