"""Request and response models of interactions: one waiting question, and a person's answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from berrys.core.contracts import Contract
from berrys.core.enums import BerrysEnum, Priority


class HumanInteractionType(BerrysEnum):
    APPROVAL = "APPROVAL"
    CLARIFICATION = "CLARIFICATION"
    FEEDBACK = "FEEDBACK"
    NOTIFICATION = "NOTIFICATION"


class InteractionStatus(BerrysEnum):
    PENDING = "PENDING"
    RESPONDED = "RESPONDED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class RejectionPolicy(BerrysEnum):
    """What a rejected approval does to the task that waited for it."""

    FAIL = "FAIL"
    SKIP = "SKIP"


class EscalationRule(BerrysEnum):
    """What happens when a PENDING interaction expires."""

    REJECT = "REJECT"
    APPROVE = "APPROVE"
    ESCALATE = "ESCALATE"


class ApprovalSubject(BerrysEnum):
    """What an APPROVAL is about."""

    PLAN = "PLAN"
    TOOL_CALL = "TOOL_CALL"
    TOOL_RERUN = "TOOL_RERUN"
    TASK_RISK = "TASK_RISK"
    BUDGET = "BUDGET"
    # A project's deliverables going out (services/publishing).
    PUBLICATION = "PUBLICATION"


class NotificationLevel(BerrysEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


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
