"""The SQLite units of work: what commits, what rolls back, what a reader sees."""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    MetaData,
    String,
    Table,
    Uuid,
    insert,
    select,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.exc import IntegrityError

from berrys.core import sqlite
from berrys.core.db import Database, JSONDocument, UTCDateTime


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'units.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


async def names(db: Database) -> list[str]:
    async with db.transaction(read_only=True) as session:
        return list((await session.scalars(text("SELECT name FROM item ORDER BY id"))).all())


async def insert_twice(db: Database, name: str) -> None:
    async with db.transaction() as session:
        for _ in range(2):
            await session.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": name})


async def test_a_failed_unit_of_work_leaves_nothing(db: Database) -> None:
    with pytest.raises(IntegrityError):
        await insert_twice(db, "a")
    assert await names(db) == []


async def test_many_rows_rowcount_and_last_id_come_back(db: Database) -> None:
    async with db.transaction() as session:
        inserted = await session.execute(
            text("INSERT INTO item (name) VALUES (:name)"), [{"name": n} for n in "xyz"]
        )
        assert inserted.rowcount == 3
        single = await session.execute(text("INSERT INTO item (name) VALUES ('w')"))
        assert single.lastrowid == 4
        updated = await session.execute(text("UPDATE item SET name = name || '!' WHERE id < 3"))
        assert updated.rowcount == 2
    assert await names(db) == ["x!", "y!", "z", "w"]


async def test_an_empty_unit_of_work_commits_and_the_connection_is_reusable(
    db: Database,
) -> None:
    for _ in range(3):
        async with db.transaction():
            pass
        async with db.transaction(read_only=True):
            pass
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO item (name) VALUES ('after')"))
    assert await names(db) == ["after"]


async def test_writers_queue_instead_of_losing_updates(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO item (id, name) VALUES (1, '0')"))

    async def increment() -> None:
        async with db.transaction() as session:
            value = (await session.execute(text("SELECT name FROM item WHERE id = 1"))).scalar_one()
            await asyncio.sleep(0)  # let the other writers reach their first statement
            await session.execute(
                text("UPDATE item SET name = :value WHERE id = 1"), {"value": str(int(value) + 1)}
            )

    await asyncio.gather(*(increment() for _ in range(20)))
    assert await names(db) == ["20"]


async def test_a_reader_keeps_its_snapshot_while_a_writer_commits(db: Database) -> None:
    async with db.transaction(read_only=True) as reader:
        before = (await reader.execute(text("SELECT count(*) FROM item"))).scalar_one()
        async with db.transaction() as writer:
            await writer.execute(text("INSERT INTO item (name) VALUES ('new')"))
        after = (await reader.execute(text("SELECT count(*) FROM item"))).scalar_one()
    assert before == after == 0
    assert await names(db) == ["new"]


async def test_a_long_write_transaction_lets_the_event_loop_serve_others(db: Database) -> None:
    """Its statements run in the loop's thread; past a slice of that, others get a turn."""
    turns = 0

    async def someone_else() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(someone_else())
    insert = text("INSERT INTO item (name) VALUES (:name)")
    async with db.transaction() as session:
        await session.execute(insert, {"name": "first"})  # BEGIN IMMEDIATE: the lock is ours
        before, started, count = turns, time.perf_counter(), 0
        while time.perf_counter() - started < 10 * sqlite.SLICE:
            count += 1
            await session.execute(insert, {"name": f"row {count}"})
        during = turns - before
    other.cancel()
    assert during >= 1  # none at all when statements ran back to back
    assert len(await names(db)) == count + 1


async def test_a_single_statement_write_commits_and_a_failed_one_leaves_nothing(
    db: Database,
) -> None:
    insert = text("INSERT INTO item (name) VALUES (:name)")
    await db.write(insert, {"name": "logged"})
    with pytest.raises(IntegrityError):
        await db.write(insert, {"name": "logged"})
    await db.write(insert, {"name": "next"})
    assert await names(db) == ["logged", "next"]


async def test_single_statement_writes_interleave_with_transactions(db: Database) -> None:
    insert = text("INSERT INTO item (name) VALUES (:name)")

    async def in_transaction(index: int) -> None:
        async with db.transaction() as session:
            await session.execute(insert, {"name": f"t{index}"})

    await asyncio.gather(
        *(db.write(insert, {"name": f"w{i}"}) for i in range(10)),
        *(in_transaction(i) for i in range(10)),
    )
    assert sorted(await names(db)) == sorted(
        [f"w{i}" for i in range(10)] + [f"t{i}" for i in range(10)]
    )


async def test_a_single_statement_write_waits_for_the_write_lock_off_the_event_loop(
    db: Database,
) -> None:
    insert = text("INSERT INTO item (name) VALUES (:name)")
    async with db.transaction() as session:
        await session.execute(insert, {"name": "first"})  # holds SQLite's write lock
        waiting = asyncio.create_task(db.write(insert, {"name": "second"}))
        # The loop keeps serving while the write waits for the lock: a reader completes.
        assert await names(db) == []
        assert not waiting.done()
    await asyncio.wait_for(waiting, 10)
    assert await names(db) == ["first", "second"]


class _Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


_metadata = MetaData()
_typed = Table(
    "typed",
    _metadata,
    Column("id", Uuid, primary_key=True),
    Column("at", UTCDateTime),
    Column("colour", SAEnum(_Colour)),
    Column("doc", JSONDocument),
    Column("flag", Boolean),
    Column("score", Float),
    Column("note", String, nullable=True),
    Column("made", String, default=lambda: "by default"),
)


async def test_a_single_statement_write_stores_values_as_a_transaction_does(tmp_path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'typed.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(_metadata.create_all)
        at = datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=UTC)
        values = {
            "at": at,
            "colour": _Colour.BLUE,
            "doc": {"k": [1, "two", None]},
            "flag": True,
            "score": 2.5,
            "note": None,
            "made": "given",
        }
        written, committed = uuid.uuid4(), uuid.uuid4()
        await database.write(insert(_typed), {"id": written, **values})
        async with database.transaction() as session:
            await session.execute(insert(_typed), {"id": committed, **values})
        # A column left to its Python-side default still gets it.
        defaulted = uuid.uuid4()
        await database.write(insert(_typed), {"id": defaulted})
        async with database.transaction(read_only=True) as session:
            raw = {
                row[0]: row[1:]
                for row in await session.execute(
                    text("SELECT id, at, colour, doc, flag, score, note, made FROM typed")
                )
            }
            made = (
                await session.execute(select(_typed.c.made).where(_typed.c.id == defaulted))
            ).scalar_one()
            typed = (await session.execute(select(_typed).where(_typed.c.id == written))).one()
        stored = {key.replace("-", ""): value for key, value in raw.items()}
        assert stored[written.hex] == stored[committed.hex]
        assert made == "by default"
        assert (typed.at, typed.colour, typed.doc, typed.flag) == (
            at,
            _Colour.BLUE,
            {"k": [1, "two", None]},
            True,
        )
    finally:
        await database.dispose()


async def test_single_statement_writes_go_on_while_the_log_is_checkpointed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "_CHECKPOINT_EVERY", 3)
    insert = text("INSERT INTO item (name) VALUES (:name)")
    for index in range(20):
        await db.write(insert, {"name": f"w{index}"})
    assert await names(db) == [f"w{index}" for index in range(20)]
