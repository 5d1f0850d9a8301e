"""The built-in tools: project workspace files, HTTP fetch, arithmetic, workspace search.

Each one is real and sandboxed. Workspace paths are walked one component at a time from
an open directory descriptor with ``O_NOFOLLOW``, so ``..``, absolute paths, symlinks and
encoded tricks cannot leave ``<data_dir>/workspaces/<project_id>``: there is no string
prefix check to fool, only directory entries that must be plain names of real directories
and files.
"""

from __future__ import annotations

import ast
import asyncio
import errno
import math
import operator
import os
import re
import stat
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from berrys.config import Settings
from berrys.core.enums import ApprovalPolicy
from berrys.core.errors import Forbidden, NotFound, PayloadTooLarge, PolicyDenied, Unprocessable


class UnsafePath(Forbidden):
    title = "Path refused"


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


# ---------------------------------------------------------------- workspace paths

_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_MAX_COMPONENTS = 32


def workspace_root(settings: Settings, project_id: uuid.UUID) -> Path:
    return settings.data_dir / "workspaces" / str(project_id)


def split_path(raw: str, *, allow_root: bool = False) -> list[str]:
    """Plain relative components, or UnsafePath naming why not."""
    if not isinstance(raw, str):
        raise UnsafePath("path must be a string")
    if "\x00" in raw or any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise UnsafePath("path contains control characters")
    if _ENCODED.search(raw):
        raise UnsafePath("percent-encoded paths are refused")
    normalised = unicodedata.normalize("NFKC", raw)
    if normalised != raw:
        raise UnsafePath("path is not in normal form (look-alike characters are refused)")
    if "\\" in raw:
        raise UnsafePath("backslashes are refused; use '/'")
    if raw.startswith(("/", "~")):
        raise UnsafePath("absolute paths are refused; give a path inside the workspace")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise UnsafePath("'..' is refused: paths stay inside the workspace")
    if not parts and not allow_root:
        raise UnsafePath("path names no file")
    if len(parts) > _MAX_COMPONENTS:
        raise UnsafePath(f"path is deeper than {_MAX_COMPONENTS} levels")
    if any(len(part.encode()) > 255 for part in parts):
        raise UnsafePath("a path component is longer than 255 bytes")
    return parts


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def _open_dir(root: Path, parts: list[str], *, create: bool) -> Iterator[int]:
    """A descriptor of the directory ``root/parts`` reached without following any link."""
    if create:
        root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        raise NotFound("the workspace is empty") from None
    try:
        for part in parts:
            try:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise NotFound(f"no such directory: {part}") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(f"{part!r} is a link or not a directory") from None
                raise
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def _refuse_special(st: os.stat_result, name: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{name!r} is not a regular file")
    if st.st_nlink > 1:
        raise UnsafePath(f"{name!r} has other hard links and is refused")


def read_file(root: Path, raw: str, *, max_bytes: int) -> bytes:
    parts = split_path(raw)
    with _open_dir(root, parts[:-1], create=False) as dir_fd:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            raise NotFound(f"no such file: {raw}") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                raise UnsafePath(f"{raw!r} is a link or a directory") from None
            raise
        with os.fdopen(fd, "rb") as handle:
            _refuse_special(os.fstat(handle.fileno()), raw)
            data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{raw} is larger than {max_bytes} bytes")
    return data


def write_file(root: Path, raw: str, data: bytes, *, max_bytes: int) -> int:
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"content is larger than {max_bytes} bytes")
    parts = split_path(raw)
    with _open_dir(root, parts[:-1], create=True) as dir_fd:
        name = parts[-1]
        try:
            existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            _refuse_special(existing, raw)
        temp = f".{name}.{uuid.uuid4().hex}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
    return len(data)


def list_dir(root: Path, raw: str) -> list[dict[str, Any]]:
    parts = split_path(raw, allow_root=True)
    if not root.exists() and not parts:
        return []
    with _open_dir(root, parts, create=False) as dir_fd:
        entries = []
        for name in sorted(os.listdir(dir_fd)):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            kind = (
                "directory"
                if stat.S_ISDIR(st.st_mode)
                else "file"
                if stat.S_ISREG(st.st_mode)
                else "other"
            )
            entries.append({"name": name, "type": kind, "size": st.st_size})
    return entries


