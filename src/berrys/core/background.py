"""Work that outlives the request that started it (a chat reply runs to its end when its
client goes away). The application's ``Services`` holds one ``Background``; closing it
cancels what still runs and waits for it to stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class Background:
    """The application's background work, referenced until it ends (asyncio keeps only a
    weak reference to a task: an unreferenced one may vanish mid-way)."""

    def __init__(self) -> None:
        self._running: set[asyncio.Future[Any]] = set()

    def start(self, work: Awaitable[T]) -> asyncio.Future[T]:
        """Run ``work`` on the running loop; its future, to await or shield."""
        future = asyncio.ensure_future(work)
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return future

    def __len__(self) -> int:
        return len(self._running)

    async def aclose(self) -> None:
        """Cancel what still runs and wait until it has stopped."""
        running = list(self._running)
        for future in running:
            future.cancel()
        await asyncio.gather(*running, return_exceptions=True)
