"""Runs, their task runs (a snapshot of one plan version), recorded steps and the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.catalogue.contracts import DependencyType, RiskLevel
from berrys.services.runs.contracts import (
    RunEventType,
    RunStatus,
    StepKind,
    StepStatus,
    TaskRunStatus,
)


class Run(UUIDPrimaryKey, Timestamps, Base):
    """One execution of one plan version. ``status`` is derived from the task runs.

    Columns that refer to other services' tables name their type: a foreign key alone takes
    it from the referred table once that is imported, and a statement compiled before then
    (a worker process that imported only the engine) would read those ids as text."""

    __tablename__ = "run"

    project_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("plan.id", ondelete="SET NULL")
    )
    plan_version: Mapped[int | None]
    status: Mapped[RunStatus] = mapped_column(enum_column(RunStatus), index=True)
    paused: Mapped[bool] = mapped_column(default=False)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # A plan approval the run waits for before any task may start.
    gate_interaction_id: Mapped[uuid.UUID | None]
    max_concurrency: Mapped[int] = mapped_column(default=8)
    # {"SCRIPTED": 4, ...}: how many tasks of one provider may run at once.
    provider_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    budget_usd: Mapped[float | None]
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    # The executor's settings (model, approval mode, review, ...), fixed at creation.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class TaskRun(UUIDPrimaryKey, Base):
    """One task of the run's plan snapshot: what to do, its state, attempt and lease."""

    __tablename__ = "task_run"
    __table_args__ = (
        UniqueConstraint("run_id", "key", name="uq_task_run_run_key"),
        Index("ix_task_run_claim", "status", "lease_expires_at"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    plan_task_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("plan_task.id", ondelete="SET NULL")
    )
    key: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)
    # The work left on the longest path from this task to the end of the plan (estimate
    # hours, 1 per task without one): when slots are scarce the longest goes first.
    critical_path: Mapped[float] = mapped_column(default=0.0, server_default="0")
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    acceptance_criteria: Mapped[list[Any]] = mapped_column(default=list)
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel), default=RiskLevel.LOW)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agent.id", ondelete="SET NULL")
    )
    provider: Mapped[str | None] = mapped_column(String(32))
    # Whatever else the executor needs about the task, snapshotted with it.
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[TaskRunStatus] = mapped_column(enum_column(TaskRunStatus))
    attempt: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    timeout_seconds: Mapped[float | None]
    not_before: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    # Set when the work is done but an FF/SF predecessor still holds back COMPLETED.
    output_ready: Mapped[bool] = mapped_column(default=False)
    # Approvals a human granted this task ("risk", "tool:<seq>:<hash>", "budget:<usd>").
    grants: Mapped[list[Any]] = mapped_column(default=list)
    output: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    tokens: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class TaskRunDependency(Base):
    """The plan's dependencies among the run's task runs, snapshotted with them."""

    __tablename__ = "task_run_dependency"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    from_task_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task_run.id", ondelete="CASCADE"), primary_key=True
    )
    to_task_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task_run.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    dependency_type: Mapped[DependencyType] = mapped_column(enum_column(DependencyType))
    lag_hours: Mapped[float] = mapped_column(default=0.0)


class Step(UUIDPrimaryKey, Base):
    """One model or tool call of one task attempt, recorded for replay."""

    __tablename__ = "step"
    __table_args__ = (
        UniqueConstraint("task_run_id", "attempt", "seq", name="uq_step_task_run_attempt_seq"),
    )

    task_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task_run.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int]
    seq: Mapped[int]
    kind: Mapped[StepKind] = mapped_column(enum_column(StepKind))
    name: Mapped[str] = mapped_column(String(200), default="")
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[StepStatus] = mapped_column(enum_column(StepStatus))
    idempotent: Mapped[bool] = mapped_column(default=True)
    # What the call was asked (a model's messages, a tool's arguments), long texts cut.
    request: Mapped[dict[str, Any] | None]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    # How often the call was issued: >1 when a crash re-issued it (cost, not a side effect).
    calls: Mapped[int] = mapped_column(default=1)
    # A human's decision on re-running a non-idempotent call found in flight: RERUN / REJECT.
    resolution: Mapped[str | None] = mapped_column(String(16))
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    tokens: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None]


class RunEvent(Base):
    """The outbox: one row per state change of a run, numbered per run."""

    __tablename__ = "event"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("run.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[RunEventType] = mapped_column(enum_column(RunEventType))
    task_run_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Artifact(UUIDPrimaryKey, Base):
    """What a task produced: text, markdown or JSON, and optionally a file in the workspace."""

    __tablename__ = "artifact"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    task_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task_run.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text, default="")
    path: Mapped[str | None] = mapped_column(Text)
    # "<provider>/<model>" that produced it.
    produced_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngineWorker(Base):
    """A worker process of the engine, as it last said: registered when it starts, its
    heartbeat renewed with its leases, removed when it stops on purpose. A row whose
    ``expires_at`` has passed is a worker that died (or lost the database)."""

    __tablename__ = "engine_worker"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    tasks_held: Mapped[int] = mapped_column(default=0)
    concurrency: Mapped[int] = mapped_column(default=0)
    draining: Mapped[bool] = mapped_column(default=False)
