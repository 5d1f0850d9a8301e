"""Request and response models of triggers: cron schedules that start a project's current
plan, and webhooks told when its runs start, finish, wait for a person or lose a task."""

from __future__ import annotations

import uuid
from datetime import datetime

from croniter import croniter
from pydantic import Field, SecretStr, field_validator

from berrys.core.contracts import Contract
from berrys.core.enums import BerrysEnum
from berrys.services.alerts.contracts import (
    DeliveryAttemptOut,
    DeliveryStatus,
    WebhookUrl,
    check_webhook_secret,
    check_webhook_url,
)


class MissedFires(BerrysEnum):
    """What a schedule does with the fire times nobody was running to see."""

    # At most one run now, however many were missed.
    SKIP = "SKIP"
    # One run per missed fire time, the latest ``max_catch_up`` of them.
    CATCH_UP = "CATCH_UP"


class WebhookEvent(BerrysEnum):
    RUN_STARTED = "RUN_STARTED"
    # Any end: completed (with or without review), failed, cancelled.
    RUN_FINISHED = "RUN_FINISHED"
    # An approval or a question waits for a person.
    RUN_NEEDS_PERSON = "RUN_NEEDS_PERSON"
    TASK_FAILED = "TASK_FAILED"


def check_cron(expression: str | None) -> str | None:
    if expression is not None and not croniter.is_valid(expression):
        raise ValueError("cron must be a five-field cron expression, e.g. '0 6 * * 1-5'")
    return expression


class ScheduleCreate(Contract):
    cron: str = Field(max_length=200, description="Five fields, in UTC: '0 6 * * 1-5'.")
    missed: MissedFires = MissedFires.SKIP
    max_catch_up: int = Field(default=10, ge=1, le=100)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        check_cron(value)
        return value


class ScheduleUpdate(Contract):
    """``None`` leaves a field as it is."""

    cron: str | None = Field(default=None, max_length=200)
    missed: MissedFires | None = None
    max_catch_up: int | None = Field(default=None, ge=1, le=100)
    enabled: bool | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value)


class ScheduleOut(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    cron: str
    missed: MissedFires
    max_catch_up: int
    enabled: bool
    next_fire_at: datetime
    last_fired_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ScheduleFireOut(Contract):
    """One fire time of a schedule: the run it started, or why it started none."""

    fire_at: datetime
    run_id: uuid.UUID | None
    error: str | None


class WebhookCreate(Contract):
    url: WebhookUrl
    events: list[WebhookEvent] = Field(min_length=1, max_length=4)
    secret: SecretStr | None = Field(
        default=None, description="16-200 characters; signs each delivery; never shown."
    )
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        check_webhook_url(value)
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return check_webhook_secret(value)


class WebhookUpdate(Contract):
    """``None`` leaves a field as it is; ``secret: ""`` removes the secret."""

    url: WebhookUrl | None = None
    events: list[WebhookEvent] | None = Field(default=None, min_length=1, max_length=4)
    secret: SecretStr | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_webhook_url(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() == "":
            return value
        return check_webhook_secret(value)


class WebhookOut(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    secret_set: bool
    enabled: bool
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class WebhookDeliveryOut(Contract):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event: WebhookEvent
    run_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime
    attempt_log: list[DeliveryAttemptOut]
