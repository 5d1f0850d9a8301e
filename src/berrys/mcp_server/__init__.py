"""Berrys as an MCP server: the same services as REST, offered to MCP clients as tools and
resources, over streamable HTTP (mounted at ``/mcp`` on the app) and stdio (``berrys mcp``)."""
