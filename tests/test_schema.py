"""The tables in code and the migration history must describe the same schema."""

from __future__ import annotations

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
