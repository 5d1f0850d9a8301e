"""Berrys as an A2A agent, through the SDK's own client against a real ``berrys serve``:
the card, a description followed to the plan's approval (input-required), the approval
answered on the task, the run followed to its end and its deliverables read as artifacts;
what another user and a caller without a token get."""

from __future__ import annotations

import uuid

import httpx
import pytest
from a2a.client import A2ACardResolver
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from google.protobuf.struct_pb2 import Struct
from tests.a2a_edge.conftest import Served, a2a_client
from tests.mcp_server.flow import DESCRIPTION


def _message(text: str, task_id: str = "") -> Message:
    return Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)], task_id=task_id
    )


def _state_of(event: StreamResponse) -> TaskState:
    if event.HasField("task"):
        return event.task.status.state
    return event.status_update.status.state


async def test_the_card_names_the_endpoint_skills_and_bearer_auth(served: Served) -> None:
    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, served.server.url).get_agent_card()
    assert card.name == "Berrys"
    assert card.supported_interfaces[0].url == f"{served.server.url}/a2a"
    assert card.supported_interfaces[0].protocol_binding == "JSONRPC"
    assert {skill.id for skill in card.skills} == {"run_project", "project_status"}
    assert card.security_schemes["bearer"].http_auth_security_scheme.scheme == "Bearer"
    assert card.capabilities.streaming


async def test_a_description_to_deliverables_with_the_plan_approved_on_the_task(
    served: Served,
) -> None:
    options = Struct()
    options.update({"require_plan_approval": True})
    async with a2a_client(served.server.url, served.member.token) as client:
        request = SendMessageRequest(message=_message(DESCRIPTION), metadata=options)
        events = [event async for event in client.send_message(request)]
        task_id = events[0].task.id
        assert _state_of(events[0]) in {TaskState.TASK_STATE_INPUT_REQUIRED}
        question = events[-1]
        assert _state_of(question) == TaskState.TASK_STATE_INPUT_REQUIRED
        asked = (question.task if question.HasField("task") else question.status_update).status
        assert "approve" in asked.message.parts[0].text

        answer = SendMessageRequest(message=_message("approve, looks right", task_id))
        followed = [event async for event in client.send_message(answer)]
        assert _state_of(followed[-1]) == TaskState.TASK_STATE_COMPLETED
        streamed = [e.artifact_update.artifact for e in followed if e.HasField("artifact_update")]
        assert any(artifact.name.endswith(".md") for artifact in streamed)
        assert all(artifact.parts[0].filename == artifact.name for artifact in streamed)

        task = await client.get_task(GetTaskRequest(id=task_id))
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert {a.artifact_id for a in task.artifacts} == {a.artifact_id for a in streamed}
        assert all(artifact.parts[0].text for artifact in task.artifacts)
        if task.metadata["berrys_status"] == "COMPLETED_WITH_REVIEW":
            # Offline drafts wait for a person: said, never a silent "completed".
            assert "need a person's review" in task.status.message.parts[0].text

        resubscribed = [e async for e in client.subscribe(SubscribeToTaskRequest(id=task_id))]
        assert [e.task.id for e in resubscribed] == [task_id]

    async with httpx.AsyncClient(base_url=served.server.url, headers=served.member.headers) as http:
        answered = await http.get(
            "/api/v1/interactions", params={"run_id": task_id, "status": "RESPONDED"}
        )
    approval = answered.json()["items"][0]
    assert approval["responded_by"] == str(served.member.id)
    assert approval["detail"]["approved"] is True


async def test_another_users_task_is_not_found(served: Served) -> None:
    async with a2a_client(served.server.url, served.member.token) as client:
        started = SendMessageRequest(message=_message(DESCRIPTION))
        events = [e async for e in client.send_message(started)]
    task_id = events[0].task.id
    async with a2a_client(served.server.url, served.other.token) as client:
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id=task_id))
        answer = client.send_message(SendMessageRequest(message=_message("approve", task_id)))
        with pytest.raises(TaskNotFoundError):
            await anext(answer)
        with pytest.raises(TaskNotFoundError):
            await client.cancel_task(CancelTaskRequest(id=task_id))


async def test_no_token_is_401(served: Served) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": str(uuid.uuid4())}}
    async with httpx.AsyncClient(base_url=served.server.url) as http:
        missing = await http.post("/a2a", json=body)
        invalid = await http.post("/a2a", json=body, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert invalid.status_code == 401
    assert invalid.json()["detail"] == "Invalid, expired or revoked token"


async def test_cancelling_the_task_cancels_the_run(served: Served) -> None:
    options = Struct()
    options.update({"require_plan_approval": True})
    async with a2a_client(served.server.url, served.member.token) as client:
        started = SendMessageRequest(message=_message(DESCRIPTION), metadata=options)
        events = [event async for event in client.send_message(started)]
        task_id = events[0].task.id
        cancelled = await client.cancel_task(CancelTaskRequest(id=task_id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        assert cancelled.metadata["berrys_status"] == "CANCELLED"
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=task_id))
