"""Tables of projects: the project, and one row per move of its lifecycle."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.projects.contracts import ProjectStatus


class Project(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "project"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ProjectStatus] = mapped_column(enum_column(ProjectStatus), index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="RESTRICT"), index=True
    )
    project_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ProjectState(UUIDPrimaryKey, Base):
    """One row per lifecycle transition, creation included."""

    __tablename__ = "project_state"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[ProjectStatus | None] = mapped_column(enum_column(ProjectStatus))
    to_status: Mapped[ProjectStatus] = mapped_column(enum_column(ProjectStatus))
    reason: Mapped[str | None] = mapped_column(Text)
    transitioned_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    transitioned_at: Mapped[datetime] = mapped_column(default=utcnow)
