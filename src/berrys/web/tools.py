"""The dashboard's tools page: the tool registry and MCP servers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from berrys.services.tools import service as tools
from berrys.web.pages import _database
from berrys.web.security import WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/tools", response_class=HTMLResponse)
async def tools_page(request: Request, user: WebUser) -> Response:
    """The tool registry and MCP servers (read-only here; manage them over REST or the CLI)."""
    async with _database(request).transaction(read_only=True) as session:
        items, total = await tools.get_all(session, limit=200, offset=0)
        servers, _ = await tools.get_servers(session, limit=200, offset=0)
    return render(request, "tools.html", tools=items, total=total, servers=servers)
