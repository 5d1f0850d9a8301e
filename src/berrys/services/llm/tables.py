"""Tables of model orchestration: registered models, every attempt, budgets, and quality-gate
verdicts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.core.encryption import describe
from berrys.services.llm.contracts import (
    BudgetPeriod,
    BudgetScope,
    ModelProvider,
    ModelRequestOutcome,
    ModelTaskType,
)


class LlmModel(UUIDPrimaryKey, Timestamps, Base):
    """The model registry: one row per provider and model name."""

    __tablename__ = "model"
    __table_args__ = (UniqueConstraint("provider", "name", name="uq_model_provider_name"),)

    provider: Mapped[ModelProvider] = mapped_column(enum_column(ModelProvider))
    name: Mapped[str] = mapped_column(String(200))
    capabilities: Mapped[list[Any]] = mapped_column(default=list)
    context_window: Mapped[int] = mapped_column(default=4096)
    input_price_per_million: Mapped[float] = mapped_column(Float, default=0.0)
    output_price_per_million: Mapped[float] = mapped_column(Float, default=0.0)
    is_local: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    quality: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Stored credentials (``llm.credentials``): the model is served from this endpoint with
    # this key instead of the environment's provider. The key is Fernet-encrypted under a key
    # derived from BERRYS_SECRET_KEY; the hint (its last characters) is all that is shown.
    base_url: Mapped[str | None] = mapped_column(String(500))
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    api_key_hint: Mapped[str | None] = mapped_column(String(8))
    # Learned from history: moving averages updated with every attempt, and user feedback.
    success_rate: Mapped[float] = mapped_column(Float, default=1.0)
    latency_ms_avg: Mapped[float | None] = mapped_column(Float)
    feedback_score: Mapped[float] = mapped_column(Float, default=0.0)
    requests: Mapped[int] = mapped_column(default=0)

    @property
    def api_key_status(self) -> str:
        """How the key is described wherever the model is shown; the key itself never is."""
        return describe(self.api_key_encrypted is not None, self.api_key_hint)


class ModelRequest(UUIDPrimaryKey, Base):
    """One attempt of one model call: the accounting and the router's memory."""

    __tablename__ = "model_request"
    __table_args__ = (Index("ix_model_request_created_at", "created_at"),)

    call_id: Mapped[uuid.UUID] = mapped_column(index=True)
    attempt: Mapped[int] = mapped_column(default=1)
    # No foreign key: the history outlives a model removed from the registry.
    model_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    provider: Mapped[ModelProvider] = mapped_column(enum_column(ModelProvider))
    model_name: Mapped[str] = mapped_column(String(200))
    task_type: Mapped[ModelTaskType] = mapped_column(enum_column(ModelTaskType))
    outcome: Mapped[ModelRequestOutcome] = mapped_column(enum_column(ModelRequestOutcome))
    error_class: Mapped[str | None] = mapped_column(String(100))
    error_detail: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column()
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    request_hash: Mapped[str] = mapped_column(String(64))
    route_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelBudget(UUIDPrimaryKey, Timestamps, Base):
    """A hard limit on spend: per project, per agent, or a provider's daily quota."""

    __tablename__ = "model_budget"

    scope: Mapped[BudgetScope] = mapped_column(enum_column(BudgetScope))
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    provider: Mapped[ModelProvider | None] = mapped_column(enum_column(ModelProvider))
    period: Mapped[BudgetPeriod] = mapped_column(enum_column(BudgetPeriod))
    limit_usd: Mapped[float | None] = mapped_column(Float)
    limit_tokens: Mapped[int | None] = mapped_column()


class ModelGate(Base):
    """Quality-gate verdicts per provider, model and task type (``llm.service.record_gate``):
    what the router compares with the offline draft's (provider RULES) before it routes
    deliverables (TASK) and reviews (REVIEW) to a model."""

    __tablename__ = "model_gate"

    provider: Mapped[ModelProvider] = mapped_column(enum_column(ModelProvider), primary_key=True)
    # No foreign key, like model_request: scripted models and removed ones keep their record.
    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    task_type: Mapped[ModelTaskType] = mapped_column(enum_column(ModelTaskType), primary_key=True)
    passed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmbeddingVector(Base):
    """One text's unit vector from one embedder: little-endian float32 bytes.

    The text itself is not kept, only its hash (``scoring.text_hash``): an edited text has
    another hash, so its old vector is simply never asked for again.
    """

    __tablename__ = "embedding_vector"

    embedder: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    dimensions: Mapped[int]
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderLoad(Base):
    """Calls in flight to one provider across every process sharing a PostgreSQL database:
    its limit as last set, and the most calls ever in flight at once (``peak``)."""

    __tablename__ = "provider_load"

    # The provider's kind, or the id of a registered model served by an endpoint of its own.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    slots: Mapped[int]
    peak: Mapped[int] = mapped_column(default=0)
    peak_at: Mapped[datetime | None]


class ProviderHold(UUIDPrimaryKey, Base):
    """One call in flight to a provider, held by a process until the call ends or the hold
    expires (the process died): a killed process leaks no slot for longer than its lease."""

    __tablename__ = "provider_hold"
    __table_args__ = (Index("ix_provider_hold_key", "key", "held_until"),)

    key: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(100))
    held_until: Mapped[datetime]
