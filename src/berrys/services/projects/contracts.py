"""Request and response models of projects, their history and stats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, Field, StringConstraints

from berrys.core.contracts import Contract, Description, Name
from berrys.core.enums import BerrysEnum
from berrys.services.planning.contracts import TaskStatus


class ProjectStatus(BerrysEnum):
    DRAFT = "DRAFT"
    PLANNING = "PLANNING"
    IN_PROGRESS = "IN_PROGRESS"
    PAUSED = "PAUSED"
    REVIEW = "REVIEW"
    COMPLETED = "COMPLETED"
    ARCHIVED = "ARCHIVED"
    CANCELLED = "CANCELLED"


Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ProjectCreate(Contract):
    name: Name
    description: Description = ""
    status: ProjectStatus = Field(
        default=ProjectStatus.DRAFT, description="DRAFT (default) or PLANNING."
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class ProjectUpdate(Contract):
    name: Name | None = None
    description: Description | None = None
    metadata: dict[str, Any] | None = None


class ProjectOut(Contract):
    id: uuid.UUID
    name: str
    description: str
    status: ProjectStatus
    owner_id: uuid.UUID
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("project_metadata", "metadata"))
    created_at: datetime
    updated_at: datetime


class TransitionRequest(Contract):
    to_status: ProjectStatus
    reason: Reason | None = None


class ProjectStateOut(Contract):
    id: uuid.UUID
    from_status: ProjectStatus | None
    to_status: ProjectStatus
    reason: str | None
    transitioned_by: uuid.UUID | None
    transitioned_at: datetime


class ProjectStats(Contract):
    project_id: uuid.UUID
    status: ProjectStatus
    status_since: datetime
    transitions: int
    allowed_transitions: list[ProjectStatus]
    agents: int = Field(default=0, description="How many agents the project has.")
    tasks_by_status: dict[TaskStatus, int] = Field(
        default_factory=dict, description="Tasks of the current plan by status."
    )
    progress_percent: float = Field(
        default=0.0, description="Share of the current plan's estimated hours completed."
    )
    eta: datetime | None = Field(
        default=None, description="When the remaining work of the current plan should finish."
    )
