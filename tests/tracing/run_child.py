"""A short run in a process of its own, each TCP connection it opens recorded; prints what
it saw as JSON. Tracing is whatever this process's ``OTEL_*`` variables make of it."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

connections: list[str] = []
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _record(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        connections.append(f"{address[0]}:{address[1]}")


def _recording_connect(self: socket.socket, address: Any) -> None:
    _record(self, address)
    _connect(self, address)


def _recording_connect_ex(self: socket.socket, address: Any) -> int:
    _record(self, address)
    return _connect_ex(self, address)


socket.socket.connect = _recording_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _recording_connect_ex  # type: ignore[method-assign]

from opentelemetry import trace  # noqa: E402
from tests.services.runs.conftest import FAST, create_run, deps, tasks, wait_for_status  # noqa: E402

from berrys.config import Settings  # noqa: E402
from berrys.core import migrate  # noqa: E402
from berrys.services.auth import service as auth  # noqa: E402
from berrys.services.auth.contracts import UserCreate  # noqa: E402
from berrys.services.pipeline import service as pipeline  # noqa: E402
from berrys.services.projects import service as projects  # noqa: E402
from berrys.services.projects.contracts import ProjectCreate  # noqa: E402
from berrys.services.runs.contracts import RUN_TERMINAL  # noqa: E402
from berrys.wiring import Services  # noqa: E402


async def main(data_dir: Path) -> dict[str, Any]:
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'child.db'}",
        secret_key="test-secret-key-not-for-production",
        local_model_enabled=False,
    )
    services = Services.build(settings)
    database = services.database
    await migrate.upgrade(database)
    async with database.transaction() as session:
        user_in = UserCreate(email="quiet@example.com", password="correct horse battery")
        user = await auth.create_user(session, user_in=user_in, actor_id=None)
        project = await projects.create(session, project_in=ProjectCreate(name="quiet"), user=user)
    run = await create_run(database, project, tasks("a", "b"), deps("a>b"), actor_id=user.id)
    executor = pipeline.default_executor(
        settings, database, models=services.models, tools=services.tools
    )
    worker = pipeline.build_worker(database, executor, config=FAST)
    working = asyncio.create_task(worker.run())
    done = await wait_for_status(database, run.id, *RUN_TERMINAL, within=60)
    worker.stop()
    await working
    await services.aclose()
    return {
        "provider": type(trace.get_tracer_provider()).__name__,
        "status": done.status.value,
        "traceparent": done.options.get("traceparent"),
        "connections": connections,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
