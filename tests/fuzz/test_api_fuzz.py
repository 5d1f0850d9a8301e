"""Schemathesis over every operation of the OpenAPI document, in process over ASGI.

Each operation gets the examples, coverage and fuzzing phases with an admin's token, then
generated cases with a member's; a stateful run chains operations through the links
Schemathesis infers from the document (a created project's id into every ``{project_id}``
route...). Every response must be no server error, a status the operation lists, a
documented content type and a body that matches its schema. Deterministic: a fixed seed,
no example database, so CI sends the same requests every time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import engine
from schemathesis.engine import events

from berrys.app import create_app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.llm import service as llm

SEED = 20261206
# Cases per operation in the fuzzing phase (the coverage phase adds its own: every bound,
# every missing or wrong-typed field), and the stateful run's scenarios and steps. Measured
# to keep the three tests within about four minutes per database on two cores.
ADMIN_EXAMPLES = 5
MEMBER_EXAMPLES = 5
STATEFUL_SCENARIOS = 60
STATEFUL_STEPS = 8

CHECKS = {
    "enabled": False,
    "not_a_server_error": {"enabled": True},
    "status_code_conformance": {"enabled": True},
    "content_type_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    "status_is_listed": {"enabled": True},
}
# A status the document covers only through ``default`` is one it does not name; of those,
# only these are what ``default`` promises (a 500 is a failure of its own).
DEFAULT_STATUSES = frozenset({402, 413, 429, 503, 504})
OPERATIONS = [
    # A run's events stream until the run ends (runs stay queued here): what arrived within
    # a second is what is checked.
    {"include-path": "/api/v1/runs/{run_id}/events", "request-timeout": 1},
    # So do a run's AG-UI events (up to the end of an AG-UI run), and the AG-UI agent
    # endpoint's once it has started a run or answered its interrupts.
    {"include-path": "/api/v1/runs/{run_id}/agui", "request-timeout": 1},
    {"include-path": "/api/v1/agui", "request-timeout": 1},
    # A chat's answer comes from a scripted model (see _call), which cannot know the shape a
    # generated response_schema asks for: after its retries that chat is the documented 503
    # "No model could answer", as it would be with a real model that never fits the schema.
    {
        "include-path": "/api/v1/models/chat",
        "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
    },
]


def _config(max_examples: int, *, phases: dict[str, Any]) -> schemathesis.Config:
    """Only the phases named in ``phases`` differ from Schemathesis' defaults (examples,
    coverage, fuzzing, stateful all on)."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["all"],
            "cache": {"enabled": False},
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "phases": phases,
            "checks": CHECKS,
            "operations": OPERATIONS,
        }
    )


@schemathesis.check
def status_is_listed(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """The status is one the operation names, or one that ``default`` stands for."""
    operation = _answering_operation(case)
    listed = {405} if operation is None else _listed_statuses(operation)
    if response.status_code not in listed | DEFAULT_STATUSES:
        label = operation.label if operation is not None else f"{case.method} {case.path}"
        raise AssertionError(
            f"{label} answered {response.status_code}; it lists {sorted(listed)} "
            f"(and default for {sorted(DEFAULT_STATUSES)})"
        )
    return None


def _listed_statuses(operation: schemathesis.APIOperation) -> set[int]:
    return {int(code) for code in operation.responses.status_codes if code.isdigit()}


def _answering_operation(case: schemathesis.Case) -> schemathesis.APIOperation | None:
    """The operation that serves the case's method and path. The coverage phase also sends
    methods an operation does not have: GET /tools/batch is GET /tools/{tool_id}, and a
    method no route of the path has is 405."""
    if case.method.upper() == case.operation.method.upper():
        return case.operation
    path = case.formatted_path
    for template, methods in case.operation.schema.raw_schema["paths"].items():
        pattern = "/".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in template.split("/")
        )
        if case.method.lower() in methods and re.fullmatch(pattern, path):
            return case.operation.schema[template][case.method.upper()]
    return None


# Never a process nor a connection elsewhere: an admin registers MCP servers (a command or a
# URL) and models (a server URL), and refresh, health, a model test or a chat then starts or
# reaches them. The generated bodies keep every other field; a command is one that does not
# exist, a URL a closed port on this machine.
_HARMLESS = {
    "command": "/nonexistent/berrys-fuzz-mcp-server",
    "url": "http://127.0.0.1:9/mcp",
    "base_url": "http://127.0.0.1:9/v1",
}


def _disarm(case: schemathesis.Case) -> None:
    if isinstance(case.body, dict):
        for field, harmless in _HARMLESS.items():
            if isinstance(case.body.get(field), str):
                case.body[field] = harmless


def _call(case: schemathesis.Case, headers: dict[str, str], app: FastAPI) -> Any:
    """Send the case to ``app`` as the caller of ``headers`` and check the answer."""
    _disarm(case)
    if case.operation.label == "POST /api/v1/auth/logout":
        headers = _throwaway_token(case, headers)
    if case.operation.label == "POST /api/v1/models/chat":
        # A chat needs a model: the tests configure none (RULES answers only the platform's
        # own requests), so a scripted one answers, just for this request.
        models = app.state.services.models
        with llm.script(models, "fuzz-chat", ["A scripted answer."] * 3):
            return case.call_and_validate(headers=headers)
    return case.call_and_validate(headers=headers)


