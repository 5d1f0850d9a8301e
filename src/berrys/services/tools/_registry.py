"""Shared by the tools modules: row look-ups, secret masking, schema validators."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.errors import NotFound, Unprocessable
from berrys.services.tools.contracts import McpServerOut, ToolOut
from berrys.services.tools.tables import McpServer, Tool

MASK = "***"
_SECRET_KEY = re.compile(
    r"(token|secret|passw|api[_-]?key|authori[sz]ation|auth|cookie|credential|private|session)",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def mask(value: Any, *, everything: bool = False) -> Any:
    """A copy with secret values replaced by '***' (all values when ``everything``)."""
    if isinstance(value, dict):
        return {
            key: (
                MASK
                if (everything or is_secret_key(str(key))) and not isinstance(item, dict | list)
                else mask(item, everything=everything)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask(item, everything=everything) for item in value]
    return value


def unmask(new: Any, old: Any) -> Any:
    """Merge an update: a '***' sent back means 'keep the stored secret'."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: unmask(item, old.get(key)) for key, item in new.items()}
    if new == MASK and old is not None:
        return old
    return new


def secrets_in(value: Any, path: str = "") -> list[str]:
    """Paths of non-empty values stored under secret-looking keys."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if is_secret_key(str(key)) and isinstance(item, str | int) and str(item):
                found.append(here)
            else:
                found.extend(secrets_in(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(secrets_in(item, f"{path}[{index}]"))
    return found


def tool_out(row: Tool) -> ToolOut:
    out = ToolOut.model_validate(row)
    return out.model_copy(update={"configuration": mask(row.configuration or {})})


def server_out(row: McpServer, *, reveal: bool = True) -> McpServerOut:
    """The server with secrets masked; without ``reveal`` (anyone but an ADMIN) also how it
    is started: the command and its arguments."""
    out = McpServerOut.model_validate(row)
    update: dict[str, Any] = {"env": mask(row.env or {}, everything=True)}
    if not reveal:
        update["command"] = MASK if row.command else None
        update["args"] = [MASK] if row.args else []
    return out.model_copy(update=update)


async def get_tool_row(session: AsyncSession, tool_id: uuid.UUID) -> Tool:
    row = await session.get(Tool, tool_id)
    if row is None:
        raise NotFound.of("Tool", tool_id)
    return row


async def get_tool_by_name(session: AsyncSession, name: str) -> Tool | None:
    return await session.scalar(select(Tool).where(Tool.name == name))


async def get_server_row(session: AsyncSession, server_id: uuid.UUID) -> McpServer:
    row = await session.get(McpServer, server_id)
    if row is None:
        raise NotFound.of("MCP server", server_id)
    return row


def check_schema(schema: dict[str, Any], *, field: str) -> None:
    """A JSON schema that is itself valid, or 422 naming what is wrong."""
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except schema_errors.SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "(root)"
        raise Unprocessable(
            f"{field} is not a valid JSON schema at {where}: {exc.message}"
        ) from None


_validators: dict[tuple[uuid.UUID, datetime], Any] = {}


def validator_for(tool_id: uuid.UUID, updated_at: datetime, schema: dict[str, Any]) -> Any:
    """A compiled validator, cached per tool version (the row's ``updated_at``)."""
    key = (tool_id, updated_at)
    validator = _validators.get(key)
    if validator is None:
        if len(_validators) > 2048:
            _validators.clear()
        cls = validators.validator_for(schema)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        _validators[key] = validator
    return validator


def argument_errors(validator: Any, arguments: dict[str, Any]) -> list[dict[str, str]]:
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(map(str, e.path)))
    return [{"path": error.json_path, "message": error.message} for error in errors[:20]]
