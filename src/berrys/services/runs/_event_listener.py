"""When an SSE stream of a run reads its outbox again. On PostgreSQL, one connection per
process LISTENs on ``RUN_EVENTS_CHANNEL`` and wakes the streams of the run a notification
names, in every server process (replica) on the database; a slow poll covers a missed
notification and the time the connection is down. On SQLite (one process) a stream polls.
The outbox stays the source of truth: a wake-up only says "read again"; ``follow_outbox`` is
the reading loop every stream of a run (SSE, AG-UI, the dashboard's page) shares."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from sqlalchemy import make_url

from berrys.core.db import Database
from berrys.services.runs._control import get_status
from berrys.services.runs.contracts import RunStatus
from berrys.services.runs.engine.events import RUN_EVENTS_CHANNEL, read

_log = structlog.get_logger("berrys.runs.events")

# How the connection shows in pg_stat_activity (an operator's way to find it).
APPLICATION_NAME = "berrys-run-events"
# A stream with nothing to send for this long sends a keep-alive (proxies close idle ones).
KEEPALIVE_SECONDS = 15.0


class EventSubscription:
    """One stream's wake-ups for one run; ``seen_seq`` is the last event it has sent."""

    def __init__(self, listener: RunEventListener, run_id: uuid.UUID, seen_seq: int) -> None:
        self.run_id = run_id
        self.seen_seq = seen_seq
        self._listener = listener
        self._woken = asyncio.Event()

    def wake(self, seq: int | None = None) -> None:
        """Wake the stream, unless ``seq`` says it has already sent everything up to it."""
        if seq is None or seq > self.seen_seq:
            self._woken.set()

    async def wait(self) -> None:
        """Until woken, or the poll interval (the fallback) has passed; then read again."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._listener.poll_seconds):
                await self._woken.wait()
        # Cleared before the caller reads: a notification during the read wakes the next wait.
        self._woken.clear()


class RunEventListener:
    """The process's LISTEN connection and the streams waiting on it, by run."""

    def __init__(
        self,
        database: Database,
        *,
        fallback_seconds: float = 2.0,
        unlistened_poll_seconds: float = 0.1,
        health_seconds: float = 10.0,
    ) -> None:
        self._url = None if database.is_sqlite else database.url
        self.fallback_seconds = fallback_seconds
        self.unlistened_poll_seconds = unlistened_poll_seconds
        self.health_seconds = health_seconds
        self.listening = False
        self.connections = 0  # LISTEN connections opened, reconnections included
        self._subscriptions: dict[uuid.UUID, set[EventSubscription]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def poll_seconds(self) -> float:
        """How long a stream waits without a wake-up: long while notifications come."""
        return self.fallback_seconds if self.listening else self.unlistened_poll_seconds

    async def start(self) -> None:
        """Start listening (PostgreSQL only; on SQLite the streams poll)."""
        if self._url is not None and self._task is None:
            self._task = asyncio.create_task(self._listen_forever(self._url))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.contextmanager
    def subscribe(self, run_id: uuid.UUID, *, after_seq: int) -> Iterator[EventSubscription]:
        subscription = EventSubscription(self, run_id, after_seq)
        self._subscriptions.setdefault(run_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            waiting = self._subscriptions[run_id]
            waiting.discard(subscription)
            if not waiting:
                del self._subscriptions[run_id]

    def wake_all(self) -> None:
        """Every stream reads again (what was committed while nobody listened)."""
        for waiting in self._subscriptions.values():
            for subscription in waiting:
                subscription.wake()

    def _on_notification(
        self, _connection: object, _pid: int, _channel: str, payload: object
    ) -> None:
        run_id, _, seq = str(payload).partition(" ")
        try:
            waiting = self._subscriptions.get(uuid.UUID(run_id), ())
            last_seq = int(seq)
        except ValueError:  # not ours: someone else's NOTIFY on the channel
            _log.warning("run_events.foreign_notification", payload=str(payload)[:200])
            return
        for subscription in waiting:
            subscription.wake(last_seq)

    async def _listen_forever(self, url: str) -> None:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        retry_seconds = 0.5
        while True:
            try:
                connection = await asyncpg.connect(
                    dsn, server_settings={"application_name": APPLICATION_NAME}
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _log.warning("run_events.connect_failed", error=str(exc), retry_in=retry_seconds)
                # Back off before trying again: the database is down or refusing.
                await asyncio.sleep(retry_seconds)
                retry_seconds = min(retry_seconds * 2, 5.0)
                continue
            retry_seconds = 0.5
            try:
                await self._listen(connection)
            finally:
                self.listening = False
                connection.terminate()
            _log.warning("run_events.listener_lost", detail="reconnecting; streams poll meanwhile")
            self.wake_all()

    async def _listen(self, connection: asyncpg.Connection) -> None:
        """Until the connection ends (or stops answering its health check)."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(RUN_EVENTS_CHANNEL, self._on_notification)
        self.connections += 1
        self.listening = True
        _log.info("run_events.listening", channel=RUN_EVENTS_CHANNEL)
        self.wake_all()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.health_seconds):
                    await lost.wait()
            if lost.is_set():
                return
            try:
                async with asyncio.timeout(self.health_seconds):
                    await connection.execute("SELECT 1")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return


@dataclass(frozen=True, slots=True)
class OutboxRead:
    """One read of a run's outbox: its new events, oldest first; when there were none, the
    run's status, and ``quiet`` once nothing came for ``KEEPALIVE_SECONDS``."""

    events: list[dict[str, Any]] = field(default_factory=list)
    status: RunStatus | None = None
    quiet: bool = False


async def follow_outbox(
    database: Database,
    subscription: EventSubscription,
    *,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[OutboxRead]:
    """Every read of the run's outbox after ``subscription.seen_seq``, read again each time
    the subscription wakes, until the caller stops or the client has ``disconnected``. A
    stream decides from each read what to send, and when it is done."""
    quiet_since = time.monotonic()
    while True:
        async with database.transaction(read_only=True) as session:
            run_id = subscription.run_id
            events = await read(session, run_id=run_id, after_seq=subscription.seen_seq)
            status = None if events else await get_status(session, run_id=run_id)
        if events:
            subscription.seen_seq = events[-1]["seq"]
            quiet_since = time.monotonic()
            yield OutboxRead(events)
            continue
        quiet = time.monotonic() - quiet_since > KEEPALIVE_SECONDS
        if quiet:
            quiet_since = time.monotonic()
        yield OutboxRead(status=status, quiet=quiet)
        if await disconnected():
            return
        await subscription.wait()
