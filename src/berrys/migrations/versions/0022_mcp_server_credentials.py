"""tools: an MCP server's HTTP headers and bearer token are stored encrypted

``mcp_server.credentials_encrypted`` (Fernet, under a key derived from BERRYS_SECRET_KEY)
holds the headers and the bearer token as JSON; ``mcp_server.header_names`` is the only
part ever shown. Headers stored in the clear before are encrypted here and dropped.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 05:20:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mcp_server", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credentials_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "header_names", berrys.core.db.JSONDocument(), nullable=False, server_default="[]"
            )
        )
    _encrypt_clear_headers()
    with op.batch_alter_table("mcp_server", schema=None) as batch_op:
        batch_op.drop_column("headers")


def _encrypt_clear_headers() -> None:
    """Headers stored in the clear, encrypted under the configured secret key."""
    bind = op.get_bind()
    table = sa.table(
        "mcp_server",
        sa.column("id", sa.Uuid()),
        sa.column("headers", berrys.core.db.JSONDocument()),
        sa.column("header_names", berrys.core.db.JSONDocument()),
        sa.column("credentials_encrypted", sa.Text()),
    )
    rows = [row for row in bind.execute(sa.select(table.c.id, table.c.headers)) if row.headers]
    if not rows:
        return
    from berrys.config import Settings  # the key only matters when there is something to encrypt
    from berrys.core.encryption import secret_box

    box = secret_box(Settings())
    for row in rows:
        sealed = box.encrypt(json.dumps({"headers": row.headers, "bearer_token": None}))
        bind.execute(
            table.update()
            .where(table.c.id == row.id)
            .values(header_names=sorted(row.headers), credentials_encrypted=sealed)
        )


def downgrade() -> None:
    with op.batch_alter_table("mcp_server", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("headers", berrys.core.db.JSONDocument(), nullable=False, server_default="{}")
        )
        batch_op.drop_column("header_names")
        batch_op.drop_column("credentials_encrypted")
