"""Login, tokens, roles and throttling over REST."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx

from berrys.core import security
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserRole

PASSWORD = "correct horse battery"


async def _login(client, email, password=PASSWORD):
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_login_me_logout(client, make_actor):
    actor = await make_actor(UserRole.MEMBER, email="Ada@Example.com")
    response = await _login(client, "ada@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC)
    headers = {"Authorization": f"Bearer {body['access_token']}"}

    me = await client.get("/api/v1/auth/me", headers=headers)
    assert me.json()["email"] == "ada@example.com"
    assert me.json()["id"] == str(actor.id)
    assert "password" not in me.text

    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_wrong_email_and_wrong_password_get_the_same_answer(client, member):
    wrong_password = await _login(client, member.email, "not the password")
    wrong_email = await _login(client, "nobody@example.com")
    assert wrong_password.status_code == wrong_email.status_code == 401
    assert (
        wrong_password.json()["detail"]
        == wrong_email.json()["detail"]
        == "Invalid email or password"
    )


async def test_repeated_failures_are_throttled_with_retry_after(client, member, settings):
    for _ in range(settings.login_max_failures):
        assert (await _login(client, member.email, "guess")).status_code == 401
    throttled = await _login(client, member.email)  # even the right password waits
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= settings.login_failure_window_seconds
    other = await client.post(
        "/api/v1/auth/login", json={"email": "x@example.com", "password": "y"}
    )
    assert other.status_code == 401  # throttling is per account


@asynccontextmanager
async def _from(app, address: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """A client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_a_stranger_cannot_lock_the_owner_out(app, member, settings):
    async with _from(app, "203.0.113.7") as stranger, _from(app, "198.51.100.2") as owner:
        for _ in range(settings.login_max_failures):
            assert (await _login(stranger, member.email, "guess")).status_code == 401
        locked = await _login(stranger, member.email)
        assert locked.status_code == 429
        assert locked.headers["Retry-After"]
        assert (await _login(owner, member.email)).status_code == 200
        # The owner's login clears the owner's failures, not the stranger's.
        assert (await _login(stranger, member.email)).status_code == 429


async def test_one_address_guessing_across_accounts_is_throttled(app, member, settings):
    async with _from(app, "203.0.113.8") as sprayer, _from(app, "198.51.100.3") as owner:
        for number in range(settings.login_max_failures_per_client):
            email = f"guess-{number}@example.com"
            assert (await _login(sprayer, email, "guess")).status_code == 401
        throttled = await _login(sprayer, member.email)
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["Retry-After"]) <= settings.login_failure_window_seconds
        assert "from your address" in throttled.json()["detail"]
        assert (await _login(owner, member.email)).status_code == 200


class _RecordingHasher:
    """The test hasher, noting the thread each hash and verification ran in."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.threads: list[int] = []

    def hash(self, password: str) -> str:
        self.threads.append(threading.get_ident())
        return self.inner.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.threads.append(threading.get_ident())
        return self.inner.verify(password_hash, password)


async def test_password_hashing_runs_off_the_event_loop(client, admin, monkeypatch):
    recorder = _RecordingHasher(security._hasher)
    monkeypatch.setattr(security, "_hasher", recorder)
    body = {"email": "hashed@example.com", "password": "long enough password", "role": "MEMBER"}
    assert (await client.post("/api/v1/users", json=body, headers=admin.headers)).status_code == 201
    assert (await _login(client, body["email"], "wrong password")).status_code == 401
    assert (await _login(client, body["email"], body["password"])).status_code == 200
    assert (await _login(client, "nobody@example.com")).status_code == 401
    assert len(recorder.threads) == 4
    assert threading.get_ident() not in recorder.threads


async def test_admin_creates_users_and_members_cannot(client, admin, member):
    body = {"email": "new@example.com", "password": "long enough password", "role": "VIEWER"}
    assert (
        await client.post("/api/v1/users", json=body, headers=member.headers)
    ).status_code == 403
    created = await client.post("/api/v1/users", json=body, headers=admin.headers)
    assert created.status_code == 201
    assert created.json()["role"] == "VIEWER"
    duplicate = await client.post("/api/v1/users", json=body, headers=admin.headers)
    assert duplicate.status_code == 409
    assert (await _login(client, "new@example.com", "long enough password")).status_code == 200


async def test_weak_or_malformed_user_input_is_refused(client, admin):
    short = {"email": "a@example.com", "password": "short", "role": "MEMBER"}
    assert (
        await client.post("/api/v1/users", json=short, headers=admin.headers)
    ).status_code == 422
    bad_email = {"email": "not-an-email", "password": "long enough password"}
    response = await client.post("/api/v1/users", json=bad_email, headers=admin.headers)
    assert response.status_code == 422
    assert "email" in response.json()["detail"]


async def test_personal_tokens_are_shown_once_listed_and_revocable(client, member):
    created = await client.post("/api/v1/auth/tokens", json={"name": "ci"}, headers=member.headers)
    assert created.status_code == 201
    token = created.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200

    listed = (await client.get("/api/v1/auth/tokens", headers=member.headers)).json()
    assert "ci" in {t["name"] for t in listed["items"]}
    assert token not in str(listed)

    revoked = await client.delete(
        f"/api/v1/auth/tokens/{created.json()['id']}", headers=member.headers
    )
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_tokens_are_stored_only_as_hashes(client, member, database):
    from sqlalchemy import text

    async with database.transaction(read_only=True) as session:
        stored = (await session.execute(text("SELECT token_hash FROM api_token"))).scalars().all()
    assert stored
    assert member.token not in stored
    assert all(len(value) == 64 for value in stored)


async def test_servers_starting_together_create_one_first_admin(database, settings):
    """Replicas started at once on an empty database: one creates the admin, the others
    start without error (they used to stop with a conflict)."""
    created = await asyncio.gather(*(auth.ensure_first_admin(database, settings) for _ in "abc"))
    assert sum(result is not None for result in created) == 1
    async with database.transaction(read_only=True) as session:
        assert await auth.count(session) == 1
