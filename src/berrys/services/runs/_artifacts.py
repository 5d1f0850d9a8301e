"""Artifacts: what a run's tasks produced, per run and per project, one by one, and the file
each downloads as. The run page, ``berrys artifacts``, the project page and REST all read
them here."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Integer, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from berrys.core.errors import NotFound
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.runs.contracts import ArtifactOut, ArtifactSummary
from berrys.services.runs.tables import Artifact, TaskRun

_artifact = Artifact.__table__
_task = TaskRun.__table__
_COLUMNS = [_artifact.c[name] for name in ArtifactOut.model_fields]


class _octets(FunctionElement[int]):
    """The byte length of a text column (SQLite before 3.43 has no ``octet_length``)."""

    type = Integer()
    inherit_cache = True


@compiles(_octets)
def _octets_default(element: _octets, compiler: SQLCompiler, **kw: Any) -> str:
    return f"octet_length({compiler.process(element.clauses, **kw)})"


@compiles(_octets, "sqlite")
def _octets_sqlite(element: _octets, compiler: SQLCompiler, **kw: Any) -> str:
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"


_SUMMARY = select(
    _artifact.c.id,
    _artifact.c.project_id,
    _artifact.c.run_id,
    _artifact.c.task_run_id,
    _task.c.name.label("task_name"),
    _artifact.c.name,
    _artifact.c.path,
    _artifact.c.media_type,
    _octets(_artifact.c.content).label("text_size"),
    _artifact.c.produced_by,
    _artifact.c.created_at,
).join(_task, _task.c.id == _artifact.c.task_run_id)


async def for_run(session: AsyncSession, *, run_id: uuid.UUID) -> list[ArtifactOut]:
    """The run's artifacts with their content, oldest first (no access check: the caller's)."""
    rows = await session.execute(
        select(*_COLUMNS).where(_artifact.c.run_id == run_id).order_by(_artifact.c.created_at)
    )
    return [ArtifactOut.model_validate(dict(row._mapping)) for row in rows]


async def get_all(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    user: UserOut,
    workspaces: Path,
    limit: int,
    offset: int,
) -> tuple[list[ArtifactSummary], int]:
    """The project's artifacts, newest first, without their content; NotFound for others'."""
    await projects.get(session, project_id=project_id, user=user)
    condition = _artifact.c.project_id == project_id
    total = (
        await session.execute(select(func.count()).select_from(_artifact).where(condition))
    ).scalar_one()
    rows = await session.execute(
        _SUMMARY.where(condition)
        .order_by(_artifact.c.created_at.desc(), _artifact.c.id)
        .limit(limit)
        .offset(offset)
    )
    found = [dict(row._mapping) for row in rows]
    return await asyncio.to_thread(_summaries, found, workspaces), total


async def get(
    session: AsyncSession, *, artifact_id: uuid.UUID, user: UserOut, workspaces: Path
) -> ArtifactSummary:
    """One artifact's metadata; NotFound for one in a project the user may not see."""
    row = (await session.execute(_SUMMARY.where(_artifact.c.id == artifact_id))).first()
    if row is None:
        raise NotFound.of("Artifact", artifact_id)
    await _check_project(session, row.project_id, artifact_id, user)
    return (await asyncio.to_thread(_summaries, [dict(row._mapping)], workspaces))[0]


async def get_content(
    session: AsyncSession, *, artifact_id: uuid.UUID, user: UserOut
) -> ArtifactOut:
    """One artifact with its content; NotFound for one in a project the user may not see."""
    row = (
        await session.execute(
            select(*_COLUMNS, _artifact.c.project_id).where(_artifact.c.id == artifact_id)
        )
    ).first()
    if row is None:
        raise NotFound.of("Artifact", artifact_id)
    await _check_project(session, row.project_id, artifact_id, user)
    return ArtifactOut.model_validate(
        {name: row._mapping[name] for name in ArtifactOut.model_fields}
    )


async def _check_project(
    session: AsyncSession, project_id: uuid.UUID, artifact_id: uuid.UUID, user: UserOut
) -> None:
    try:
        await projects.get(session, project_id=project_id, user=user)
    except NotFound:
        raise NotFound.of("Artifact", artifact_id) from None


def _summaries(rows: list[dict[str, Any]], workspaces: Path) -> list[ArtifactSummary]:
    """Rows as summaries, each sized as it downloads (this stats files: run it in a thread)."""
    items = []
    for row in rows:
        text_size = row.pop("text_size") or 0
        name, file = _workspace_file(row["name"], row["path"], workspaces)
        size = file.stat().st_size if file is not None else text_size
        items.append(ArtifactSummary.model_validate({**row, "file_name": name, "size": size}))
    return items


def _workspace_file(name: str, path: str | None, workspaces: Path) -> tuple[str, Path | None]:
    """The name the artifact downloads as, and its file when it lies in the workspaces."""
    if not path:
        return file_name(name, path), None
    resolved = Path(path).resolve()
    inside = resolved.is_relative_to(workspaces.resolve()) and resolved.is_file()
    return file_name(name, str(resolved)), resolved if inside else None


def file_name(name: str, path: str | None) -> str:
    """The name an artifact downloads as: its workspace file's, else its name as Markdown."""
    return safe_file_name(Path(path).name) if path else safe_file_name(name) + ".md"


def read_file(artifact: ArtifactOut, workspaces: Path) -> tuple[str, bytes]:
    """The artifact as a file: its file in the workspaces (a spreadsheet is not its text),
    else its text; and the name to save it as. Reads the disk: run it in a thread."""
    name, file = _workspace_file(artifact.name, artifact.path, workspaces)
    return name, file.read_bytes() if file is not None else artifact.content.encode()


def safe_file_name(name: str) -> str:
    """A file name for Content-Disposition: no quotes, slashes or control characters."""
    cleaned = re.sub(r"[^\w.\- ]+", "_", name, flags=re.UNICODE).strip(" ._")
    return cleaned[:120] or "artifact"


def media_type(artifact: ArtifactOut) -> str:
    """The media type to serve the artifact with: text says it is UTF-8."""
    media = artifact.media_type or "application/octet-stream"
    if media.startswith("text/") and "charset" not in media:
        return f"{media}; charset=utf-8"
    return media


def download_headers(name: str) -> dict[str, str]:
    """Headers that make a browser save the content as ``name`` instead of showing it (an
    ASCII ``filename`` for old clients: a header holds no other characters)."""
    plain = re.sub(r"[^\x20-\x7e]", "_", name)
    return {
        "Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store",
    }
