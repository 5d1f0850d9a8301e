"""The application's tool invoker for a route, from its wiring (``app.state.services``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from berrys.services.tools._invocation import ToolInvoker


async def get_tool_invoker(request: Request) -> ToolInvoker:
    invoker: ToolInvoker = request.app.state.services.tools
    return invoker


ToolInvokerDep = Annotated[ToolInvoker, Depends(get_tool_invoker)]
