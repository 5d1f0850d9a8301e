"""The tables in code and the migration history must describe the same schema."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from berrys.core import migrate
from berrys.tables import metadata


async def test_migrations_match_the_models(database):
    def _diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    assert differences == [], (
        f"run `berrys db revision`: models and migrations differ: {differences}"
    )


async def test_one_linear_history_and_the_database_at_its_head(database):
    assert len(migrate.head_revisions()) == 1, "merge the Alembic heads into one"
    assert await migrate.current_revisions(database) == migrate.head_revisions()


async def test_table_names_are_singular_and_no_reserved_column_names(database):
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert set(metadata.tables) <= set(names)
    for table in metadata.tables.values():
        assert not table.name.endswith("s") or table.name.endswith("ss"), table.name
        assert not {"metadata", "query", "session"} & set(table.columns.keys()), table.name


async def test_a_plan_stored_with_a_day_shorter_than_now_allowed_reads_back(
    client, member, database
):
    """Migration 0016 raises calendars below the new minimum, so old plans stay readable."""
    versions = Path(migrate.__file__).parents[1] / "migrations" / "versions"
    spec = importlib.util.spec_from_file_location(
        "calendar_minimum_hours", versions / "0016_calendar_minimum_hours.py"
    )
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    project = await client.post("/api/v1/projects", json={"name": "Old"}, headers=member.headers)
    made = await client.post(
        f"/api/v1/projects/{project.json()['id']}/plans",
        json={"generate": False},
        headers=member.headers,
    )
    plan_id = uuid.UUID(made.json()["id"])
    async with database.engine.begin() as connection:
        await connection.execute(
            migration.plan.update()
            .where(migration.plan.c.id == plan_id)
            .values(calendar={"hours_per_day": 0.05})
        )
        await connection.run_sync(migration.raise_short_days)
    read = await client.get(f"/api/v1/plans/{plan_id}", headers=member.headers)
    assert read.status_code == 200, read.text
    assert read.json()["calendar"]["hours_per_day"] == 0.5
