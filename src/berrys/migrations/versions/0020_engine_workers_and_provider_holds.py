"""runs and llm: live workers, and model calls in flight across processes

``engine_worker``: each worker process registers itself and renews a heartbeat (``berrys
workers``, ``GET /api/v1/workers``). ``provider_load`` and ``provider_hold``: on PostgreSQL a
provider's calls in flight are counted in the database, so its limit holds across processes;
``provider_load.peak`` is the most ever in flight at once.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 03:53:31.779585
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engine_worker",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tasks_held", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_worker")),
    )
    with op.batch_alter_table("engine_worker", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_engine_worker_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "provider_hold",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("held_until", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_hold")),
    )
    with op.batch_alter_table("provider_hold", schema=None) as batch_op:
        batch_op.create_index("ix_provider_hold_key", ["key", "held_until"], unique=False)

    op.create_table(
        "provider_load",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("peak_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_provider_load")),
    )


def downgrade() -> None:
    op.drop_table("provider_load")
    with op.batch_alter_table("provider_hold", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_hold_key")

    op.drop_table("provider_hold")
    with op.batch_alter_table("engine_worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_engine_worker_expires_at"))

    op.drop_table("engine_worker")
