"""The PostgreSQL units of work: reads outside a transaction, and pooled connections pinged
only after idling.

PostgreSQL only (``BERRYS_TEST_DATABASE_URL``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import DBAPIError
from tests.conftest import TEST_DATABASE_URL

from berrys.core import db as core_db
from berrys.core.db import Database, ReadOnlyViolation

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="PostgreSQL units of work: set BERRYS_TEST_DATABASE_URL",
)
_item = Table("uow_item", MetaData(), Column("id", Integer, primary_key=True))
_STARTED = text("SELECT transaction_timestamp()")
_BACKEND = text("SELECT pg_backend_pid()")


@pytest.fixture
async def postgres(database: Database) -> AsyncIterator[Database]:
    """A Database of its own (one pooled connection, used in turn) with a table."""
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE uow_item (id INTEGER PRIMARY KEY)"))
    own = Database(database.url)
    yield own
    await own.dispose()
    async with database.transaction() as session:
        await session.execute(text("DROP TABLE uow_item"))


async def test_reads_run_each_statement_in_a_transaction_of_its_own(postgres: Database) -> None:
    async with postgres.reads() as session:
        first = (await session.execute(_STARTED)).scalar_one()
        second = (await session.execute(_STARTED)).scalar_one()
    assert first != second  # no BEGIN around them
    async with postgres.transaction(read_only=True) as session:
        first = (await session.execute(_STARTED)).scalar_one()
        second = (await session.execute(_STARTED)).scalar_one()
    assert first == second


async def test_reads_refuse_a_write_which_would_commit_by_itself(postgres: Database) -> None:
    with pytest.raises(ReadOnlyViolation):
        async with postgres.reads() as session:
            await session.execute(insert(_item).values(id=1))
    async with postgres.transaction(read_only=True) as session:
        assert (await session.execute(select(_item))).all() == []


async def _terminate_pooled_connection(database: Database) -> int:
    """End the backend of ``database``'s one pooled connection; its pid."""
    async with database.reads() as session:
        pid = int((await session.execute(_BACKEND)).scalar_one())
    other = Database(database.url)
    try:
        async with other.transaction() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()
    return pid


async def test_an_idle_connection_is_pinged_and_replaced_when_dead(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout is idle
    ended = await _terminate_pooled_connection(postgres)
    async with postgres.reads() as session:
        assert (await session.execute(_BACKEND)).scalar_one() != ended


async def test_a_connection_in_steady_use_is_not_pinged_and_the_pool_recovers(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # never idle enough
    ended = await _terminate_pooled_connection(postgres)
    # Unpinged, the dead connection fails its first statement (an outage, which callers
    # retry); that error recycles the pool, so the next unit of work gets a live one.
    with pytest.raises(DBAPIError) as failed:
        async with postgres.reads() as session:
            await session.execute(_BACKEND)
    assert failed.value.connection_invalidated
    async with postgres.reads() as session:
        assert (await session.execute(_BACKEND)).scalar_one() != ended
