"""The built-in tools: project workspace files, HTTP fetch, arithmetic, workspace search.

Each one is real and sandboxed: the workspace tools go through ``workspace`` (no path
can leave the project's directory), the evaluator through ``arithmetic`` (no names, no
calls but a few math functions), fetch through ``egress`` (allow-listed hosts, no private
addresses unless allowed, every redirect hop checked) and the limits in settings.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx

from berrys.config import Settings
from berrys.core.errors import (
    Forbidden,
    NotFound,
    PolicyDenied,
    ServiceUnavailable,
    Unprocessable,
)
from berrys.services.tools import _egress
from berrys.services.tools._arithmetic import MAX_EXPRESSION, evaluate
from berrys.services.tools._workspace import (
    UnsafePath,
    list_dir,
    read_file,
    split_path,
    walk_files,
    write_file,
)
from berrys.services.tools.contracts import ApprovalPolicy

__all__ = [
    "BUILTINS",
    "Builtin",
    "BuiltinContext",
    "UnsafePath",
    "evaluate",
    "split_path",
]


@dataclass(frozen=True)
class BuiltinContext:
    settings: Settings
    project_id: uuid.UUID | None


Handler = Callable[[BuiltinContext, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Builtin:
    key: str
    description: str
    input_schema: dict[str, Any]
    capabilities: tuple[str, ...]
    categories: tuple[str, ...]
    handler: Handler
    needs_project: bool = False
    approval_policy: ApprovalPolicy = ApprovalPolicy.AUTO
    idempotent: bool = True
    # Declared access, read by the security evaluation.
    access: dict[str, Any] = field(default_factory=dict)
    probe_arguments: dict[str, Any] | None = None


# ---------------------------------------------------------------- handlers


def _root(ctx: BuiltinContext) -> Path:
    if ctx.project_id is None:
        raise Unprocessable("this tool works in a project's workspace: give project_id")
    return ctx.settings.workspace_dir(ctx.project_id)


# The workspace's file I/O runs in a thread: the loop never waits on a disk (or on anything
# that is not a regular file, which ``workspace`` refuses), and the tool's timeout can fire.


async def _read(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    data = await asyncio.to_thread(
        read_file, _root(ctx), args["path"], max_bytes=ctx.settings.tools_workspace_max_file_bytes
    )
    try:
        return {"path": args["path"], "content": data.decode("utf-8"), "size": len(data)}
    except UnicodeDecodeError:
        raise Unprocessable(f"{args['path']} is not UTF-8 text") from None


async def _write(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    size = await asyncio.to_thread(
        write_file,
        _root(ctx),
        args["path"],
        args["content"].encode("utf-8"),
        max_bytes=ctx.settings.tools_workspace_max_file_bytes,
    )
    return {"path": args["path"], "size": size}


async def _list(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    entries = await asyncio.to_thread(list_dir, _root(ctx), args.get("path", ""))
    return {"path": args.get("path", ""), "entries": entries}


def _search_sync(root: Path, text: str, glob: str | None, limit: int, max_bytes: int) -> Any:
    needle = text.casefold()
    hits: list[dict[str, Any]] = []
    for relative, size in walk_files(root):
        if glob and not fnmatch(relative, glob):
            continue
        if needle in relative.casefold():
            hits.append({"path": relative, "line": None, "snippet": relative})
        if size > max_bytes:
            continue
        try:
            content = read_file(root, relative, max_bytes=max_bytes).decode("utf-8")
        except (UnicodeDecodeError, Forbidden, NotFound):
            continue
        for number, line in enumerate(content.splitlines(), start=1):
            if needle in line.casefold():
                hits.append({"path": relative, "line": number, "snippet": line.strip()[:300]})
                if len(hits) >= limit:
                    return hits
        if len(hits) >= limit:
            break
    return hits[:limit]


async def _search(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    hits = await asyncio.to_thread(
        _search_sync,
        _root(ctx),
        args["text"],
        args.get("glob"),
        int(args.get("limit", 20)),
        ctx.settings.tools_workspace_max_file_bytes,
    )
    return {"text": args["text"], "hits": hits}


async def _calculate(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    return {"expression": args["expression"], "value": evaluate(args["expression"])}


async def _fetch(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    settings = ctx.settings
    if not settings.tools_fetch_enabled:
        raise PolicyDenied(
            "HTTP fetch is disabled; an operator enables it with BERRYS_TOOLS_FETCH_ENABLED"
        )
    limit = min(
        int(args.get("max_bytes") or settings.tools_fetch_max_bytes), settings.tools_fetch_max_bytes
    )
    try:
        async with _egress.request(
            "GET",
            args["url"],
            settings=settings,
            timeouts=httpx.Timeout(settings.tools_fetch_timeout_seconds),
            follow_redirects=True,
        ) as (response, url):
            body, truncated = await _egress.read_capped(response, limit)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"could not fetch {args['url']}: {exc!r}") from None
    return {
        "url": url,
        "status": response.status_code,
        "content_type": response.headers.get("content-type", ""),
        "content": body.decode(response.encoding or "utf-8", "replace"),
        "bytes": len(body),
        "truncated": truncated,
    }


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_PATH = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1024,
    "description": "Path inside the project workspace, e.g. 'docs/notes.md'.",
}

BUILTINS: dict[str, Builtin] = {
    builtin.key: builtin
    for builtin in (
        Builtin(
            key="workspace.read_file",
            description="Read a UTF-8 text file from the project's workspace.",
            input_schema=_object({"path": _PATH}, ["path"]),
            capabilities=("file_read", "workspace", "files"),
            categories=("workspace",),
            handler=_read,
            needs_project=True,
            access={"files": "read"},
        ),
        Builtin(
            key="workspace.write_file",
            description="Create or replace a UTF-8 text file in the project's workspace.",
            input_schema=_object(
                {
                    "path": _PATH,
                    "content": {"type": "string", "description": "The file's new text."},
                },
                ["path", "content"],
            ),
            capabilities=("file_write", "workspace", "files"),
            categories=("workspace",),
            handler=_write,
            needs_project=True,
            access={"files": "write"},
        ),
        Builtin(
            key="workspace.list_files",
            description="List the files and directories in a workspace directory.",
            input_schema=_object(
                {
                    "path": {
                        **_PATH,
                        "minLength": 0,
                        "description": "Directory; '' is the workspace root.",
                    }
                },
                [],
            ),
            capabilities=("file_list", "workspace", "files"),
            categories=("workspace",),
            handler=_list,
            needs_project=True,
            access={"files": "read"},
        ),
        Builtin(
            key="workspace.search",
            description="Search the project's workspace and artifacts for text: "
            "matching file names and lines.",
            input_schema=_object(
                {
                    "text": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 500,
                        "description": "Text to find (case-insensitive).",
                    },
                    "glob": {
                        "type": "string",
                        "maxLength": 200,
                        "description": "Only paths matching this pattern, e.g. '*.md'.",
                    },
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 200,
                        "description": "Most hits to return.",
                    },
                },
                ["text"],
            ),
            capabilities=("search", "workspace", "artifacts"),
            categories=("workspace", "search"),
            handler=_search,
            needs_project=True,
            access={"files": "read"},
        ),
        Builtin(
            key="math.evaluate",
            description="Evaluate an arithmetic expression safely "
            "(numbers, + - * / // % **, sqrt, log, sin, ...).",
            input_schema=_object(
                {
                    "expression": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_EXPRESSION,
                        "description": "e.g. '(2 + 3) * sqrt(16)'.",
                    }
                },
                ["expression"],
            ),
            capabilities=("math", "calculate", "arithmetic"),
            categories=("utility",),
            handler=_calculate,
            probe_arguments={"expression": "(2 + 3) * 4"},
        ),
        Builtin(
            key="http.fetch",
            description="Fetch a URL over HTTP(S) from an allow-listed host, following "
            "redirects (off unless an operator enables it).",
            input_schema=_object(
                {
                    "url": {
                        "type": "string",
                        "minLength": 8,
                        "maxLength": 2000,
                        "description": "http:// or https:// URL.",
                    },
                    "max_bytes": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Stop reading after this many bytes.",
                    },
                },
                ["url"],
            ),
            capabilities=("http", "fetch", "web"),
            categories=("network",),
            handler=_fetch,
            access={"network": "allow-listed hosts"},
        ),
    )
}
