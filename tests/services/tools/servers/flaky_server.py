"""A small MCP server (official SDK) with tools that misbehave on purpose.

Run over stdio (default) or, with ``--http``, over streamable HTTP on a free port that it
prints on its first stdout line once it is listening.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("flaky", version="1.2.3")
SAFE = ToolAnnotations(read_only_hint=True, idempotent_hint=True)


@server.tool(annotations=SAFE)
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool(annotations=SAFE)
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(annotations=SAFE)
def crash() -> str:
    """Exit the server process at once."""
    os._exit(3)


@server.tool(annotations=SAFE)
def exit_after_answer() -> str:
    """Answer, then exit the server process a moment later (while the client is idle)."""
    threading.Timer(0.05, os._exit, args=(4,)).start()
    return "bye"


@server.tool(annotations=SAFE)
def hang() -> str:
    """Never answer."""
    threading.Event().wait()
    return "unreachable"


@server.tool(annotations=SAFE)
def garbage() -> str:
    """Write a line that is not JSON-RPC to stdout, then never answer."""
    sys.stdout.write("this is not json-rpc\n")
    sys.stdout.flush()
    threading.Event().wait()
    return "unreachable"


@server.tool(annotations=SAFE)
def big(size: int) -> str:
    """Answer with ``size`` characters."""
    return "x" * size


@server.tool()
def forget(name: str) -> str:
    """Delete the named record (unannotated: destructive by default)."""
    return f"forgot {name}"


def _serve_http() -> None:
    import anyio
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(sock.getsockname()[1], flush=True)
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    if "--http" in sys.argv:
        _serve_http()
    else:
        server.run("stdio")
