"""llm: a registered model may carry its own endpoint and encrypted API key

``model.base_url`` (an OpenAI-compatible server, Anthropic's API or an Ollama server),
``model.api_key_encrypted`` (Fernet, under a key derived from BERRYS_SECRET_KEY) and
``model.api_key_hint`` (the key's last characters, the only part ever shown).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("api_key_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("api_key_hint", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.drop_column("api_key_hint")
        batch_op.drop_column("api_key_encrypted")
        batch_op.drop_column("base_url")