def walk_files(root: Path, *, limit: int = 10_000) -> Iterator[tuple[str, int]]:
    """Regular files under ``root`` as (relative path, dir fd); links are never followed."""
    if not root.exists():
        return
    stack: list[tuple[str, list[str]]] = [("", [])]
    seen = 0
    while stack:
        prefix, parts = stack.pop()
        with _open_dir(root, parts, create=False) as dir_fd:
            for name in sorted(os.listdir(dir_fd)):
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                relative = f"{prefix}{name}"
                if stat.S_ISDIR(st.st_mode):
                    stack.append((relative + "/", [*parts, name]))
                elif stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                    seen += 1
                    if seen > limit:
                        return
                    yield relative, st.st_size


# ---------------------------------------------------------------- arithmetic

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_MAX_EXPRESSION = 1000
_MAX_NODES = 200
_MAX_INT_BITS = 4096


def evaluate(expression: str) -> int | float:
    """Arithmetic only: numbers, + - * / // % **, parentheses, a few math functions."""
    if len(expression) > _MAX_EXPRESSION:
        raise Unprocessable(f"expression is longer than {_MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise Unprocessable(f"not an arithmetic expression: {exc.msg}") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise Unprocessable(f"expression has more than {_MAX_NODES} parts")
    try:
        value = _eval(tree.body)
    except ZeroDivisionError:
        raise Unprocessable("division by zero") from None
    except (OverflowError, ValueError) as exc:
        raise Unprocessable(f"cannot compute: {exc}") from None
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unprocessable("only numbers are allowed")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise Unprocessable("result is too large")
    return value


def _eval(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        too_big = abs(right) > 1000 or (isinstance(left, int) and abs(left) > 1 and right > 512)
        if isinstance(node.op, ast.Pow) and too_big:
            raise Unprocessable("exponent is too large")
        return _number(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _number(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and 0 < len(node.args) <= 10
    ):
        return _number(_FUNCTIONS[node.func.id](*(_eval(arg) for arg in node.args)))
    raise Unprocessable(f"not allowed in an arithmetic expression: {ast.unparse(node)!r}")


# ---------------------------------------------------------------- handlers


def _root(ctx: BuiltinContext) -> Path:
    if ctx.project_id is None:
        raise Unprocessable("this tool works in a project's workspace: give project_id")
    return workspace_root(ctx.settings, ctx.project_id)


async def _read(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    data = read_file(
        _root(ctx), args["path"], max_bytes=ctx.settings.tools_workspace_max_file_bytes
    )
    try:
        return {"path": args["path"], "content": data.decode("utf-8"), "size": len(data)}
    except UnicodeDecodeError:
        raise Unprocessable(f"{args['path']} is not UTF-8 text") from None


async def _write(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    size = write_file(
        _root(ctx),
        args["path"],
        args["content"].encode("utf-8"),
        max_bytes=ctx.settings.tools_workspace_max_file_bytes,
    )
    return {"path": args["path"], "size": size}


async def _list(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    return {"path": args.get("path", ""), "entries": list_dir(_root(ctx), args.get("path", ""))}


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


def host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


async def _fetch(ctx: BuiltinContext, args: dict[str, Any]) -> Any:
    settings = ctx.settings
    if not settings.tools_fetch_enabled:
        raise PolicyDenied(
            "HTTP fetch is disabled; an operator enables it with BERRYS_TOOLS_FETCH_ENABLED"
        )
    url = args["url"]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unprocessable("only http:// and https:// URLs with a host can be fetched")
    if parts.username or parts.password:
        raise Unprocessable("credentials in the URL are refused")
    if not host_allowed(parts.hostname, settings.tools_fetch_allowed_hosts):
        raise PolicyDenied(
            f"host {parts.hostname!r} is not in the fetch allow-list "
            "(BERRYS_TOOLS_FETCH_ALLOWED_HOSTS)"
        )
    limit = min(
        int(args.get("max_bytes") or settings.tools_fetch_max_bytes), settings.tools_fetch_max_bytes
    )
    timeout = httpx.Timeout(settings.tools_fetch_timeout_seconds)
    body = bytearray()
    truncated = False
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http,
        http.stream("GET", url, headers={"User-Agent": "berrys-fetch/0.1"}) as response,
    ):
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > limit:
                truncated = True
                del body[limit:]
                break
    content_type = response.headers.get("content-type", "")
    text = bytes(body).decode(response.encoding or "utf-8", "replace")
    result: dict[str, Any] = {
        "url": url,
        "status": response.status_code,
        "content_type": content_type,
        "content": text,
        "bytes": len(body),
        "truncated": truncated,
    }
    if response.is_redirect:
        result["location"] = response.headers.get("location")
    return result


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
                        "maxLength": _MAX_EXPRESSION,
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
            description="Fetch a URL over HTTP(S) from an allow-listed host "
            "(off unless an operator enables it).",
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
