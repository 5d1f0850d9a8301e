"""tools: the database counts a tool's uses from its execution log (a trigger)

A call that ran (SUCCESS, ERROR or TIMEOUT) adds one to ``tool.usage_count`` and sets
``tool.last_used_at`` inside the INSERT of its ``tool_execution`` entry: the log and the
counter cannot disagree, and a governed call commits one statement instead of two.
Refusals (DENIED, INVALID, APPROVAL_REQUIRED) are logged and not counted. ``updated_at``
is left alone: a use is not an edit of the tool.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 13:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTED = "NEW.tool_id IS NOT NULL AND NEW.outcome IN ('SUCCESS', 'ERROR', 'TIMEOUT')"
_COUNT = (
    "UPDATE tool SET usage_count = usage_count + 1, last_used_at = NEW.created_at "
    "WHERE id = NEW.tool_id;"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION tool_execution_count_use() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_COUNT} RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER tool_execution_count_use AFTER INSERT ON tool_execution "
            f"FOR EACH ROW WHEN ({_COUNTED}) EXECUTE FUNCTION tool_execution_count_use()"
        )
    else:
        op.execute(
            "CREATE TRIGGER tool_execution_count_use AFTER INSERT ON tool_execution "
            f"WHEN {_COUNTED} BEGIN {_COUNT} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tool_execution_count_use ON tool_execution")
        op.execute("DROP FUNCTION tool_execution_count_use()")
    else:
        op.execute("DROP TRIGGER tool_execution_count_use")
