"""An MCP server's HTTP credentials: its headers and bearer token, encrypted at rest.

They are sealed as one JSON document under the secret key (``core.encryption``) before
they reach the row, and opened only to build the server's connection (``McpServerSpec``).
What anyone sees is the header names (``Authorization`` for a bearer token). ``rotate``
re-encrypts them under the current key for ``berrys secrets rotate``.
"""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.encryption import SecretBox, rotate_stored
from berrys.services.tools.tables import AUTHORIZATION_HEADER as AUTHORIZATION
from berrys.services.tools.tables import McpServer


def seal(
    box: SecretBox, row: McpServer, *, headers: dict[str, str], bearer_token: str | None
) -> None:
    """Store ``headers`` and ``bearer_token`` (None or '': none) on ``row``, encrypted."""
    if not headers and not bearer_token:
        row.credentials_encrypted, row.header_names = None, []
        return
    document = {"headers": headers, "bearer_token": bearer_token or None}
    row.credentials_encrypted = box.encrypt(json.dumps(document))
    row.header_names = sorted(headers) + ([AUTHORIZATION] if bearer_token else [])


def opened(box: SecretBox, row: McpServer) -> tuple[dict[str, str], str | None]:
    """The row's headers and bearer token in the clear (raises SecretUnreadable)."""
    if not row.credentials_encrypted:
        return {}, None
    document = json.loads(box.decrypt(row.credentials_encrypted))
    return dict(document.get("headers") or {}), document.get("bearer_token")


def request_headers(box: SecretBox, row: McpServer) -> dict[str, str]:
    """What every request to the server carries: its headers and its bearer token."""
    headers, token = opened(box, row)
    return {**headers, AUTHORIZATION: f"Bearer {token}"} if token else headers


async def rotate_secrets(session: AsyncSession, *, box: SecretBox) -> list[str]:
    """Re-encrypt every server's credentials under ``box``'s first key; the servers' names.
    Raises SecretUnreadable, changing nothing, if one is under no key."""
    return await rotate_stored(
        session,
        box,
        McpServer.credentials_encrypted,
        order_by=(McpServer.name,),
        label=lambda row: f"MCP server {row.name}",
    )
