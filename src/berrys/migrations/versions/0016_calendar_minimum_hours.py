"""planning: working calendars of under half an hour a day are raised to half an hour

Plans now refuse calendars below 0.5 working hours a day (a 0.05-hour day made every schedule
walk years of days on the event loop). A plan stored before with a smaller value would no
longer read back, so its calendar is raised to the new minimum, the one change that keeps it
readable; nothing else in the plan moves.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from berrys.core.db import JSONDocument

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MINIMUM = 0.5
plan = sa.table("plan", sa.column("id", sa.Uuid()), sa.column("calendar", JSONDocument()))


def upgrade() -> None:
    raise_short_days(op.get_bind())


def raise_short_days(connection: sa.Connection) -> None:
    for row in connection.execute(sa.select(plan.c.id, plan.c.calendar)).all():
        hours = (row.calendar or {}).get("hours_per_day")
        if isinstance(hours, int | float) and hours < MINIMUM:
            calendar = {**row.calendar, "hours_per_day": MINIMUM}
            connection.execute(plan.update().where(plan.c.id == row.id).values(calendar=calendar))


def downgrade() -> None:
    """Nothing to undo: the smaller values are not kept."""
