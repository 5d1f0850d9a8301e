"""SQLite plumbing: aiosqlite with one thread hop per statement, and fast single writes.

Each statement runs with its description, rows, row count and last row id collected in one
call on aiosqlite's thread (SQLAlchemy's adapter makes four hops), and the pool's rollback
on check-in is skipped when no transaction is open: same driver, same semantics. Inside a
write transaction, once ``BEGIN IMMEDIATE`` holds the write lock, statements run in the
event loop's thread (none can wait for a lock under WAL), yielding to the loop every
``SLICE`` seconds; ``COMMIT`` and ``ROLLBACK`` go back to the thread. docs/architecture.md
gives the measurements.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
import structlog
from sqlalchemy import TextClause, UpdateBase
from sqlalchemy.connectors.asyncio import AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import EMPTY_DICT

_Outcome = tuple[Any, list[Any], int, int | None]
# One statement that writes by itself: DML (an insert, an upsert, ...) or plain SQL.
WriteStatement = UpdateBase | TextClause
SLICE = 0.005  # seconds a write transaction runs in the loop's thread before it yields
_log = structlog.get_logger("berrys.db")


def configure_connection(dbapi_connection: Any, _record: Any) -> None:
    """Every connection to an SQLite file: WAL, NORMAL sync, foreign keys, busy timeout."""
    # Let SQLAlchemy, not the driver, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _run(
    connection: sqlite3.Connection, begin: str | None, operation: str, parameters: Any
) -> _Outcome:
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(
    connection: sqlite3.Connection, begin: str | None, operation: str, parameters: Sequence[Any]
) -> _Outcome:
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        cursor.executemany(operation, parameters)
        return cursor.description, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose results arrive in one hop; no aiosqlite cursor behind it."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _adapt_connection: _OneHopConnection

    def __init__(self, adapt_connection: _OneHopConnection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    # sqlite3's lastrowid is None until a row is inserted; SQLAlchemy's adapter says int.
    @property
    def lastrowid(self) -> int | None:  # type: ignore[override]
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def _store(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        if self._adapt_connection.holds_write_lock():
            await self._adapt_connection.take_turns()
            parameters = () if parameters is None else parameters
            self._store(_run(self._connection._conn, None, operation, parameters))
            return
        async with self._adapt_connection._execute_mutex:
            self._store(
                await self._connection._execute(
                    _run,
                    self._connection._conn,
                    self._adapt_connection.take_pending_begin(),
                    operation,
                    () if parameters is None else parameters,
                )
            )
        self._adapt_connection.turn_starts()

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        if self._adapt_connection.holds_write_lock():
            await self._adapt_connection.take_turns()
            self._store(_run_many(self._connection._conn, None, operation, seq_of_parameters))
            return
        async with self._adapt_connection._execute_mutex:
            self._store(
                await self._connection._execute(
                    _run_many,
                    self._connection._conn,
                    self._adapt_connection.take_pending_begin(),
                    operation,
                    seq_of_parameters,
                )
            )
        self._adapt_connection.turn_starts()


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_pending_begin", "_turn_started", "_writing")
    # Built only by this connection (``self._cursor_cls(self)``), so its narrower __init__.
    _cursor_cls = _OneHopCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        self._pending_begin: str | None = None
        self._writing = False  # BEGIN IMMEDIATE was sent
        self._turn_started = 0.0  # when the loop last ran anything else, as far as we know

    async def take_turns(self) -> None:
        """Before a statement in the loop's thread: yield to the loop once this transaction
        has had it for ``SLICE`` seconds (statements back to back do not yield by themselves)."""
        if time.perf_counter() - self._turn_started >= SLICE:
            await asyncio.sleep(0)
            self.turn_starts()

    def turn_starts(self) -> None:
        """The loop has just run other work (a yield, a hop to the driver's thread)."""
        self._turn_started = time.perf_counter()

    def defer_begin(self, statement: str) -> None:
        """Send ``statement`` (``BEGIN ...``) in the same hop as the next statement."""
        self._pending_begin = statement

    def take_pending_begin(self) -> str | None:
        statement, self._pending_begin = self._pending_begin, None
        if statement == "BEGIN IMMEDIATE":
            self._writing = True
        return statement

    def holds_write_lock(self) -> bool:
        """In a write transaction whose BEGIN IMMEDIATE succeeded."""
        return self._writing and self._in_transaction()

    def _in_transaction(self) -> bool:
        connection = self._connection._connection
        return connection is not None and connection.in_transaction

    def commit(self) -> None:
        # Outside a transaction (none began, or one statement ran on its own) SQLite has
        # nothing to commit, and asking its thread to do nothing still costs a hop.
        self._pending_begin = None
        self._writing = False
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back, even right after a commit.
        self._pending_begin = None
        self._writing = False
        if self._in_transaction():
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module to hand ``create_async_engine(..., module=...)`` for SQLite."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> _OneHopConnection:
        # The loop's thread runs a write transaction's statements on it (see above).
        adapted = super().connect(*arg, **{**kw, "check_same_thread": False})
        return _OneHopConnection(self, adapted._connection)


# A compiled statement, and the bind processor (or None) of each of its positional values.
_Plan = tuple[SQLCompiler, list[tuple[str, Callable[[Any], Any] | None]]]
_CHECKPOINT_EVERY = 1000  # writes between two passive checkpoints of the WAL


class StatementWriter:
    """The fast path of ``Database.write`` on an SQLite file: one statement, its own unit
    of work, committed in the event loop's thread when that cannot wait.

    Why: it serves logs written on a latency path, above all a tool call's
    ``tool_execution`` entry, committed before the call returns. Through the async engine
    such an INSERT hands off to aiosqlite's thread and back for connect, execute and close;
    measured right after an MCP call that cost ~0.7-1.1 ms of wall time (each hand-off to
    a sleeping thread waits for the scheduler), while SQLite commits the row in ~0.1 ms.

    How: the statement is compiled once per statement and parameter names with the async
    engine's own dialect and bind processors (the values are stored exactly as through the
    engine) and runs on a ``sqlite3`` connection of its own with no busy timeout: it takes
    the write lock at once or fails at once. :meth:`write` says whether it committed; when
    it did not (the lock is held, a constraint failed, the statement needs Python-side
    defaults or is an executemany) the caller runs it through the engine, where it waits
    for the lock on the driver's thread and errors are SQLAlchemy's. A statement that
    failed left nothing (SQLite's implicit transaction), so running it again is safe.
    Nothing here can block the loop on a lock or a disk sync: this connection never
    checkpoints on commit (a checkpoint syncs the database file); a passive checkpoint runs
    on a worker thread every ``_CHECKPOINT_EVERY`` writes, and the fast path stands aside
    while it does.
    """

    def __init__(self, dialect: Dialect, path: str) -> None:
        self._dialect = dialect
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._plans: dict[tuple[int, tuple[str, ...]], tuple[WriteStatement, _Plan | None]] = {}
        self._since_checkpoint = 0
        self._checkpointing: asyncio.Future[Any] | None = None

    def write(self, statement: WriteStatement, parameters: Any) -> bool:
        """Commit ``statement`` here if it can be done at once; whether it was."""
        if not isinstance(parameters, dict) or self._checkpointing is not None:
            return False
        plan = self._plan(statement, parameters)
        if plan is None:
            return False
        compiled, processors = plan
        try:
            values = compiled.construct_params(parameters)
        except SQLAlchemyError:
            return False  # e.g. a missing value: the engine says so
        row = tuple(
            values[name] if process is None else process(values[name])
            for name, process in processors
        )
        try:
            self._open().execute(compiled.string, row)
        except sqlite3.Error:
            return False
        self._since_checkpoint += 1
        if self._since_checkpoint >= _CHECKPOINT_EVERY:
            self._since_checkpoint = 0
            self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
            self._checkpointing.add_done_callback(self._checkpointed)
        return True

    async def close(self) -> None:
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            # Opening takes no lock; the file's WAL mode is the engine's connections' doing.
            connection = sqlite3.connect(
                self._path, timeout=0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._connection = connection
        return self._connection

    def _plan(self, statement: WriteStatement, parameters: dict[str, Any]) -> _Plan | None:
        key = (id(statement), tuple(parameters))
        cached = self._plans.get(key)
        if cached is not None and cached[0] is statement:
            return cached[1]
        compiled = statement.compile(dialect=self._dialect, column_keys=list(parameters))
        plan: _Plan | None = None
        if (
            isinstance(compiled, SQLCompiler)
            and compiled.positiontup is not None
            and not compiled.insert_prefetch
            and not compiled.update_prefetch
            and not compiled.post_compile_params
        ):
            dialect = self._dialect
            plan = (
                compiled,
                [
                    (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                    for name in compiled.positiontup
                ],
            )
        if len(self._plans) >= 256:
            self._plans.clear()
        self._plans[key] = (statement, plan)
        return plan

    def _checkpoint(self) -> None:
        assert self._connection is not None
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()

    def _checkpointed(self, future: asyncio.Future[Any]) -> None:
        self._checkpointing = None
        if not future.cancelled() and future.exception() is not None:
            _log.warning("sqlite.checkpoint_failed", error=repr(future.exception()))
