"""Request and response models of alerts: rules with one typed condition per kind, their
episodes, and the notifications each episode sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, StringConstraints, field_validator

from berrys.core.contracts import Contract, Name
from berrys.core.enums import BerrysEnum
from berrys.services.auth.contracts import Email


class AlertKind(BerrysEnum):
    TASK_FAILURE_RATE = "TASK_FAILURE_RATE"
    BUDGET_SPENT = "BUDGET_SPENT"
    RUN_STALLED = "RUN_STALLED"
    APPROVAL_WAITING = "APPROVAL_WAITING"
    WORKER_SILENT = "WORKER_SILENT"


class EpisodeStatus(BerrysEnum):
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


class EpisodeEvent(BerrysEnum):
    """What a notification says happened to an episode."""

    FIRED = "FIRED"
    RESOLVED = "RESOLVED"


class DeliveryChannel(BerrysEnum):
    WEBHOOK = "WEBHOOK"
    EMAIL = "EMAIL"


class DeliveryStatus(BerrysEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


Minutes = Annotated[int, Field(ge=1, le=43_200)]  # up to 30 days
Percent = Annotated[float, Field(gt=0, le=1000)]


class TaskFailureRate(Contract):
    """Fires when at least ``threshold_percent`` of the tasks that finished in the last
    ``window_minutes`` failed, once ``min_tasks`` finished."""

    kind: Literal[AlertKind.TASK_FAILURE_RATE]
    threshold_percent: Annotated[float, Field(gt=0, le=100)]
    window_minutes: Minutes = 60
    min_tasks: Annotated[int, Field(ge=1, le=1_000_000)] = 5


class BudgetSpent(Contract):
    """Fires when a budget (the project's; every budget for a global rule) has spent at
    least ``threshold_percent`` of its limit in dollars or tokens."""

    kind: Literal[AlertKind.BUDGET_SPENT]
    threshold_percent: Percent = 80


class RunStalled(Contract):
    """Fires when a QUEUED or RUNNING run has had no event and no step for
    ``idle_minutes``."""

    kind: Literal[AlertKind.RUN_STALLED]
    idle_minutes: Minutes = 30


class ApprovalWaiting(Contract):
    """Fires when an approval has waited for a person longer than ``waiting_minutes``."""

    kind: Literal[AlertKind.APPROVAL_WAITING]
    waiting_minutes: Minutes = 60


class WorkerSilent(Contract):
    """Fires when a registered worker has sent no heartbeat for ``grace_minutes`` (killed,
    hung or cut off from the database); for a project's rule, one holding a running task of
    the project. Resolves when it beats again, leaves, or its tasks are taken over."""

    kind: Literal[AlertKind.WORKER_SILENT]
    grace_minutes: Minutes = 5


AlertCondition = Annotated[
    TaskFailureRate | BudgetSpent | RunStalled | ApprovalWaiting | WorkerSilent,
    Field(discriminator="kind"),
]
WebhookUrl = Annotated[str, StringConstraints(max_length=2000)]
Recipients = Annotated[list[Email], Field(max_length=20)]


def check_webhook_url(url: str | None) -> str | None:
    """An http(s) URL with a host and no credentials (the secret signs, it is not sent)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("webhook_url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("webhook_url must not carry credentials")
    return url


def check_webhook_secret(secret: SecretStr | None) -> SecretStr | None:
    if secret is not None and not 16 <= len(secret.get_secret_value()) <= 200:
        raise ValueError("webhook_secret must be 16 to 200 characters")
    return secret


class AlertRuleCreate(Contract):
    name: Name
    project_id: uuid.UUID | None = Field(
        default=None, description="The project watched; none: every project (ADMIN only)."
    )
    condition: AlertCondition
    enabled: bool = True
    webhook_url: WebhookUrl | None = Field(
        default=None, description="POSTed each firing and resolution, signed with the secret."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="16-200 characters; required with webhook_url; never shown."
    )
    email_to: Recipients = Field(
        default_factory=list, description="Mailed each firing and resolution (needs SMTP)."
    )

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_webhook_url(value)

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return check_webhook_secret(value)


class AlertRuleUpdate(Contract):
    """``None`` leaves a field as it is; ``webhook_url: ""`` removes the webhook."""

    name: Name | None = None
    condition: AlertCondition | None = None
    enabled: bool | None = None
    webhook_url: WebhookUrl | None = None
    webhook_secret: SecretStr | None = None
    email_to: Recipients | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return value if value == "" else check_webhook_url(value)

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return check_webhook_secret(value)


class AlertRuleOut(Contract):
    id: uuid.UUID
    name: str
    project_id: uuid.UUID | None
    condition: AlertCondition
    enabled: bool
    webhook_url: str | None
    webhook_secret_set: bool
    email_to: list[str]
    firing: bool = Field(description="Whether an episode of the rule is open now.")
    last_evaluated_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class AlertEpisodeOut(Contract):
    id: uuid.UUID
    rule_id: uuid.UUID
    rule_name: str
    project_id: uuid.UUID | None
    kind: AlertKind
    status: EpisodeStatus
    summary: str
    # What held when it fired: the subjects (runs, approvals, budgets, workers) and numbers.
    details: dict[str, Any]
    opened_at: datetime
    resolved_at: datetime | None
    acknowledged_by: uuid.UUID | None
    acknowledged_at: datetime | None


class DeliveryAttemptOut(Contract):
    attempt: int
    at: datetime
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


class AlertDeliveryOut(Contract):
    id: uuid.UUID
    episode_id: uuid.UUID
    channel: DeliveryChannel
    event: EpisodeEvent
    target: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    attempt_log: list[DeliveryAttemptOut]
