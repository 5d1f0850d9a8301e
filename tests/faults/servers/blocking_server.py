"""An MCP server (official SDK, stdio) whose ``block`` tool writes the server's pid to a file
and never answers: a test kills the process while the call is in flight."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("blocking", version="1.0.0")
SAFE = ToolAnnotations(read_only_hint=True, idempotent_hint=True)
PID_FILE = Path(sys.argv[1])


@server.tool(annotations=SAFE)
def block() -> str:
    """Say which process is answering, then never answer."""
    PID_FILE.write_text(str(os.getpid()))
    threading.Event().wait()
    return "unreachable"


@server.tool(annotations=SAFE)
def whoami() -> int:
    """The server process's pid."""
    return os.getpid()


if __name__ == "__main__":
    server.run("stdio")
