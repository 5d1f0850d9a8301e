"""The peer for api_load.py: a bare FastAPI + SQLAlchemy async app reading one project row
from the same SQLite file, with no auth, audit, metrics or error handling around it."""

from __future__ import annotations

import os
import uuid

from fastapi import FastAPI, HTTPException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(f"sqlite+aiosqlite:///{os.environ['PEER_DATABASE']}")
app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


@app.get("/projects/{project_id}")
async def get_project(project_id: uuid.UUID) -> dict[str, object]:
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    text("SELECT id, name, description, status FROM project WHERE id = :id"),
                    {"id": project_id.hex},
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise HTTPException(404)
    return dict(row)
