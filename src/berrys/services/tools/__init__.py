"""Tool Integration: registry, MCP client, built-in tools, discovery, evaluation, invocation."""
