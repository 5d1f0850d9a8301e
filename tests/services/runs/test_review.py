"""Honest status: a task whose deliverable needs a person ends NEEDS_REVIEW, its run
COMPLETED_WITH_REVIEW (the project stays IN_PROGRESS), and a person accepts, edits or sends
it back over REST and in the dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.e2e.test_dashboard_http import _login, _parse, _token
from tests.services.runs.conftest import (
    by_key,
    create_run,
    deps,
    tasks,
    wait_for_status,
    wait_for_task,
    wait_until,
)
from tests.services.runs.reviewing import ReviewingExecutor

from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserRole
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectStatus
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import ReviewDecision, RunStatus, TaskRunStatus

T = TaskRunStatus
TODOS = "4 TODOs for a person"


@pytest.fixture
def executor(settings) -> ReviewingExecutor:  # type: ignore[no-untyped-def]
    return ReviewingExecutor(settings.workspaces_dir)


async def _events(database, run_id) -> list[dict]:
    async with database.transaction(read_only=True) as session:
        return await runs.events(session, run_id=run_id, limit=10_000)


async def _in_progress(database, project, member) -> None:
    """The project where a workflow's run leaves it while the run works."""
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=member.email)
        for status in (ProjectStatus.PLANNING, ProjectStatus.IN_PROGRESS):
            await projects.transition(
                session, project_id=project.id, to_status=status, user=user, reason="test"
            )


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _inside(path: str, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def _review_url(run_id, task_id) -> str:
    return f"/api/v1/runs/{run_id}/tasks/{task_id}/review"


async def test_a_draft_that_needs_review_is_done_for_scheduling_but_not_final(
    database, project, client, member, other_member, executor, start_worker
):
    run = await create_run(
        database, project, tasks("A", "B", A={"review": [TODOS]}), deps("A>B"), actor_id=member.id
    )
    start_worker(executor)
    ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
    a, b = by_key(ended)["A"], by_key(ended)["B"]
    assert a.status == T.NEEDS_REVIEW
    assert a.review_reasons == [TODOS]
    assert a.output["review_reasons"] == [TODOS]
    # The successor went on with the draft.
    assert b.status == T.COMPLETED
    assert b.review_reasons == []
    assert b.output["upstream"] == {"A": a.output["text"]}
    assert ended.finished_at is not None
    needs = [e for e in await _events(database, run.id) if e["type"] == "TASK_NEEDS_REVIEW"]
    assert [(e["task_run_id"], e["payload"]["reasons"]) for e in needs] == [(str(a.id), [TODOS])]

    got = await client.get(f"/api/v1/runs/{run.id}", headers=member.headers)
    assert got.json()["status"] == "COMPLETED_WITH_REVIEW"
    shown = {t["key"]: t for t in got.json()["task_runs"]}
    assert shown["A"]["status"] == "NEEDS_REVIEW"
    assert shown["A"]["review_reasons"] == [TODOS]

    summary = (await client.get(f"/api/v1/runs/{run.id}/review", headers=member.headers)).json()
    assert (summary["final"], summary["needs_review"], summary["not_done"]) == (1, 1, 0)
    assert summary["reasons"] == {TODOS: 1}
    assert summary["offline_drafts"] == 1
    assert any("BERRYS_OPENAI_BASE_URL" in hint for hint in summary["make_final"])
    assert any("berrys review accept" in hint for hint in summary["make_final"])
    assert summary["tasks"][0]["artifacts"][0]["path"].endswith("A.md")

    waiting = (await client.get("/api/v1/reviews", headers=member.headers)).json()
    assert [item["task_run_id"] for item in waiting["items"]] == [str(a.id)]
    # Someone else sees none of it.
    assert (await client.get("/api/v1/reviews", headers=other_member.headers)).json() == {
        "items": [],
        "total": 0,
    }
    other = await client.get(f"/api/v1/runs/{run.id}/review", headers=other_member.headers)
    assert other.status_code == 404
    theirs = await client.get(
        "/api/v1/reviews", params={"project_id": str(project.id)}, headers=other_member.headers
    )
    assert theirs.status_code == 404

    # The run has ended: its event stream says so and stops.
    stream = await client.get(f"/api/v1/runs/{run.id}/events", headers=member.headers)
    assert "event: TASK_NEEDS_REVIEW" in stream.text
    last = stream.text.strip().splitlines()
    assert last[-2] == "event: end"
    assert json.loads(last[-1].removeprefix("data: "))["status"] == "COMPLETED_WITH_REVIEW"


async def test_accepting_the_last_draft_completes_the_run_and_the_project(
    database, project, client, member, other_member, make_actor, executor, start_worker
):
    await _in_progress(database, project, member)
    run = await create_run(
        database,
        project,
        tasks("A", "B", A={"review": [TODOS]}, B={"review": ["quality gate: prompt echo"]}),
        actor_id=member.id,
        options={"workflow": True},
    )
    start_worker(executor)
    ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
    a, b = by_key(ended)["A"], by_key(ended)["B"]
    project_url = f"/api/v1/projects/{project.id}"
    assert (await client.get(project_url, headers=member.headers)).json()["status"] == "IN_PROGRESS"

    # Nobody else decides: someone else's run is not found, a viewer may only read.
    accept = {"action": "ACCEPT"}
    foreign = await client.post(
        _review_url(run.id, a.id), json=accept, headers=other_member.headers
    )
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    viewer = await make_actor(UserRole.VIEWER)
    refused = await client.post(_review_url(run.id, a.id), json=accept, headers=viewer.headers)
    assert refused.status_code == 403

    first = await client.post(
        _review_url(run.id, a.id), json={**accept, "comment": "fine"}, headers=member.headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "COMPLETED_WITH_REVIEW"
    task = next(t for t in first.json()["task_runs"] if t["id"] == str(a.id))
    assert task["status"] == "COMPLETED"
    assert task["review_reasons"] == []
    assert task["output"]["reviewed"]["action"] == "ACCEPT"
    assert task["output"]["reviewed"]["reasons"] == [TODOS]
    assert (await client.get(project_url, headers=member.headers)).json()["status"] == "IN_PROGRESS"

    # An accepted task is final: a second decision names what is allowed (nothing).
    again = await client.post(_review_url(run.id, a.id), json=accept, headers=member.headers)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["allowed"] == []

    last = await client.post(
        _review_url(run.id, b.id), json={"action": "accept"}, headers=member.headers
    )
    assert last.status_code == 200, last.text
    assert last.headers.get("Deprecation")  # lowercase enum values are answered, deprecated
    assert last.json()["status"] == "COMPLETED"
    assert (await client.get(project_url, headers=member.headers)).json()["status"] == "COMPLETED"

    kinds = [(e["type"], e["task_run_id"]) for e in await _events(database, run.id)]
    assert ("TASK_ACCEPTED", str(a.id)) in kinds
    assert ("TASK_ACCEPTED", str(b.id)) in kinds
    statuses = [
        e["payload"]["to"] for e in await _events(database, run.id) if e["type"] == "RUN_STATUS"
    ]
    assert statuses[-2:] == ["COMPLETED_WITH_REVIEW", "COMPLETED"]
    audit = await client.get(
        "/api/v1/audit", params={"entity_type": "task_run"}, headers=member.headers
    )
    entries = {entry["entity_id"]: entry for entry in audit.json()["items"]}
    assert entries[str(a.id)]["before"] == {"status": "NEEDS_REVIEW", "reasons": [TODOS]}
    assert entries[str(a.id)]["after"]["action"] == "ACCEPT"
    assert entries[str(a.id)]["actor_id"] == str(member.id)


async def test_an_edit_replaces_the_artifact_and_its_file(
    database, project, client, member, settings, executor, start_worker
):
    run = await create_run(database, project, tasks("A", A={"review": [TODOS]}), actor_id=member.id)
    start_worker(executor)
    ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
    a = by_key(ended)["A"]
    url = _review_url(run.id, a.id)
    missing = await client.post(url, json={"action": "EDIT"}, headers=member.headers)
    assert missing.status_code == 422
    assert "content" in missing.json()["detail"]

    mine = "# A\n\nWritten by a person, every TODO filled in.\n"
    edited = await client.post(
        url, json={"action": "EDIT", "content": mine}, headers=member.headers
    )
    assert edited.status_code == 200, edited.text
    run_out = edited.json()
    assert run_out["status"] == "COMPLETED"
    task = next(t for t in run_out["task_runs"] if t["id"] == str(a.id))
    assert task["status"] == "COMPLETED"
    assert task["output"]["text"] == mine
    assert task["output"]["reviewed"]["action"] == "EDIT"
    (artifact,) = run_out["artifacts"]
    assert artifact["content"] == mine
    assert artifact["produced_by"] == f"person/{member.email}"
    assert _read(artifact["path"]) == mine
    assert _inside(artifact["path"], settings.data_dir)
    kinds = [e["type"] for e in await _events(database, run.id)]
    assert "TASK_EDITED" in kinds


async def test_sending_back_runs_the_task_again_with_the_feedback(
    database, project, client, member, executor, start_worker
):
    run = await create_run(
        database, project, tasks("A", "B", A={"review": [TODOS]}), deps("A>B"), actor_id=member.id
    )
    start_worker(executor)
    ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
    a = by_key(ended)["A"]
    url = _review_url(run.id, a.id)
    silent = await client.post(url, json={"action": "SEND_BACK"}, headers=member.headers)
    assert silent.status_code == 422

    feedback = "Name the bakery and give the launch date."
    sent = await client.post(
        url, json={"action": "SEND_BACK", "feedback": feedback}, headers=member.headers
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "RUNNING"
    assert next(t for t in sent.json()["task_runs"] if t["id"] == str(a.id))["attempt"] == 2

    final = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    again = by_key(final)["A"]
    assert again.status == T.COMPLETED
    assert again.attempt == 2
    assert f"Changed after feedback: {feedback}" in again.output["text"]
    # Every executor hears it among the answers from people.
    assert any(feedback in answer for answer in again.output["answers"].values())
    # The successor is not run again; the draft's artifact gave way to the new one.
    assert executor.executions == {"A": 2, "B": 1}
    (artifact,) = [x for x in final.artifacts if x.task_run_id == a.id]
    assert artifact.content == again.output["text"]
    assert _read(artifact.path) == again.output["text"]
    events = await _events(database, run.id)
    sent_back = [e for e in events if e["type"] == "TASK_SENT_BACK"]
    assert sent_back[0]["payload"] == {"by": str(member.id), "feedback": feedback}
    statuses = [e["payload"]["to"] for e in events if e["type"] == "RUN_STATUS"]
    assert statuses[-3:] == ["COMPLETED_WITH_REVIEW", "RUNNING", "COMPLETED"]


async def test_a_draft_held_by_a_finish_dependency_needs_review_once_released(
    database, project, executor, start_worker
):
    # B may not finish before A (FF): its output waits, then it needs review, not COMPLETED.
    run = await create_run(
        database, project, tasks("A", "B", A={"hold": True}, B={"review": [TODOS]}), deps("A>B:FF")
    )
    start_worker(executor)
    await wait_until_output_ready(database, run.id)
    executor.release("A")
    ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
    b = by_key(ended)["B"]
    assert b.status == T.NEEDS_REVIEW
    assert b.review_reasons == [TODOS]
    kinds = [(e["type"], e["task_run_id"]) for e in await _events(database, run.id)]
    assert kinds.index(("TASK_OUTPUT_READY", str(b.id))) < kinds.index(
        ("TASK_NEEDS_REVIEW", str(b.id))
    )


async def wait_until_output_ready(database, run_id) -> None:
    async def _ready() -> bool:
        return any(e["type"] == "TASK_OUTPUT_READY" for e in await _events(database, run_id))

    await wait_until(_ready, message="an output held back")


async def test_a_cancelled_run_takes_an_accept_but_sends_nothing_back(
    database, project, client, member, executor, start_worker
):
    run = await create_run(
        database,
        project,
        tasks("A", "B", A={"review": [TODOS]}, B={"hold": True}),
        actor_id=member.id,
    )
    start_worker(executor)
    await wait_for_task(database, run.id, "A", T.NEEDS_REVIEW)
    cancelled = await client.post(f"/api/v1/runs/{run.id}/cancel", headers=member.headers)
    assert cancelled.json()["status"] == "CANCELLED"
    a = by_key(await wait_for_status(database, run.id, RunStatus.CANCELLED))["A"]
    assert a.status == T.NEEDS_REVIEW  # a finished draft is not cancelled
    url = _review_url(run.id, a.id)
    refused = await client.post(
        url, json={"action": "SEND_BACK", "feedback": "more"}, headers=member.headers
    )
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["COMPLETED"]
    accepted = await client.post(url, json={"action": "ACCEPT"}, headers=member.headers)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "CANCELLED"
    unknown = await client.post(
        _review_url(run.id, run.id), json={"action": "ACCEPT"}, headers=member.headers
    )
    assert unknown.status_code == 404
    executor.release("B")


async def test_the_run_page_shows_drafts_to_review_and_takes_decisions(
    database, project, client, member, executor, start_worker
):
    run = await create_run(
        database,
        project,
        tasks("A", "B", "C", A={"review": [TODOS]}, B={"review": ["quality gate: repetition"]}),
        actor_id=member.id,
    )
    start_worker(executor)
    ended = await wait_for_status(database, run.id, RunStatus.COMPLETED_WITH_REVIEW)
    a, b = by_key(ended)["A"], by_key(ended)["B"]
    # The run belongs to the member's project: log in as them.
    token = await _login(client, member)
    page = await client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    html = page.text
    for needle in ("COMPLETED_WITH_REVIEW", "Needs your review (2)", TODOS, "repetition"):
        assert needle in html, needle
    assert "1 of 3 deliverables are final" in html
    assert "BERRYS_OPENAI_BASE_URL" in html  # offline drafts: what would make them final
    parsed = _parse(html)
    # Accept, send back and edit for each of the two, each protected like every form.
    assert html.count(f'action="/runs/{run.id}/tasks/') == 6
    for form in parsed.forms:
        if form["method"] == "post":
            assert form["fields"].get("csrf_token"), form
    for control in parsed.controls:
        assert control.get("id") in parsed.labels, control
    assert (await client.get(f"/runs/{run.id}/review")).status_code == 200

    action = f"/runs/{run.id}/tasks/{a.id}/review"
    forged = await client.post(action, data={"decision": "accept"})
    assert forged.status_code == 403
    assert by_key(await runs_get(database, run.id))["A"].status == T.NEEDS_REVIEW

    mine = "# A\r\n\r\nMy own version.\r\n"
    edited = await client.post(
        action, data={"decision": "edit", "content": mine, "csrf_token": _token(html)}
    )
    assert edited.status_code == 200, edited.text
    assert "Saved your edit of “A”" in edited.text
    after = await runs_get(database, run.id)
    assert by_key(after)["A"].status == T.COMPLETED
    (artifact,) = [x for x in after.artifacts if x.task_run_id == a.id]
    assert _read(artifact.path) == "# A\n\nMy own version.\n"

    sent = await client.post(
        f"/runs/{run.id}/tasks/{b.id}/review",
        data={"decision": "send_back", "feedback": "Less repetition", "csrf_token": token},
    )
    assert sent.status_code == 200, sent.text
    assert "Sent back “B”" in sent.text
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert by_key(done)["B"].attempt == 2
    final = await client.get(f"/runs/{run.id}")
    assert "Needs your review" not in final.text
    assert 'id="run-status">COMPLETED<' in final.text
    late = await client.post(action, data={"decision": "accept", "csrf_token": token})
    assert late.status_code == 409
    assert "allowed next states" in late.text


async def runs_get(database, run_id):
    async with database.transaction(read_only=True) as session:
        return await runs.get(session, run_id=run_id)


def test_the_rest_contract_s_decision_spelling_is_the_same_request():
    from berrys.services.runs.contracts import TaskReview

    returned = TaskReview.model_validate({"decision": "RETURN", "comment": "Name the bakery"})
    assert returned.action == ReviewDecision.SEND_BACK
    assert returned.feedback == "Name the bakery"
    accepted = TaskReview.model_validate({"decision": "ACCEPT"})
    assert accepted.action == ReviewDecision.ACCEPT
