"""Alembic environment: always handed a live connection by ``berrys.core.migrate``."""

from __future__ import annotations

from alembic import context

from berrys.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations through `berrys db upgrade` (it supplies the connection).")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
