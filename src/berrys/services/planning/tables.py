"""Tables of planning: plan versions with phases, milestones, resources, tasks, dependencies,
changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.core.enums import Priority
from berrys.services.audit.contracts import AuditAction
from berrys.services.catalogue.contracts import DependencyType, Methodology, RiskLevel
from berrys.services.planning.contracts import TaskStatus


class Plan(UUIDPrimaryKey, Timestamps, Base):
    """One version of a project's plan; exactly one version per project is current."""

    __tablename__ = "plan"
    __table_args__ = (
        UniqueConstraint("project_id", "version", name="uq_plan_project_version"),
        Index(
            "uq_plan_one_current",
            "project_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    is_current: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(200))
    methodology: Mapped[Methodology] = mapped_column(enum_column(Methodology))
    # When work starts, and the working calendar (hours per day, working days, holidays).
    start_at: Mapped[datetime]
    calendar: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plan.id", ondelete="SET NULL"))
    # "rules" or "<provider>/<model>" for a generated plan; None when made by hand.
    generated_by: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class PlanPhase(UUIDPrimaryKey, Base):
    __tablename__ = "plan_phase"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)


class PlanMilestone(UUIDPrimaryKey, Base):
    """Reached when all of its tasks are finished."""

    __tablename__ = "plan_milestone"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), index=True
    )
    phase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plan_phase.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    task_ids: Mapped[list[Any]] = mapped_column(default=list)


class PlanResource(UUIDPrimaryKey, Base):
    """Who does the work: an agent of the project, or a named person (no agent)."""

    __tablename__ = "plan_resource"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    skills: Mapped[list[Any]] = mapped_column(default=list)
    capacity_hours_per_week: Mapped[float] = mapped_column(default=40.0)
    cost_per_hour: Mapped[float] = mapped_column(default=0.0)


class PlanTask(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "plan_task"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), index=True
    )
    phase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plan_phase.id", ondelete="SET NULL")
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    acceptance_criteria: Mapped[list[Any]] = mapped_column(default=list)
    estimate_hours: Mapped[float]
    optimistic_hours: Mapped[float | None]
    pessimistic_hours: Mapped[float | None]
    required_skills: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority))
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus), index=True)
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel))
    assigned_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent.id", ondelete="SET NULL"), index=True
    )
    assigned_resource_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plan_resource.id", ondelete="SET NULL")
    )
    # The deliverable type (catalogue key) the task hands over, when the plan came from one
    deliverable: Mapped[str | None] = mapped_column(String(64))
    # Earliest start in working hours from the plan's start (set by resource levelling).
    not_before_hours: Mapped[float | None]


class PlanDependency(UUIDPrimaryKey, Base):
    __tablename__ = "plan_dependency"
    __table_args__ = (
        UniqueConstraint("from_task_id", "to_task_id", name="uq_plan_dependency_pair"),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), index=True
    )
    from_task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan_task.id", ondelete="CASCADE"), index=True
    )
    to_task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan_task.id", ondelete="CASCADE"), index=True
    )
    dependency_type: Mapped[DependencyType] = mapped_column(enum_column(DependencyType))
    lag_hours: Mapped[float] = mapped_column(default=0.0)


class PlanChange(UUIDPrimaryKey, Base):
    """The plan's own change history: what changed in this version, by whom, when."""

    __tablename__ = "plan_change"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[uuid.UUID | None]
    summary: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
