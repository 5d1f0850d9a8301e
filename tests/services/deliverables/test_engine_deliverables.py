"""Deliverables through the run engine: the agent executor drafts a task's deliverable type
offline (the outline from the project's facts, TODOs for a person: NEEDS_REVIEW) or with a
scripted model (gated, repaired once, else replaced by the offline draft, and the replacement
recorded); a review must parse, and a task without a type gets an honest note offline."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from tests.services.deliverables.conftest import BAKERY, shipped
from tests.services.runs.conftest import (  # noqa: F401 (fixtures)
    create_run,
    start_worker,
    wait_for_status,
)

from berrys.services.auth import service as auth
from berrys.services.deliverables import service as deliverables
from berrys.services.llm import service as llm
from berrys.services.pipeline._executor import AgentExecutor, parse_review
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs.contracts import DependencySpec, RunStatus, TaskRunStatus, TaskSpec

pytestmark = pytest.mark.usefixtures("services")
DONE = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_REVIEW, RunStatus.FAILED)

GOOD_ANNOUNCEMENT = """# Neighbourhood bakery website launch: announcement

## Headline and opening
Headline: the neighbourhood bakery opens its new website. From 14 March 2027 regulars can
see the daily bread list and order cakes online before they walk over.

## Key facts
- Date: 14 March 2027, when the website goes live.
- Where: the bakery's new website, linked from the shop window and the receipts.
- Who it is for: neighbours who already buy here and anyone who wants to order ahead.

## Body
The bakery has taken cake orders by phone and on paper slips for years. The website puts the
bread list, opening times and a simple order form in one place, so fewer calls go unanswered
during the morning rush. A quote from the owner will say why this matters to the shop.

## Call to action
One action: visit the website and place a first order. The link goes on every post, and the
same action closes the email.

## Channels and timing
The shop window poster and receipts come first, then the email list and the social accounts.
A reminder goes out a week after launch. Every image carries alt text, and each post has an
owner on the team.

