"""The ``berrys`` command as a user runs it: serve, log in with the printed password, and the
admin commands; configuration mistakes get one clear line."""

from __future__ import annotations

import re

import httpx
from tests.e2e.processes import berrys_env, run_berrys, serving


def test_serve_prints_a_one_time_admin_password_that_logs_in(server):
    match = re.search(r"Email: (\S+)\s+Password: (\S+)", server.output())
    assert match, server.output()
    email, password = match.groups()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        token = http.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        project = http.post("/api/v1/projects", json={"name": "Bakery"}, headers=headers).json()
        for status in ("PLANNING", "IN_PROGRESS", "REVIEW", "COMPLETED"):
            moved = http.post(
                f"/api/v1/projects/{project['id']}/transitions",
                json={"to_status": status},
                headers=headers,
            )
            assert moved.status_code == 200, moved.text
        history = http.get(f"/api/v1/projects/{project['id']}/history", headers=headers).json()
        assert [h["to_status"] for h in history["items"]] == [
            "DRAFT",
            "PLANNING",
            "IN_PROGRESS",
            "REVIEW",
            "COMPLETED",
        ]
        trail = http.get(f"/api/v1/audit?project_id={project['id']}", headers=headers).json()
        assert trail["total"] == 5
        assert http.get("/api/v1/audit/verify", headers=headers).json()["valid"] is True


def test_admin_commands_on_a_database_migrated_by_command(tmp_path):
    env = berrys_env(tmp_path)
    created = run_berrys(
        "user", "create", "--email", "someone@example.com", env=env, stdin="pw-long-enough\n"
    )
    # An un-migrated database is refused with the command that fixes it.
    assert created.returncode != 0
    assert "berrys db upgrade" in created.stdout + created.stderr

    assert run_berrys("db", "upgrade", env=env).returncode == 0
    current = run_berrys("db", "current", env=env)
    assert current.returncode == 0
    assert "up to date" in current.stdout

    created = run_berrys(
        "user",
        "create",
        "--email",
        "Someone@Example.com",
        "--role",
        "viewer",
        env=env,
        stdin="pw-long-enough\n",
    )
    assert created.returncode == 0, created.stderr
    assert "VIEWER someone@example.com" in created.stdout
    assert "pw-long-enough" not in created.stdout

    token = run_berrys("token", "create", "--email", "someone@example.com", env=env)
    assert token.returncode == 0
    assert token.stdout.strip().startswith("brs_")

    duplicate = run_berrys(
        "user", "create", "--email", "someone@example.com", env=env, stdin="pw-long-enough\n"
    )
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr


def test_invalid_configuration_is_one_clear_line(tmp_path):
    env = berrys_env(
        tmp_path, BERRYS_DATABASE_URL="mysql://root@localhost/db", BERRYS_TOKEN_TTL_HOURS="-1"
    )
    result = run_berrys("db", "current", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "BERRYS_DATABASE_URL" in result.stderr
    assert "unsupported scheme" in result.stderr
    assert "BERRYS_TOKEN_TTL_HOURS" in result.stderr


def test_serve_with_two_workers_shares_logins_and_revocations(tmp_path):
    """Each worker process has its own engine; a token works, and stops working, in all."""
    env = berrys_env(
        tmp_path, BERRYS_ADMIN_EMAIL="admin@example.com", BERRYS_ADMIN_PASSWORD="pw-long-enough"
    )
    with serving(tmp_path, "--workers", "2", env=env) as server:
        url = server.url
        login = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"email": "admin@example.com", "password": "pw-long-enough"},
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        project = httpx.post(f"{url}/api/v1/projects", json={"name": "Two"}, headers=headers)
        assert project.status_code == 201, project.text
        path = f"{url}/api/v1/projects/{project.json()['id']}"
        # A new connection each time, so the kernel spreads them over both workers.
        assert {httpx.get(path, headers=headers).status_code for _ in range(20)} == {200}
        assert httpx.post(f"{url}/api/v1/auth/logout", headers=headers).status_code == 204
        assert {httpx.get(path, headers=headers).status_code for _ in range(20)} == {401}
