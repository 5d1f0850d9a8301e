"""What Berrys understood of a project: its types, sizes, requirements and title."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps


class ProjectProfile(Timestamps, Base):
    """One row per project, rewritten each time the project is understood again."""

    __tablename__ = "project_profile"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(String(200))
    # [{key, name, confidence, similarity, signals}], best first (TypeMatch)
    types: Mapped[list[Any]] = mapped_column(default=list)
    # [{dimension, value, unit, text}] (Constraint)
    constraints: Mapped[list[Any]] = mapped_column(default=list)
    # [{text, category, priority, source, project_type}] (Requirement)
    requirements: Mapped[list[Any]] = mapped_column(default=list)
    # who understood it: "catalogue", or "<provider>/<model>", and why a model's answer was
    # replaced when it was
    source: Mapped[str] = mapped_column(String(200), default="catalogue")
    notes: Mapped[list[Any]] = mapped_column(default=list)