## Approval
The owner checks every date and link against the brief and has approved the wording, and the
quote is approved by the person quoted before anything is published.
"""
LAUNCH = BAKERY + ", going live on 14 March 2027."
LOOP = "# Announcement\n" + "Your plan is finished.\n" * 36


def _read(path: str) -> str:
    return Path(path).read_bytes().decode("utf-8")


async def _user(database, member):
    async with database.transaction(read_only=True) as session:
        return await auth.get_by_email(session, email=member.email)


async def _project(database, user, *, name="Bakery", description=LAUNCH):
    async with database.transaction() as session:
        return await projects.create(
            session, project_in=ProjectCreate(name=name, description=description), user=user
        )


async def _agent(client, member, project_id, name="Writer", agent_type="ASSISTANT"):
    response = await client.post(
        f"/api/v1/projects/{project_id}/agents",
        json={"name": name, "agent_type": agent_type, "role": f"{name} role"},
        headers=member.headers,
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def _task(key, deliverable, *, agent_id=None, name=None, criteria=()):
    return TaskSpec(
        key=key,
        name=name or f"Write the {deliverable.replace('_', ' ')}",
        description="Draft it for the project",
        acceptance_criteria=list(criteria),
        agent_id=agent_id,
        spec={"deliverable": deliverable, "position": 1},
    )


async def _run(database, services, start_worker, project, user, specs, deps=(), **kwargs):  # noqa: F811
    run = await create_run(database, project, specs, deps, actor_id=user.id, **kwargs)
    start_worker(
        AgentExecutor(
            settings=services.settings,
            database=database,
            models=services.models,
            tools=services.tools,
        )
    )
    return await wait_for_status(database, run.id, *DONE, within=60)


async def test_offline_a_run_writes_every_file_of_its_deliverables_and_they_need_review(
    services,
    database,
    settings,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user)
    specs = [
        _task("venue", "venue_brief", name="Book the venue"),
        _task("budget", "budget", name="Draft the budget"),
        _task("timeline", "timeline", name="Write the timeline"),
    ]
    deps = [DependencySpec(from_key="venue", to_key="budget")]
    done = await _run(database, services, start_worker, project, user, specs, deps)
    assert done.status == RunStatus.COMPLETED_WITH_REVIEW
    tasks = {task.key: task for task in done.task_runs}
    for task in tasks.values():
        assert task.status == TaskRunStatus.NEEDS_REVIEW
        [reason] = task.review_reasons
        assert reason.endswith("TODOs for a person"), reason
        assert task.output["draft"] == {"source": "offline", "replaced": None, "gate": []}
        assert task.output["checks"] == []
        assert task.output["produced_by"] == "RULES/offline-draft"
        for path in task.output["files"]:
            if path.endswith(".md"):
                assert "# " in _read(path)
    venue = tasks["venue"].output["path"]
    assert Path(venue).name == "1book-the-venue.md"
    text = _read(venue)
    todos = len(tasks["venue"].output["todos"])
    assert text.startswith(f"> Offline draft from the Berrys catalogue; {todos} TODOs for a person")
    assert "# Venue brief and booking checklist: Bakery" in text
    assert "- Date in the description: “14 March 2027”" in text
    assert "Produce the deliverable" not in text
    budget = [Path(p).name for p in tasks["budget"].output["files"]]
    assert budget == ["1draft-the-budget.csv", "1draft-the-budget.README.md"]
    assert [Path(p).name for p in tasks["timeline"].output["files"]] == [
        "1write-the-timeline.md",
        "1write-the-timeline.ics",
    ]
    # One artifact per file, each at its path; upstream reached the budget's facts.
    assert len(done.artifacts) == 5  # venue brief, budget csv + README, timeline md + ics
    for artifact in done.artifacts:
        assert _read(artifact.path) == artifact.content
    assert "Book the venue" in tasks["budget"].output["text"] or tasks["budget"].output["todos"]
    # No model was asked for words: one RULES answer per Markdown task says "offline".
    assert tasks["venue"].output["text"] == text


async def test_a_model_draft_that_passes_the_gate_is_final(
    services,
    database,
    settings,
    client,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user, name="Neighbourhood bakery website launch")
    writer = await _agent(client, member, project.id)
    with llm.script(services.models, "writer-model", [GOOD_ANNOUNCEMENT]) as fake:
        done = await _run(
            database,
            services,
            start_worker,
            project,
            user,
            [_task("a", "announcement", agent_id=writer)],
        )
        assert fake.remaining == 0
    [task] = done.task_runs
    assert task.status == TaskRunStatus.COMPLETED, task.output
    assert task.review_reasons == []
    assert task.output["draft"] == {"source": "model", "replaced": None, "gate": []}
    text = _read(task.output["path"])
    assert text.startswith(
        "> Drafted by SCRIPTED/writer-model to the Announcement and publicity plan outline; "
        "passed the quality gate; no TODOs left"
    )
    prompt = fake.requests[0].messages[-1].content
    assert "## Outline" in prompt
    assert "- Title: Neighbourhood bakery website launch" in prompt
    assert "TODO(owner)" in prompt


async def test_a_looping_draft_is_repaired_once_then_replaced_by_the_offline_draft(
    services,
    database,
    settings,
    client,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user, name="Neighbourhood bakery website launch")
    writer = await _agent(client, member, project.id)
    with llm.script(services.models, "tiny", [LOOP, LOOP]) as fake:
        done = await _run(
            database,
            services,
            start_worker,
            project,
            user,
            [_task("a", "announcement", agent_id=writer)],
        )
        assert fake.remaining == 0
    [task] = done.task_runs
    repair = fake.requests[1].messages[-1].content
    assert "## Your previous draft had these problems" in repair
    assert "Repeats itself" in repair
    draft = task.output["draft"]
    assert draft["source"] == "offline"
    assert draft["replaced"].startswith("SCRIPTED/tiny's draft failed the quality gate twice")
    assert any(f["check"] == "repetition" for f in draft["gate"])
    text = _read(task.output["path"])
    assert text.startswith("> Offline draft from the Berrys catalogue;")
    assert "Your plan is finished." not in text
    assert task.status == TaskRunStatus.NEEDS_REVIEW
    assert task.review_reasons[0].endswith("TODOs for a person")
    # Each verdict is counted per model: the router holds a model that does worse than the
    # offline draft out of deliverables.
    rates = {
        (r.provider.value, r.model): (r.passed, r.failed) for r in await llm.gate_rates(database)
    }
    assert rates[("SCRIPTED", "tiny")] == (0, 2)
    assert rates[("RULES", llm.OFFLINE_DRAFT_MODEL)] == (1, 0)


async def test_a_draft_that_fails_then_is_repaired_is_kept(
    services,
    database,
    settings,
    client,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user, name="Neighbourhood bakery website launch")
    writer = await _agent(client, member, project.id)
    with llm.script(services.models, "writer-model", ["Our website is live!", GOOD_ANNOUNCEMENT]):
        done = await _run(
            database,
            services,
            start_worker,
            project,
            user,
            [_task("a", "announcement", agent_id=writer)],
        )
    [task] = done.task_runs
    assert task.output["draft"]["source"] == "model"
    assert task.status == TaskRunStatus.COMPLETED
    assert "Our website is live!" not in _read(task.output["path"])


async def test_invented_facts_are_kept_but_flagged_for_a_person(
    services,
    database,
    settings,
    client,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user, name="Neighbourhood bakery website launch")
    writer = await _agent(client, member, project.id)
    invented = GOOD_ANNOUNCEMENT.replace(
        "A quote from the owner will say why this matters to the shop.",
        "Owner Margaret Hollis expects 250 orders a week; see https://hollis-bakery.example.com.",
    )
    with llm.script(services.models, "writer-model", [invented]):
        done = await _run(
            database,
            services,
            start_worker,
            project,
            user,
            [_task("a", "announcement", agent_id=writer)],
        )
    [task] = done.task_runs
    assert task.output["draft"]["source"] == "model"
    assert task.status == TaskRunStatus.NEEDS_REVIEW
    reasons = " | ".join(task.review_reasons)
    assert "250" in reasons
    assert "Hollis" in reasons
    assert "hollis-bakery.example.com" in reasons


async def test_an_unreadable_review_is_not_an_approval(
    services,
    database,
    settings,
    client,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user)
    writer = await _agent(client, member, project.id)
    await _agent(client, member, project.id, name="Auditor", agent_type="AUDITOR")
    spec = TaskSpec(
        key="t",
        name="Announcement",
        description="Announce the website",
        acceptance_criteria=["names the bakery"],
        agent_id=writer,
    )
    answers = ["# Announcement\nThe bakery's website is live.", "Looks good to me!!"]
    with llm.script(services.models, "fake", answers) as fake:
        done = await _run(
            database, services, start_worker, project, user, [spec], options={"review": True}
        )
        assert fake.remaining == 0  # no second round on an unreadable review
    [task] = done.task_runs
    assert task.output["review"]["approved"] is False
    assert "could not be read" in task.output["review"]["feedback"]
    assert task.status == TaskRunStatus.NEEDS_REVIEW
    assert task.review_reasons[0].startswith("The reviewer did not approve it: The review")


def test_a_review_must_parse_as_the_review_schema():
    assert parse_review('{"approved": true, "feedback": "fine"}')[0].approved is True
    for text in ("approved", '{"approved": "maybe"}', '{"feedback": "x"}', "", "{not json}"):
        review, readable = parse_review(text)
        assert review.approved is False
        assert readable is False
        assert review.feedback.startswith("The review could not be read")
    review, readable = parse_review('Sure! {"approved": false, "feedback": "add the date"}')
    assert (review.approved, review.feedback, readable) == (False, "add the date", True)


async def test_offline_a_task_without_a_deliverable_type_gets_an_honest_note(
    services,
    database,
    settings,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user)
    spec = TaskSpec(
        key="t",
        name="Write the launch plan",
        description="Produce the deliverable itself",
        acceptance_criteria=["names the bakery", "gives the launch date"],
    )
    done = await _run(database, services, start_worker, project, user, [spec])
    [task] = done.task_runs
    text = _read(task.output["path"])
    assert text.splitlines()[0] == "> Offline note: no model was configured; 2 TODOs for a person"
    assert "- TODO(project owner): names the bakery" in text
    assert "- TODO(project owner): gives the launch date" in text
    assert "Produce the deliverable" not in text
    assert "BERRYS_OPENAI_BASE_URL" in text
    assert task.review_reasons == ["No model was configured: 2 TODOs for a person"]
    assert task.status == TaskRunStatus.NEEDS_REVIEW


async def test_feedback_from_a_person_is_listed_when_no_model_can_apply_it(
    services,
    database,
    settings,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user)
    spec = _task("v", "venue_brief")
    spec.spec["review_feedback"] = ["Ask the church hall first"]
    spec.spec["answers"] = {"q1": "Ask the church hall first"}
    done = await _run(database, services, start_worker, project, user, [spec])
    text = _read(done.task_runs[0].output["path"])
    assert "TODO(organiser): Apply this feedback: Ask the church hall first" in text


def test_the_prompt_names_the_outline_and_the_rule_against_invention(facts):
    prompt = deliverables.model_prompt(shipped("venue_brief"), facts)
    assert "### Confirm in writing before booking" in prompt
    assert "Must mention: insurance, first aid, fire" in prompt
    assert "never" not in prompt.lower() or "TODO(owner)" in prompt
    assert json.dumps(prompt)  # plain text


async def test_a_free_form_answer_that_loops_or_echoes_needs_a_person(
    services,
    database,
    settings,
    client,
    member,
    start_worker,  # noqa: F811
):
    user = await _user(database, member)
    project = await _project(database, user)
    writer = await _agent(client, member, project.id)
    specs = [
        TaskSpec(key="loop", name="Plan", description="Plan the launch", agent_id=writer),
        TaskSpec(key="echo", name="Notes", description="Write notes", agent_id=writer),
        TaskSpec(key="fine", name="Summary", description="Sum it up", agent_id=writer),
    ]
    deps = [
        DependencySpec(from_key="loop", to_key="echo"),
        DependencySpec(from_key="echo", to_key="fine"),
    ]
    answers = [
        "# Plan\n" + "- Scope:\n" * 40,
        "# Notes\nProduce the deliverable itself, complete, in Markdown (or JSON if asked).",
        "# Summary\nThe bakery's website goes live on 14 March 2027; the notes list what is left.",
    ]
    with llm.script(services.models, "fake", answers):
        done = await _run(database, services, start_worker, project, user, specs, deps)
    tasks = {task.key: task for task in done.task_runs}
    assert tasks["loop"].review_reasons == ["Repeats itself: 39 of 41 lines are repeats"]
    assert tasks["echo"].review_reasons[0].startswith("Copies the instructions")
    assert tasks["fine"].review_reasons == []
    assert tasks["fine"].status == TaskRunStatus.COMPLETED
