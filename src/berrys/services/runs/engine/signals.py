"""In-process wake-ups: a change that makes work runnable wakes the local workers at once.

Workers in other processes notice on their next poll (a fraction of a second).
"""

from __future__ import annotations

import asyncio
import weakref
from contextlib import suppress
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession


class Waker:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def set(self) -> None:
        if self.loop.is_closed():
            return
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)


_wakers: weakref.WeakSet[Waker] = weakref.WeakSet()


def register(waker: Waker) -> None:
    _wakers.add(waker)


def wake() -> None:
    for waker in list(_wakers):
        waker.set()


def wake_after_commit(session: AsyncSession) -> None:
    """Wake the local workers once ``session`` commits (it must be the one that commits):
    woken before, a worker's claim waits for the write lock on a change it cannot see yet,
    on SQLite in the busy handler's sleeps of up to 50 ms."""
    event.listen(session.sync_session, "after_commit", _wake_on_commit, once=True)


def _wake_on_commit(_: Any) -> None:
    wake()
