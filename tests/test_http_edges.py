"""What every request gets: problem+json errors, body limits, request ids, enum casing."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import Depends
from sqlalchemy import text

from berrys.app import create_app
from berrys.core.deps import DatabaseDep, Session
from berrys.services.auth.deps import CurrentUser


async def test_malformed_json_is_a_clear_422(client, member):
    response = await client.post(
        "/api/v1/projects",
        content=b'{"name": ',
        headers={**member.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("Malformed JSON body")


async def test_a_body_that_is_not_utf8_is_a_clear_422(client, member):
    response = await client.post(
        "/api/v1/projects",
        content=b'{"name": "\xff\xfe"}',
        headers={**member.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("Malformed JSON body: not UTF-8 text")
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_a_multipart_body_without_its_boundary_is_a_clear_422(client, admin):
    response = await client.post(
        "/api/v1/agent-templates/import",
        content=b"template",
        headers={**admin.headers, "Content-Type": "multipart/form-data"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Malformed form body: Missing boundary in multipart."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 42}, "name"),
        ({"name": "ok", "metadata": "not an object"}, "metadata"),
        ({"name": "ok", "unexpected": True}, "unexpected"),
        ({}, "name"),
    ],
)
async def test_invalid_fields_are_named_and_nothing_is_written(client, member, body, field):
    response = await client.post("/api/v1/projects", json=body, headers=member.headers)
    assert response.status_code == 422
    problem = response.json()
    assert any(field in error["loc"] for error in problem["errors"]), problem
    assert (await client.get("/api/v1/projects", headers=member.headers)).json()["total"] == 0


async def test_unknown_enum_value_lists_the_allowed_ones(client, member):
    response = await client.post(
        "/api/v1/projects", json={"name": "x", "status": "FINISHED"}, headers=member.headers
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["allowed"] == [
        "DRAFT",
        "PLANNING",
        "IN_PROGRESS",
        "PAUSED",
        "REVIEW",
        "COMPLETED",
        "ARCHIVED",
        "CANCELLED",
    ]


async def test_lowercase_enum_is_accepted_normalised_and_warned_about(client, member):
    response = await client.post(
        "/api/v1/projects", json={"name": "x", "status": "planning"}, headers=member.headers
    )
    assert response.status_code == 201
    assert response.json()["status"] == "PLANNING"
    assert response.headers["deprecation"] == "true"
    assert "'PLANNING'" in response.headers["warning"]

    upper = await client.post(
        "/api/v1/projects", json={"name": "y", "status": "PLANNING"}, headers=member.headers
    )
    assert "deprecation" not in upper.headers

    listed = await client.get("/api/v1/projects?status=Planning", headers=member.headers)
    assert listed.json()["total"] == 2
    assert listed.headers["deprecation"] == "true"


async def test_invalid_uuid_in_path_is_422_not_500(client, member):
    response = await client.get("/api/v1/projects/not-a-uuid", headers=member.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "project_id"]


async def test_bodies_over_the_limit_are_413(client, member, settings):
    big = b'{"name": "x", "description": "' + b"a" * settings.max_body_bytes + b'"}'
    response = await client.post(
        "/api/v1/projects",
        content=big,
        headers={**member.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == settings.max_body_bytes


async def test_streamed_bodies_over_the_limit_are_413(client, member, settings):
    async def chunks():
        yield b'{"name": "x", "description": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    response = await client.post(
        "/api/v1/projects",
        content=chunks(),
        headers={**member.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert (await client.get("/api/v1/projects", headers=member.headers)).json()["total"] == 0


async def test_request_id_is_echoed_or_assigned(client):
    given = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    assigned = await client.get("/health")
    assert len(assigned.headers["x-request-id"]) == 32
    hostile = await client.get("/health", headers={"X-Request-ID": "a b\tc"})
    assert hostile.headers["x-request-id"] != "a b\tc"


async def test_unknown_path_and_method_are_problem_json(client, member):
    missing = await client.get("/api/v1/nothing-here", headers=member.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = await client.put("/api/v1/projects", headers=member.headers)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


async def test_unexpected_errors_are_500_problem_without_a_trace(settings, database, capsys):
    app = create_app(settings, database=database)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/boom", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text
    assert "trace-me" in response.json()["detail"]
    logged = capsys.readouterr().err
    assert "secret internals" in logged
    assert "Traceback" in logged


async def test_health_ready_and_metrics(client):
    health = (await client.get("/health")).json()
    assert health["status"] == "healthy"
    assert health["service"] == "berrys"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "ok"
    metrics = await client.get("/metrics")
    assert (
        'berrys_http_requests_total{method="GET",route="/health/ready",status="200"}'
        in metrics.text
    )
    assert "berrys_http_request_duration_seconds_bucket" in metrics.text


async def test_ready_is_503_naming_the_database_when_it_is_gone(settings, tmp_path):
    from berrys.config import Settings

    broken = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db",
        _env_file=None,
    )
    transport = httpx.ASGITransport(app=create_app(broken))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "failing"
    assert "database" in response.json()["detail"]


async def test_nul_characters_are_422_not_500_anywhere(client, member):
    body = await client.post(
        "/api/v1/projects",
        json={"name": "p\x00", "metadata": {"k\x00": "v"}},
        headers=member.headers,
    )
    assert body.status_code == 422
    assert "NUL" in body.json()["detail"]
    query = await client.get("/api/v1/projects?q=a%00b", headers=member.headers)
    assert query.status_code == 422
    assert (await client.get("/api/v1/projects", headers=member.headers)).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "p", "metadata": {"v": NaN}}',
        b'{"name": "p", "metadata": {"v": [1, Infinity]}}',
        b'{"name": "p", "metadata": {"v": -Infinity}}',
        b'{"name": "p", "metadata": {"deep": {"v": 1e309}}}',
    ],
)
async def test_non_finite_numbers_are_422_and_never_stored(client, member, body):
    response = await client.post(
        "/api/v1/projects",
        content=body,
        headers={**member.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "finite" in response.json()["detail"]
    assert (await client.get("/api/v1/projects", headers=member.headers)).json()["total"] == 0


async def test_non_finite_strings_are_refused_in_float_fields(client, admin):
    for value in ("NaN", "Infinity", "-inf"):
        response = await client.put(
            "/api/v1/models/budgets",
            json={"scope": "PROVIDER", "provider": "OPENAI", "limit_usd": value},
            headers=admin.headers,
        )
        assert response.status_code == 422, (value, response.text)


async def test_a_read_sees_what_its_dependencies_wrote_before_it(settings, database, member):
    """The caller's lookup shares a GET's read transaction only when no dependency takes the
    Database: one that writes first (seeding) must not be hidden by an earlier snapshot."""
    app = create_app(settings, database=database)

    async def write_first(database: DatabaseDep, user: CurrentUser) -> None:
        async with database.transaction() as session:
            await session.execute(
                text("UPDATE project SET description = 'seeded' WHERE owner_id = :owner"),
                {"owner": member.id.hex if database.is_sqlite else member.id},
            )

    async def read_after(session: Session, user: CurrentUser) -> dict[str, str]:
        description = await session.scalar(
            text("SELECT description FROM project WHERE name = 'Seeded'")
        )
        return {"description": description}

    app.add_api_route("/test/seeded", read_after, dependencies=[Depends(write_first)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        created = await http.post(
            "/api/v1/projects", json={"name": "Seeded"}, headers=member.headers
        )
        assert created.status_code == 201
        response = await http.get("/test/seeded", headers=member.headers)
    assert response.json() == {"description": "seeded"}


async def test_every_response_says_nosniff_and_carries_a_csp(client, member):
    responses = [
        await client.get("/api/v1/projects", headers=member.headers),
        await client.get("/api/v1/projects"),  # 401, problem+json
        await client.get("/nowhere"),
        await client.get("/static/berrys.css"),
        await client.get("/login"),
        await client.get("/openapi.json"),
        await client.get("/health"),
        await client.get("/api/v1/projects?q=a%00b", headers=member.headers),  # the middleware's
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "object-src 'none'" in policy
        # The dashboard's own files only: no inline script, no other origin.
        assert "script-src 'self';" in policy, response.url
        assert "unsafe" not in policy


async def test_the_api_docs_get_a_csp_that_lets_them_load(client):
    for path in ("/docs", "/redoc"):
        docs = await client.get(path)
        assert docs.status_code == 200
        assert docs.headers["x-content-type-options"] == "nosniff"
        policy = docs.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "object-src 'none'" in policy
        # Bundled assets (no CDN); an inline start-up script only by its hash.
        scripts = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
        assert "https:" not in policy
        assert "'unsafe-inline'" not in scripts
        for source in re.findall(r'<script src="([^"]+)"', docs.text):
            assert source.startswith("/docs/assets/"), source


_METHODS = {"get", "put", "post", "delete", "patch"}


async def test_every_operation_documents_its_errors_as_problem_json(client):
    document = (await client.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["properties"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if method in _METHODS
    ]
    assert len(operations) > 100
    for path, method, operation in operations:
        responses = operation["responses"]
        expected = {"default"}
        if path.startswith("/api/"):
            expected |= {"404", "409", "422"}
            if operation.get("security"):
                expected |= {"401", "403"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, response in responses.items():
            if status == "default" or int(status) >= 400:
                content = response.get("content", {})
                assert list(content) == ["application/problem+json"], (method, path, status)
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
    login = document["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "401" in login  # a wrong password, though the route needs no token
