"""aiosqlite for SQLAlchemy with one thread hop per statement.

SQLAlchemy's aiosqlite adapter drives aiosqlite's cursor API, so every statement costs four
round trips to the connection's thread (open a cursor, execute, fetch, close), and the pool
rolls back on every check-in even after a commit. Each round trip is a queue hand-off and
an event-loop wake-up, about 50 µs of CPU here, while SQLite itself answers a primary-key
read in a few microseconds. This adapter runs a statement and collects its description,
rows, row count and last row id in one call on aiosqlite's thread (the same
``Connection._execute`` that aiosqlite's own ``execute_fetchall`` uses), and skips the
rollback when SQLite says no transaction is open. Same driver, same connection, same
semantics; a quarter of the hand-offs.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

_Outcome = tuple[Any, list[Any], int, int | None]


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

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
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

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
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


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_pending_begin",)
    _cursor_cls = _OneHopCursor

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection) -> None:
        super().__init__(dbapi, connection)
        self._pending_begin: str | None = None

    def defer_begin(self, statement: str) -> None:
        """Send ``statement`` (``BEGIN ...``) in the same hop as the next statement."""
        self._pending_begin = statement

    def take_pending_begin(self) -> str | None:
        statement, self._pending_begin = self._pending_begin, None
        return statement

    def _in_transaction(self) -> bool:
        connection = self._connection._connection
        return connection is not None and connection.in_transaction

    def commit(self) -> None:
        # Outside a transaction (none began, or one statement ran on its own) SQLite has
        # nothing to commit, and asking its thread to do nothing still costs a hop.
        self._pending_begin = None
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back, even right after a commit.
        self._pending_begin = None
        if self._in_transaction():
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module to hand ``create_async_engine(..., module=...)`` for SQLite."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> _OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return _OneHopConnection(self, adapted._connection)