def _throwaway_token(case: schemathesis.Case, headers: dict[str, str]) -> dict[str, str]:
    """Logout revokes the token it is sent with: a fresh one, not the run's own."""
    create = case.operation.schema["/api/v1/auth/tokens"]["POST"]
    response = create.Case(body={"name": "fuzz logout"}).call(headers=headers)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def fuzz_app(settings: Settings, database: Database) -> FastAPI:
    """The app as ``berrys serve`` runs it (lifespan included) on the test database, with a
    ``Database`` of its own: Schemathesis drives it from its own event loop thread.

    No embedded worker: runs stay queued, so each answer depends on the requests alone.
    The hashing embedder: search embeds whatever text the fuzzer stored, and the bundled
    model takes seconds for a batch of long texts on two cores."""
    fuzz_settings = settings.model_copy(
        update={"worker_embedded": False, "embedding_model": "hashing"}
    )
    return create_app(fuzz_settings, database=Database(settings.resolved_database_url))


async def _login(client, actor) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A session token from the login route: DELETE /auth/tokens/{id} cannot revoke it."""
    response = await client.post(
        "/api/v1/auth/login", json={"email": actor.email, "password": "correct horse battery"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def admin_headers(client, admin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return await _login(client, admin)


@pytest.fixture
async def member_headers(client, member) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return await _login(client, member)


@pytest.fixture
def admin_schema(fuzz_app: FastAPI) -> schemathesis.BaseSchema:
    # The coverage phase also sends each path the methods it does not have: those the API
    # uses elsewhere, and TRACE for the rest (OPTIONS, QUERY... answer alike, 405).
    unexpected = ["get", "put", "post", "patch", "delete", "trace"]
    config = _config(ADMIN_EXAMPLES, phases={"coverage": {"unexpected-methods": unexpected}})
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=config)


@pytest.fixture
def member_schema(fuzz_app: FastAPI) -> schemathesis.BaseSchema:
    """Generated cases only: the coverage phase's are the admin's, refused sooner."""
    phases = {"examples": {"enabled": False}, "coverage": {"enabled": False}}
    config = _config(MEMBER_EXAMPLES, phases=phases)
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=config)


admin_api = schemathesis.pytest.from_fixture("admin_schema")
member_api = schemathesis.pytest.from_fixture("member_schema")


@admin_api.parametrize()
def test_every_operation_as_admin(
    case: schemathesis.Case, admin_headers: dict[str, str], fuzz_app: FastAPI
) -> None:
    _call(case, admin_headers, fuzz_app)


@member_api.parametrize()
def test_every_operation_as_member(
    case: schemathesis.Case, member_headers: dict[str, str], fuzz_app: FastAPI
) -> None:
    _call(case, member_headers, fuzz_app)


@pytest.fixture
def stateful_schema(
    fuzz_app: FastAPI, admin_headers: dict[str, str]
) -> Iterator[schemathesis.BaseSchema]:
    """The stateful phase alone, run by Schemathesis' engine as ``schemathesis run`` does
    (it starts scenarios anew when the API's state makes a replay differ)."""
    config = _config(
        STATEFUL_SCENARIOS,
        phases={
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "fuzzing": {"enabled": False},
            "stateful": {"max-steps": STATEFUL_STEPS},
        },
    )
    config.projects.default.update(headers=admin_headers)
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=config)
    models = fuzz_app.state.services.models
    scripted_chat: list[Any] = []

    # The engine's calls go through these hooks (only global ones exist), not ``_call``.
    def before_call(context: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
        _disarm(case)
        if case.operation.label == "POST /api/v1/models/chat":
            scripted_chat.append(llm.script(models, "fuzz-chat", ["A scripted answer."] * 3))

    def after_call(context: Any, case: schemathesis.Case, response: Any) -> None:
        while scripted_chat:
            scripted_chat.pop().uninstall()

    schemathesis.hook(before_call)
    schemathesis.hook(after_call)
    # Logout would revoke the run's own token (the other tests send it a throwaway one).
    yield schema.exclude(method="POST", path="/api/v1/auth/logout")
    schemathesis.hooks.unregister(before_call)
    schemathesis.hooks.unregister(after_call)


def test_linked_operations_as_admin(stateful_schema: schemathesis.BaseSchema) -> None:
    """Sequences of calls where each uses what an earlier one answered (ids above all)."""
    scenarios = [
        event
        for event in engine.from_schema(stateful_schema).execute()
        if isinstance(event, events.ScenarioFinished) and event.status != engine.Status.SKIP
    ]
    failures = {
        f"{check.name}: {check.failure_info.failure.title}\n{check.failure_info.code_sample}"
        for event in scenarios
        for checks in event.recorder.checks.values()
        for check in checks
        if check.failure_info is not None
    }
    assert scenarios
    assert sorted(failures) == []
