"""A PostgreSQL restart as the clients of one database see it, without restarting the
server that other test runs share.

A restart (``pg_ctlcluster ... restart``, fast mode) does two things to a client: every
connection is ended with ``FATAL 57P01 terminating connection due to administrator
command``, and until the server is up again a new connection is refused (``57P03 the
database system is starting up`` or a refused TCP connect). :class:`RestartingPostgres` does
both for a database of its own: Berrys connects through a TCP proxy; :meth:`go_down` has
the real server terminate every backend of that database (``pg_terminate_backend``: the
same FATAL a restart sends) and makes the proxy answer each new connection as a server that
is starting up; :meth:`come_up` lets connections through again. :meth:`partition` cuts
only the proxy's clients off (their connections dropped, new ones refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_STARTING_UP = b"".join(
    [
        b"SFATAL\0",
        b"VFATAL\0",
        b"C57P03\0",
        b"Mthe database system is starting up\0",
        b"\0",
    ]
)


class RestartingPostgres:
    """A proxy to the real server for one database, which the test restarts."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.down = False
        self.partitioned = False
        self.refused = 0  # connections answered "starting up" while down
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def proxied_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return self.url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        for pipe in list(self._pipes):
            with contextlib.suppress(BaseException):
                await pipe

    async def go_down(self) -> int:
        """Refuse new connections and end every backend of the database; how many ended."""
        self.down = True
        # Autocommit: each look at pg_stat_activity is a fresh one (a transaction keeps one).
        admin = create_async_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as connection, asyncio.timeout(30):
                ended = first = await _terminate_others(connection)
                while ended:  # until every backend is gone (and its FATAL sent)
                    ended = await _terminate_others(connection)
        finally:
            await admin.dispose()
        # A connection still opening had no backend to end yet: a restart cuts it too.
        for pipe in list(self._pipes):
            pipe.cancel()
        return first

    def come_up(self) -> None:
        self.down = False
        self.partitioned = False

    def partition(self) -> None:
        """Cut the network between the proxy's clients and the server: every connection
        through it is dropped and new ones are refused, until :meth:`come_up`. The server
        and everyone else's connections carry on."""
        self.partitioned = True
        for pipe in list(self._pipes):
            pipe.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.partitioned:
            self.refused += 1
            writer.close()
            return
        if self.down:
            self.refused += 1
            await _answer_starting_up(reader, writer)
            return
        host, port = self.url.host or "127.0.0.1", self.url.port or 5432
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        for source, target in ((reader, upstream_writer), (upstream_reader, writer)):
            pipe = asyncio.create_task(_pipe(source, target))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)


async def _terminate_others(connection: Any) -> int:
    """End the other backends of the connection's database; how many there were."""
    ended = await connection.execute(
        text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )
    return int(ended.scalar_one())


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            target.write(data)
            await target.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        target.close()


async def _answer_starting_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What the postmaster answers a client while it starts: no TLS, then 57P03."""
    try:
        while True:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            await reader.readexactly(length - 8)
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                writer.write(b"N")
                continue
            break
        writer.write(b"E" + struct.pack("!i", len(_STARTING_UP) + 4) + _STARTING_UP)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``server_url``; dropped afterwards."""
    name = f"berrys_fault_{uuid.uuid4().hex[:10]}"
    base = make_url(server_url)
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
