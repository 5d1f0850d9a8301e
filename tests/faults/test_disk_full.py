"""The disk under an SQLite database fills up: a write is refused with a 503 that says so, the
database stays intact with everything acknowledged before, and writes work again once there
is room, without a restart.

The full disk is real: the database lives on a small tmpfs mounted for the test, and a file
fills what is left of it, as another program on the server would. Mounting needs root (or
CAP_SYS_ADMIN); without it the test is skipped."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Actor, create_actor

from berrys.app import create_app
from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth.contracts import UserRole

DISK_BYTES = 8 * 1024 * 1024
CHUNK = 1024 * 1024  # the filler's first writes; then smaller ones, down to 512 bytes
EARLIER = 5  # projects written before the disk fills


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of its own (a real filesystem that can fill up)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
async def on_disk(disk: Path) -> AsyncIterator[Database]:
    """A database of its own: an SQLite file on the small disk."""
    database = Database(f"sqlite+aiosqlite:///{disk / 'berrys.db'}")
    await migrate.upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
async def client(settings: Settings, on_disk: Database, disk: Path) -> AsyncIterator:
    app = create_app(
        settings.model_copy(update={"data_dir": disk, "database_url": on_disk.url}),
        database=on_disk,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def member(on_disk: Database) -> Actor:
    return await create_actor(on_disk, UserRole.MEMBER)


@pytest.fixture
async def admin(on_disk: Database) -> Actor:
    return await create_actor(on_disk, UserRole.ADMIN)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem has no room left, even for a small write."""
    filler = disk / "filler.bin"
    size = CHUNK
    with filler.open("wb", buffering=0) as handle:
        while size >= 512:
            try:
                handle.write(os.urandom(size))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                size //= 8
    return filler


def project(index: int) -> dict[str, str]:
    # Incompressible and near the 20,000-character bound: every write needs fresh pages.
    return {"name": f"Project {index}", "description": os.urandom(9000).hex()[:18000]}


async def test_a_full_disk_is_a_503_and_leaves_the_database_intact(
    client, member, admin, disk
) -> None:
    acknowledged = []
    for index in range(EARLIER):
        before = await client.post("/api/v1/projects", json=project(index), headers=member.headers)
        assert before.status_code == 201, before.text
        acknowledged.append(before.json()["id"])
    audited = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()["entries"]
    filler = fill(disk)

    refused = None
    for index in range(EARLIER, 400):  # the WAL takes what it already holds; then it needs pages
        answer = await client.post("/api/v1/projects", json=project(index), headers=member.headers)
        if answer.status_code != 201:
            refused = answer
            break
        acknowledged.append(answer.json()["id"])
    assert refused is not None, "the disk never filled up"
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["title"] == "Service unavailable"
    assert "disk is full" in problem["detail"]
    assert "nothing was saved" in problem["detail"]

    # Reading still works, and everything acknowledged is there, whole.
    listed = await client.get("/api/v1/projects?limit=200", headers=member.headers)
    assert listed.status_code == 200, listed.text
    assert sorted(p["id"] for p in listed.json()["items"]) == sorted(acknowledged)
    with sqlite3.connect(disk / "berrys.db") as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # Room again: the same server writes at once, and the audit chain holds.
    filler.unlink()
    again = await client.post("/api/v1/projects", json=project(999), headers=member.headers)
    assert again.status_code == 201, again.text
    assert again.json()["name"] == "Project 999"
    verified = (await client.get("/api/v1/audit/verify", headers=admin.headers)).json()
    assert verified["valid"] is True, verified
    # One entry per project created since (and the one after), none for the refused one.
    assert verified["entries"] == audited + len(acknowledged) - EARLIER + 1
    print(
        f"disk full: writes accepted after the fill={len(acknowledged) - EARLIER}, then 503; "
        f"integrity ok, {len(acknowledged)} acknowledged projects kept, writes again once freed"
    )
