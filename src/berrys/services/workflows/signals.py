"""In-process wake-ups: a change that makes work runnable wakes the local workers at once.

Workers in other processes notice on their next poll (a fraction of a second).
"""

from __future__ import annotations

import asyncio
import weakref
from contextlib import suppress


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
