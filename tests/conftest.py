"""Shared fixtures: one migrated database per run (SQLite, or PostgreSQL when
``BERRYS_TEST_DATABASE_URL`` is set), emptied between tests, each test's own ``Services``
on it, and an in-process client of the app serving with them."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text

from berrys.app import create_app
from berrys.config import Settings
from berrys.core import migrate, security
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import PersonalTokenCreate, UserCreate, UserRole
from berrys.services.llm import service as llm
from berrys.tables import metadata
from berrys.wiring import Services

TEST_DATABASE_URL = os.environ.get("BERRYS_TEST_DATABASE_URL")


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Still argon2id, at the lowest cost: the production parameters cost ~50 ms a hash."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
        yield


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("berrys-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=TEST_DATABASE_URL or f"sqlite+aiosqlite:///{data_dir / 'test.db'}",
        secret_key="test-secret-key-not-for-production",
        # The bundled model takes seconds per answer; tests that are about it switch it on.
        local_model_enabled=False,
        log_level="WARNING",
        _env_file=None,
    )


async def _drop_everything(database: Database) -> None:
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            await connection.run_sync(metadata.drop_all)
        else:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.resolved_database_url)
    await _drop_everything(database)
    await migrate.upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def services_settings(settings: Settings) -> Settings:
    """What a test's ``Services`` are built from (a package's conftest may change it)."""
    return settings


@pytest.fixture
async def services(services_settings: Settings, database: Database) -> AsyncIterator[Services]:
    """This test's application parts on the shared database: a fresh model runtime (RULES and
    scripted models only: no bundled llama.cpp model; no cooldown or cache carried from one
    test to the next; scripted models are installed on it), the tool invoker and its approval
    policy."""
    built = Services.build(services_settings, database=database)
    yield built
    await built.close_parts()  # the database is the session's: it stays open


@pytest.fixture
def models(services: Services) -> llm.Runtime:
    """The test's model runtime: the first argument of ``llm.complete`` and friends."""
    return services.models


@pytest.fixture(scope="session")
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database)


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty every table before a test that touches the database (keeps the schema)."""
    if "database" not in request.fixturenames:
        yield
        return
    database: Database = request.getfixturevalue("database")
    tables = [table.name for table in reversed(metadata.sorted_tables)]
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            for name in tables:
                await connection.execute(text(f'DELETE FROM "{name}"'))
        else:
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        await connection.execute(
            text("INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 0, :genesis)"),
            {"genesis": "0" * 64},
        )
    yield


@pytest.fixture
async def client(app: FastAPI, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app.state.services = services  # the requests of this test are served with its own parts
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class Actor:
    """A user with a bearer token, as a test sees them."""

    id: uuid.UUID
    email: str
    role: UserRole
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_actor(
    database: Database, role: UserRole = UserRole.MEMBER, email: str | None = None
) -> Actor:
    """A new user of ``role`` in ``database``, with a personal token."""
    email = email or f"{role.value.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    async with database.transaction() as session:
        user = await auth.create_user(
            session,
            user_in=UserCreate.model_validate(
                {"email": email, "password": "correct horse battery", "role": role}
            ),
            actor_id=None,
        )
        token = await auth.create_personal_token(
            session, user=user, token_in=PersonalTokenCreate(name="test")
        )
    return Actor(id=user.id, email=email, role=role, token=token.token)


@pytest.fixture
def make_actor(database: Database):  # type: ignore[no-untyped-def]
    async def _make(role: UserRole = UserRole.MEMBER, email: str | None = None) -> Actor:
        return await create_actor(database, role, email)

    return _make


@pytest.fixture
async def admin(make_actor) -> Actor:  # type: ignore[no-untyped-def]
    return await make_actor(UserRole.ADMIN)


@pytest.fixture
async def member(make_actor) -> Actor:  # type: ignore[no-untyped-def]
    return await make_actor(UserRole.MEMBER)


@pytest.fixture
async def other_member(make_actor) -> Actor:  # type: ignore[no-untyped-def]
    return await make_actor(UserRole.MEMBER)


@pytest.fixture
async def viewer(make_actor) -> Actor:  # type: ignore[no-untyped-def]
    return await make_actor(UserRole.VIEWER)


class _WebhookReceiver(BaseHTTPRequestHandler):
    """Answers each POST with the next of ``server.statuses`` and keeps what it got."""

    server: Any

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers), body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A real HTTP server on loopback for webhooks: it keeps each POST (headers, body) in
    ``received`` and answers with the next of ``statuses`` (a 500 first), then 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookReceiver)
    server.received, server.statuses = [], [500]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
