"""The process's run event listener for a route, from its wiring (``app.state.services``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from berrys.services.runs._event_listener import RunEventListener


async def get_run_event_listener(request: Request) -> RunEventListener:
    listener: RunEventListener = request.app.state.services.run_events
    return listener


RunEventListenerDep = Annotated[RunEventListener, Depends(get_run_event_listener)]
