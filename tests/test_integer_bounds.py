"""Every integer a client sends is bounded in the contract: out of range is a 422 naming the
range, never a database overflow (500)."""

from __future__ import annotations

from typing import Any

import pytest

HUGE = 99999999999999999999  # past a 64-bit integer: OverflowError in the database driver


def _integers(schema: dict[str, Any], components: dict[str, Any], path: str, seen: set[str]):
    """Yield (path, schema) for every integer reachable from a request schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen = {*seen, name}
        yield from _integers(components[name], components, name, seen)
        return
    if schema.get("type") == "integer":
        yield path, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _integers(option, components, path, seen)
    for name, prop in schema.get("properties", {}).items():
        yield from _integers(prop, components, f"{path}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _integers(schema[key], components, f"{path}[]", seen)


async def test_every_integer_in_a_request_has_a_maximum_in_the_schema(client):
    document = (await client.get("/openapi.json")).json()
    components = document["components"]["schemas"]
    unbounded = []
    for route, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {route}"
            for parameter in operation.get("parameters", []):
                for path, schema in _integers(
                    parameter.get("schema", {}), components, parameter["name"], set()
                ):
                    if "maximum" not in schema and "exclusiveMaximum" not in schema:
                        unbounded.append(f"{where} {parameter['in']} {path}")
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                for path, schema in _integers(media.get("schema", {}), components, "body", set()):
                    if "maximum" not in schema and "exclusiveMaximum" not in schema:
                        unbounded.append(f"{where} {path}")
    assert unbounded == []


def _assert_out_of_range(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["loc"][-1] == field
    assert error["type"] == "less_than_equal"
    assert "less than or equal to" in error["msg"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects",
        "/api/v1/agent-templates",
        "/api/v1/tools",
        "/api/v1/models",
        "/api/v1/interactions",
    ],
)
async def test_a_huge_list_offset_is_422(client, member, url):
    response = await client.get(url, params={"offset": HUGE}, headers=member.headers)
    _assert_out_of_range(response, "offset")


async def test_a_huge_search_offset_is_422(client, member):
    response = await client.get(
        "/api/v1/search/similar", params={"q": "tea", "offset": HUGE}, headers=member.headers
    )
    _assert_out_of_range(response, "offset")


async def test_a_huge_template_version_is_422(client, member):
    template = await client.post(
        "/api/v1/agent-templates",
        json={"name": "Reviewer", "agent_type": "AUDITOR", "definition": {"role": "Reviewer"}},
        headers=member.headers,
    )
    assert template.status_code == 201, template.text
    url = f"/api/v1/agent-templates/{template.json()['id']}"
    revert = await client.post(f"{url}/revert", json={"version": HUGE}, headers=member.headers)
    _assert_out_of_range(revert, "version")
    version = await client.get(f"{url}/versions/{HUGE}", headers=member.headers)
    _assert_out_of_range(version, "version")
    compare = await client.get(
        f"{url}/compare", params={"from_version": 1, "to_version": HUGE}, headers=member.headers
    )
    _assert_out_of_range(compare, "to_version")

    project = await client.post("/api/v1/projects", json={"name": "P"}, headers=member.headers)
    agent = await client.post(
        f"/api/v1/projects/{project.json()['id']}/agents",
        json={"name": "R", "template_id": template.json()["id"], "template_version": HUGE},
        headers=member.headers,
    )
    _assert_out_of_range(agent, "template_version")


async def test_a_huge_context_window_is_422(client, admin):
    response = await client.post(
        "/api/v1/models",
        json={"provider": "OPENAI", "name": "big", "context_window": HUGE},
        headers=admin.headers,
    )
    _assert_out_of_range(response, "context_window")
