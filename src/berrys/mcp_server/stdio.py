"""The MCP server over stdio (``berrys mcp``): one client, as the user of the token it was
started with, with the run engine's worker in the same process so that runs go on."""

from __future__ import annotations

from berrys.mcp_server import server
from berrys.mcp_server.edge import Edge, token_caller, user_for_token
from berrys.wiring import Services


async def serve(services: Services, token: str) -> None:
    """Serve on stdin/stdout until the client closes them; an invalid token stops it first."""
    await user_for_token(services, token)
    worker = services.start_worker() if services.settings.worker_embedded else None
    mcp = server.build(
        Edge(services=lambda: services, caller=token_caller(lambda: services, token))
    )
    try:
        await mcp.run_stdio_async()
    finally:
        if worker is not None:
            await worker.stop()
