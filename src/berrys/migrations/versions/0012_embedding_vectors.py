"""search: embedding_vector keeps embeddings across processes

Similarity search and tool discovery embed every text they rank; the vectors were kept in
memory only, so each restart, CLI process and second worker embedded everything again. A
row holds one text's unit vector (float32 bytes) by embedder name and text hash.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 15:03:11.821571
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "embedding_vector",
        sa.Column("embedder", sa.String(length=200), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("embedder", "text_hash", name=op.f("pk_embedding_vector")),
    )


def downgrade() -> None:
    op.drop_table("embedding_vector")
