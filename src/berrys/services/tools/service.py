"""Tool Integration's interface, the only module other code calls: the registry, MCP servers,
invocation, discovery, evaluation and agent bindings (each implemented in its own module)."""

from __future__ import annotations

from berrys.services.tools._bindings import bind as bind_agent_tool
from berrys.services.tools._bindings import get_agent_tools
from berrys.services.tools._bindings import unbind as unbind_agent_tool
from berrys.services.tools._catalog import (
    TRANSITIONS,
    batch_create,
    create,
    delete,
    ensure_builtin_tools,
    get,
    get_all,
    get_by_name,
    get_categories,
    update,
)
from berrys.services.tools._credentials import rotate_secrets
from berrys.services.tools._discovery import discover, get_discovery
from berrys.services.tools._egress import request as egress_request
from berrys.services.tools._evaluation import evaluate, get_evaluations
from berrys.services.tools._executions import get_executions, get_usage
from berrys.services.tools._invocation import (
    ApprovalHook,
    ApprovalRequest,
    ApprovalRequired,
    ToolInvoker,
    ToolTimeout,
    require_human_approval,
)
from berrys.services.tools._mcp import failure_line
from berrys.services.tools._servers import (
    create_server,
    delete_server,
    get_server,
    get_server_by_name,
    get_servers,
    refresh_server,
    server_health,
    update_server,
)

__all__ = [
    "TRANSITIONS",
    "ApprovalHook",
    "ApprovalRequest",
    "ApprovalRequired",
    "ToolInvoker",
    "ToolTimeout",
    "batch_create",
    "bind_agent_tool",
    "create",
    "create_server",
    "delete",
    "delete_server",
    "discover",
    "egress_request",
    "ensure_builtin_tools",
    "evaluate",
    "failure_line",
    "get",
    "get_agent_tools",
    "get_all",
    "get_by_name",
    "get_categories",
    "get_discovery",
    "get_evaluations",
    "get_executions",
    "get_server",
    "get_server_by_name",
    "get_servers",
    "get_usage",
    "refresh_server",
    "require_human_approval",
    "rotate_secrets",
    "server_health",
    "unbind_agent_tool",
    "update",
    "update_server",
]
