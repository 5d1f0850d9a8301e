"""Reading a run's events as a real SSE client does, over real sockets, noting when each
event arrived."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Stream:
    """What one client received: the events in order, when each arrived, and the end."""

    events: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    end: dict[str, Any] | None = None

    @property
    def seqs(self) -> list[int]:
        return [event["seq"] for event in self.events]

    @property
    def last_id(self) -> str:
        return str(self.seqs[-1])


async def follow(
    http: httpx.AsyncClient,
    run_id: Any,
    headers: dict[str, str],
    into: Stream,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
) -> Stream:
    """Stream ``/runs/{run_id}/events`` into ``into`` until ``end`` (or until it holds
    ``stop_after`` events: then the client hangs up)."""
    if last_event_id is not None:
        headers = {**headers, "Last-Event-ID": last_event_id}
    url = f"/api/v1/runs/{run_id}/events"
    async with http.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200, await response.aread()
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if kind == "end":
                    into.end = data
                    return into
                into.events.append(data)
                into.arrived.append(time.monotonic())
                if stop_after is not None and len(into.events) >= stop_after:
                    return into
    return into
