"""Database plumbing: the declarative Base, column types, the async engine and sessions.

Services never commit: a unit of work (one request, one CLI command, one engine tick) opens
a transaction with :meth:`Database.transaction`; everything inside commits or rolls back
together. On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` (writers queue on the
busy timeout instead of failing to upgrade a read snapshot), a read-only one with a deferred
``BEGIN`` that never blocks writers (WAL). A single-statement write (:meth:`Database.write`)
has a faster path of its own on SQLite (``core.sqlite.StatementWriter``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    Select,
    Table,
    event,
    func,
    make_url,
    select,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from berrys.core.errors import DatabaseUnavailable, database_unreachable
from berrys.core.sqlite import OneHopDBAPI, StatementWriter, WriteStatement, configure_connection

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_READ_ONLY = "berrys_read_only"
_STATEMENT_READS = "berrys_statement_reads"  # ``Database.reads``: no transaction around
T = TypeVar("T")
# Waiting for a database that restarts: the first retry soon, then doubling up to this.
OUTAGE_FIRST_RETRY_SECONDS = 0.05
OUTAGE_MAX_RETRY_SECONDS = 1.0
# A pooled PostgreSQL connection given back longer ago than this is pinged before it is used
# again. One in steady use is not: a ping is three round trips (BEGIN, a query, ROLLBACK),
# which doubled the worker's transactions, and a connection broken meanwhile fails its first
# statement, whose disconnect error recycles the whole pool (callers retry an outage).
PING_AFTER_IDLE_SECONDS = 1.0
_GIVEN_BACK = "berrys_given_back"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONDocument(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL."""

    impl = JSON()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def enum_column(enum: type[Enum]) -> SAEnum:
    """A portable enum column: VARCHAR of the UPPERCASE values, validated on write."""
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        validate_strings=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    # Every mapping is one Table (SQLAlchemy types it as any FromClause).
    __table__: ClassVar[Table]
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument(),
        list[Any]: JSONDocument(),
    }


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _refuse_writes_in_reads(
    connection: Any, _cursor: Any, _statement: Any, _parameters: Any, context: Any, _many: Any
) -> None:
    """``Database.reads`` writes nothing: on PostgreSQL each of its statements would commit
    by itself."""
    if (
        context is not None
        and (context.isinsert or context.isupdate or context.isdelete)
        and connection.get_execution_options().get(_STATEMENT_READS, False)
    ):
        raise ReadOnlyViolation(context.statement.split(None, 1)[0])


class ReadOnlyViolation(RuntimeError):
    """A write inside ``Database.reads``."""


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "connect", configure_connection)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.connection.dbapi_connection.defer_begin(
            "BEGIN" if read_only else "BEGIN IMMEDIATE"
        )


def _configure_server(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        # The driver raises a bare OSError when the server refuses or drops the connection
        # (down, restarting): say what it means, so that callers can wait for it.
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:
            raise DatabaseUnavailable() from exc

    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_writes_in_reads)
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _given_back(_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_GIVEN_BACK] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_when_idle(connection: Any, record: Any, _proxy: Any) -> None:
        given_back = record.info.get(_GIVEN_BACK)
        if given_back is None or time.monotonic() - given_back < PING_AFTER_IDLE_SECONDS:
            return  # fresh from connect, or in steady use
        try:
            engine.dialect.do_ping(connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, connection, None):
                # The pool drops this connection and checks out another (up to 3 times).
                raise DisconnectionError() from exc
            raise


