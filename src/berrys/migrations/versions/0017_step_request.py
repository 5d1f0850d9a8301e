"""workflows: step.request keeps what each recorded call was asked

A recorded step kept only a hash of its request (enough for replay); the run page's trace
now shows each model call's prompt messages and each tool call's arguments, so the request
is kept too, its long texts cut with a visible marker. Steps recorded before have none.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request", berrys.core.db.JSONDocument(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.drop_column("request")