async def fetch_page(
    session: AsyncSession, statement: Select[Any], *, limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of ``statement``'s rows and the number of rows the whole statement gives."""
    total = (
        await session.execute(select(func.count()).select_from(statement.order_by(None).subquery()))
    ).scalar_one()
    rows = await session.scalars(statement.limit(limit).offset(offset))
    return list(rows), total


class Database:
    """One engine per process, and the units of work built on it."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        path = make_url(url).database
        on_file = self.is_sqlite and bool(path) and path != ":memory:"
        options: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            options.update(module=OneHopDBAPI())
        if on_file or not self.is_sqlite:
            # Connections kept open for a server's concurrent requests and its worker's tasks:
            # an overflow connection is closed as soon as it is given back, and opening one
            # (a thread and PRAGMAs for SQLite; a login, type introspection and cold statement
            # cache for PostgreSQL) cost tens of ms per burst of requests under load.
            options.update(pool_size=20, max_overflow=10)
        self.engine = create_async_engine(url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _configure_server(self.engine)
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False)
        reading = self.engine.execution_options(**{_READ_ONLY: True})
        self._reader = async_sessionmaker(reading, expire_on_commit=False)
        # At READ COMMITTED each statement reads a snapshot of its own, inside a transaction
        # or not: independent reads need no BEGIN and COMMIT on PostgreSQL (two round trips).
        self._statement_reader = (
            self._reader
            if self.is_sqlite
            else async_sessionmaker(
                reading.execution_options(isolation_level="AUTOCOMMIT", **{_STATEMENT_READS: True}),
                expire_on_commit=False,
            )
        )
        # A second connection sees the same data only when the database is a file.
        self._statement_writer = (
            StatementWriter(self.engine.dialect, path) if on_file and path else None
        )
        # An asyncio lock belongs to one event loop: one queue per loop using this database.
        self._write_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def write_queue(self) -> asyncio.Lock:
        """The running event loop's queue for writers of this database: on SQLite, waiting
        here for one another costs nothing, while SQLite's own busy handler sleeps in steps
        of milliseconds when two connections want the write lock at once."""
        loop = asyncio.get_running_loop()
        queue = self._write_queues.get(loop)
        if queue is None:
            queue = self._write_queues[loop] = asyncio.Lock()
        return queue

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error."""
        factory = self._reader if read_only else self._writer
        async with factory() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncSession]:
        """A session for reads that need no common snapshot, for hot paths: on PostgreSQL
        outside any transaction (each statement sees what is committed when it runs; no
        streamed results), on SQLite a read-only transaction."""
        async with self._statement_reader() as session, session.begin():
            yield session

    async def write(self, statement: WriteStatement, parameters: Any = None) -> None:
        """Commit one statement that is a whole unit of work by itself (an append to a log).

        One statement is atomic on every backend. On SQLite it is committed in the event
        loop's thread when it can take the write lock at once (``StatementWriter``), and
        otherwise goes through the engine like any transaction. Triggers fire inside the
        statement's own transaction.
        """
        if self._statement_writer is not None and self._statement_writer.write(
            statement, parameters
        ):
            return
        async with self.engine.begin() as connection:
            await connection.execute(statement, parameters)

    async def reachable(self) -> bool:
        """Whether the database answers now (a fresh look: a connection and ``SELECT 1``)."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def outage(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the database being away (a restart, a network cut) rather than
        a statement that failed: the error says so, or it is a database error and the
        database does not answer now either (a connection ended mid-statement can fail in
        ways the driver does not name)."""
        if database_unreachable(exc):
            return True
        return isinstance(exc, DBAPIError) and not self.is_sqlite and not await self.reachable()

    async def when_reachable(self, unit: Callable[[], Awaitable[T]], *, within: float = 30.0) -> T:
        """``unit()``, a unit of work of its own, run again while the database is away, for
        up to ``within`` seconds; after that, or on any other error, the error.

        For work that must not be lost to a restart (what a model answered). A connection
        lost in the very instant of a COMMIT leaves it unknown whether the unit committed;
        it is run again then, so in that rare case its rows may be written twice.
        """
        deadline = time.monotonic() + within
        delay = OUTAGE_FIRST_RETRY_SECONDS
        while True:
            try:
                return await unit()
            except Exception as exc:
                if time.monotonic() + delay > deadline or not await self.outage(exc):
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, OUTAGE_MAX_RETRY_SECONDS)

    async def dispose(self) -> None:
        if self._statement_writer is not None:
            await self._statement_writer.close()
        await self.engine.dispose()
