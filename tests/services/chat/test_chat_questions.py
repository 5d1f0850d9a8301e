"""Berry answers from the data: questions about a project with a plan and a finished run are
answered from its plan, run, approvals and usage as REST shows them, and change nothing."""

from __future__ import annotations

import pytest
from tests.services.runs.conftest import start_worker, wait_until  # noqa: F401

from berrys.services.chat import _intents
from berrys.services.chat.contracts import ChatIntent, IntentResult, IntentSource
from berrys.services.pipeline._executor import AgentExecutor

pytestmark = pytest.mark.usefixtures("services")

SHOP = (
    "Create a project called Corner Shop to design the logo and pages and build an online "
    "shop for my bakery with secure card payments"
)
UNFINISHED = {"QUEUED", "RUNNING", "AWAITING_INPUT", "PAUSED"}
RISKY = {"HIGH", "CRITICAL"}
# Questions whose words could be read as "plan it", "start it" or "generate the team".
TEMPTING = [
    "which tasks are on the critical path?",
    "what is the plan?",
    "who is on the team?",
    "can you tell me the schedule?",
    "show me the plan",
    "what did the last run produce?",
    "should we start the run?",
    "why was the plan redrafted?",
    "is the team ready to start?",
    "how many tasks are in the plan?",
    "what would it cost to run it again?",
    "when does the launch begin?",
    "did you generate the agents?",
    "ok, what's on the critical path?",
]


async def _session(client, actor, **body):
    response = await client.post("/api/v1/chat/sessions", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _say(client, actor, session_id, content):
    response = await client.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": content},
        headers=actor.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _get(client, actor, url):
    response = await client.get(url, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _answer(reply, question):
    """The one STATUS action of a question's reply, checked to be that question's."""
    assert reply["intent"] == "STATUS", reply
    [action] = reply["actions"]
    assert (action["type"], action["status"]) == ("STATUS", "COMPLETED"), action
    assert action["result"]["question"] == question, action
    return action["result"]


async def _pending(client, actor, project_id):
    url = f"/api/v1/interactions?status=PENDING&project_id={project_id}"
    return (await _get(client, actor, url))["items"]


async def _planned_project(client, actor):
    """A project made in chat, with its team and plan: (session id, project id)."""
    session_id = await _session(client, actor)
    created = await _say(client, actor, session_id, SHOP)
    project_id = created["actions"][0]["result"]["project_id"]
    await _say(client, actor, session_id, "generate the team")
    planned = await _say(client, actor, session_id, "now plan it")
    assert planned["actions"][0]["status"] == "COMPLETED", planned
    return session_id, project_id


async def _state(client, actor, project_id):
    """What a question must not change: the plan, the runs, the team, the project's trail."""
    plan = await _get(client, actor, f"/api/v1/projects/{project_id}/plans/current")
    runs = await _get(client, actor, f"/api/v1/projects/{project_id}/runs")
    team = await _get(client, actor, f"/api/v1/projects/{project_id}/agents")
    trail = await _get(client, actor, f"/api/v1/audit?project_id={project_id}&limit=200")
    return {
        "plan": (plan["id"], plan["version"], len(plan["tasks"])),
        "runs": sorted(r["id"] for r in runs["items"]),
        "agents": sorted(a["id"] for a in team["items"]),
        "trail": trail["total"],
    }


async def test_questions_about_a_finished_run_are_answered_from_its_data(
    services,
    client,
    member,
    database,
    settings,
    start_worker,  # noqa: F811
):
    session_id, project_id = await _planned_project(client, member)
    await _say(client, member, session_id, "start it")
    started = await _say(client, member, session_id, "yes")
    run_id = started["actions"][0]["result"]["run_id"]
    start_worker(
        AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
    )

    async def _blocked_or_done():
        run = await _get(client, member, f"/api/v1/runs/{run_id}")
        return run["status"] not in UNFINISHED or await _pending(client, member, project_id)

    # The card payments make tasks HIGH risk: the run waits for their approval.
    await wait_until(_blocked_or_done, within=60, message="an approval or the run's end")
    pending = await _pending(client, member, project_id)
    assert pending, "the high-risk tasks wait for a person's approval"
    waiting = _answer(await _say(client, member, session_id, "what is waiting for me?"), "waiting")
    assert {i["interaction_id"] for i in waiting["interactions"]} == {p["id"] for p in pending}
    assert waiting["total_interactions"] == len(pending)

    while True:  # approve each risky task as it asks, until the run ends
        for item in await _pending(client, member, project_id):
            answered = await client.post(
                f"/api/v1/interactions/{item['id']}/respond",
                json={"approved": True, "comment": "card data stays with the provider"},
                headers=member.headers,
            )
            assert answered.status_code == 200, answered.text
        run = await _get(client, member, f"/api/v1/runs/{run_id}")
        if run["status"] not in UNFINISHED:
            break
        await wait_until(_blocked_or_done, within=60, message="an approval or the run's end")
    before = await _state(client, member, project_id)
    plan = await _get(client, member, f"/api/v1/projects/{project_id}/plans/current")
    agents = (await _get(client, member, f"/api/v1/projects/{project_id}/agents"))["items"]

    # which tasks are on the critical path: the plan's schedule, as REST computes it
    critical = _answer(
        await _say(client, member, session_id, "which tasks are on the critical path?"),
        "critical_path",
    )
    schedule = await _get(client, member, f"/api/v1/plans/{plan['id']}/schedule")
    assert [t["task_id"] for t in critical["critical_path"]] == schedule["critical_path"]
    assert critical["version"] == plan["version"]

    # what did the Designer write: the designers' artifacts in the latest run (every agent of
    # the DESIGNER type when none is called just "Designer"), or one designer's by name
    designers = [a for a in agents if a["agent_type"] == "DESIGNER"]
    assert designers, "designing a logo and pages takes a designer"
    wrote = await _say(client, member, session_id, "what did the Designer write?")
    written = _answer(wrote, "artifacts")
    assert written["run_id"] == run_id
    assert {a["id"] for a in written["agents"]} == {a["id"] for a in designers}
    theirs = {t["id"] for t in run["task_runs"] if t["agent_id"] in {a["id"] for a in designers}}
    expected = [a for a in run["artifacts"] if a["task_run_id"] in theirs]
    assert expected, "the designers wrote something"
    assert [a["id"] for a in written["artifacts"]] == [a["id"] for a in expected]
    assert expected[0]["name"] in wrote["reply"]
    one = designers[-1]
    by_name = _answer(
        await _say(client, member, session_id, f"what did {one['name']} write?"), "artifacts"
    )
    assert [a["id"] for a in by_name["agents"]] == [one["id"]]
    mine = {t["id"] for t in run["task_runs"] if t["agent_id"] == one["id"]}
    assert [a["id"] for a in by_name["artifacts"]] == [
        a["id"] for a in run["artifacts"] if a["task_run_id"] in mine
    ]
    everyone = _answer(
        await _say(client, member, session_id, "what did the team write?"), "artifacts"
    )
    assert len(everyone["artifacts"]) == len(run["artifacts"])

    # what is waiting for me: nothing pending now; the deliverables left for review, as listed
    # by GET /api/v1/reviews
    waiting = _answer(await _say(client, member, session_id, "what is waiting for me?"), "waiting")
    assert waiting["total_interactions"] == len(await _pending(client, member, project_id)) == 0
    reviews = await _get(client, member, f"/api/v1/reviews?project_id={project_id}")
    assert [r["task_run_id"] for r in waiting["reviews"]] == [
        r["task_run_id"] for r in reviews["items"]
    ]
    assert {r["task_run_id"] for r in waiting["reviews"]} == {
        t["id"] for t in run["task_runs"] if t["status"] == "NEEDS_REVIEW"
    }

    # what has it cost: the llm service's usage of the project
    spent = _answer(await _say(client, member, session_id, "what has it cost?"), "cost")
    usage = await _get(client, member, f"/api/v1/models/usage?project_id={project_id}&limit=0")
    assert spent["requests"] == usage["total"]["requests"] > 0
    assert spent["cost_usd"] == usage["total"]["cost_usd"]
    assert spent["run"]["run_id"] == run_id

    # why is this task high-risk: its level, the reasons, and the approval it got in the run
    risky = [t for t in plan["tasks"] if t["risk_level"] in RISKY]
    assert risky
    why = _answer(await _say(client, member, session_id, "why is this task high-risk?"), "risk")
    assert [t["task_id"] for t in why["tasks"]] == [t["id"] for t in risky][:5]
    for task in why["tasks"]:
        assert task["approval"]["approved"] is True
        assert task["approval"]["comment"] == "card data stays with the provider"
        assert any("approved it" in reason for reason in task["reasons"])
    named = await _say(client, member, session_id, f"Why is {risky[0]['name']} high-risk?")
    [one] = _answer(named, "risk")["tasks"]
    assert (one["task_id"], one["risk_level"]) == (risky[0]["id"], risky[0]["risk_level"])
    assert "approved it" in named["reply"]

    # how is it going, the team, the plan, the requirements
    overview = _answer(await _say(client, member, session_id, "how is it going?"), "overview")
    assert (overview["run"]["run_id"], overview["run"]["status"]) == (run_id, run["status"])
    team = _answer(await _say(client, member, session_id, "who is on the team?"), "team")
    assert [a["id"] for a in team["agents"]] == [a["id"] for a in agents]
    shown = _answer(await _say(client, member, session_id, "what is the plan?"), "plan")
    assert (shown["plan_id"], shown["version"], shown["tasks"]) == (
        plan["id"],
        plan["version"],
        len(plan["tasks"]),
    )
    needs = _answer(
        await _say(client, member, session_id, "what are the requirements?"), "requirements"
    )
    assert needs["requirements"]

    # None of it changed anything: the same plan version, no new run, the same agents.
    for question in TEMPTING:
        reply = await _say(client, member, session_id, question)
        assert reply["intent"] in ("STATUS", "HELP", "SMALL_TALK"), (question, reply)
        assert all(a["status"] == "COMPLETED" for a in reply["actions"]), (question, reply)
    assert await _state(client, member, project_id) == before


async def test_questions_with_action_words_never_act(client, member):
    session_id, project_id = await _planned_project(client, member)
    before = await _state(client, member, project_id)
    for question in TEMPTING:
        reply = await _say(client, member, session_id, question)
        assert reply["intent"] not in ("PLAN", "START_RUN", "GENERATE_TEAM"), (question, reply)
        assert not [a for a in reply["actions"] if a["type"] != "STATUS"], (question, reply)
    critical = _answer(
        await _say(client, member, session_id, "which tasks are on the critical path?"),
        "critical_path",
    )
    assert critical["critical_path"]
    # No run yet: what an agent wrote is nothing, and it says how to get there.
    nothing = _answer(
        await _say(client, member, session_id, "what did the Designer write?"), "artifacts"
    )
    assert nothing["artifacts"] == []
    assert (
        "start it"
        in (await _say(client, member, session_id, "what did the designer write?"))["reply"]
    )
    assert await _state(client, member, project_id) == before


async def test_a_model_reading_a_question_as_an_action_is_overruled(client, member, monkeypatch):
    session_id, project_id = await _planned_project(client, member)
    before = await _state(client, member, project_id)

    async def eager(models, database, *, messages, rules_answer):
        return (
            IntentResult(intent=ChatIntent.PLAN),
            IntentSource(provider="SCRIPTED", model="eager", fallback=False),
        )

    monkeypatch.setattr(_intents, "complete", eager)
    reply = await _say(client, member, session_id, "which tasks are on the critical path?")
    _answer(reply, "critical_path")
    source = reply["message"]["metadata"]["source"]
    assert (source["provider"], source["fallback"]) == ("RULES", True)
    assert "eager read a question as PLAN" in source["reason"]
    assert await _state(client, member, project_id) == before
    # An explicit request is still the model's to read, and still asks first.
    asked = await _say(client, member, session_id, "redraft the plan")
    assert [(a["type"], a["status"]) for a in asked["actions"]] == [("PLAN", "NEEDS_CONFIRMATION")]


async def test_a_question_leaves_a_proposal_standing(client, member):
    session_id, _project_id = await _planned_project(client, member)
    asked = await _say(client, member, session_id, "plan it again")
    assert [(a["type"], a["status"]) for a in asked["actions"]] == [("PLAN", "NEEDS_CONFIRMATION")]
    # "ok" before a question is not a yes.
    shown = await _say(client, member, session_id, "ok, what is the plan now?")
    assert _answer(shown, "plan")["version"] == 1
    assert "Still waiting for your yes or no" in shown["reply"]
    session = await _get(client, member, f"/api/v1/chat/sessions/{session_id}")
    assert session["pending_action"]["type"] == "PLAN"
    redrafted = await _say(client, member, session_id, "yes")
    assert [(a["type"], a["status"]) for a in redrafted["actions"]] == [("PLAN", "COMPLETED")]
    assert redrafted["actions"][0]["result"]["version"] == 2


async def test_an_unrecognised_message_lists_what_berry_can_do_with_the_project(client, member):
    session_id, _project_id = await _planned_project(client, member)
    reply = await _say(client, member, session_id, "purple monkey dishwasher")
    assert reply["intent"] == "SMALL_TALK"
    assert reply["actions"] == []
    text = reply["reply"]
    assert "Corner Shop" in text
    for example in (
        "which tasks are on the critical path?",
        "what is the plan?",
        "start it",
        "what is waiting for me?",
    ):
        assert f'"{example}"' in text
    assert "high-risk?" in text  # a real high-risk task of its plan, named
    prompts = await _get(client, member, "/api/v1/chat/prompts")
    greeting = next(p["content"] for p in prompts if p["name"] == "greeting")
    assert text != greeting
    assert (await _say(client, member, session_id, "hello"))["reply"] == greeting


async def test_an_unrecognised_message_without_a_project_says_how_to_start(client, member):
    session_id = await _session(client, member)
    reply = await _say(client, member, session_id, "purple monkey dishwasher")
    assert "Create a project called" in reply["reply"]
    assert reply["reply"].startswith("I did not understand")


@pytest.mark.parametrize(
    ("paraphrase", "question"),
    [("am I holding anything up?", "waiting"), ("what could blow up here?", "risk")],
)
async def test_a_paraphrase_the_rules_miss_is_answered_by_the_embedder(
    client, member, paraphrase, question
):
    assert _intents.by_rules(paraphrase).intent == ChatIntent.SMALL_TALK  # no words for it
    session_id, _project_id = await _planned_project(client, member)
    _answer(await _say(client, member, session_id, paraphrase), question)


async def test_questions_only_see_the_users_own_projects(client, member, other_member):
    session_id, project_id = await _planned_project(client, member)
    await _say(client, member, session_id, "start it")
    await _say(client, member, session_id, "yes")  # a run whose approvals may wait

    theirs = await _session(client, other_member)
    for question in (
        "which tasks are on the critical path of Corner Shop?",
        "what is the plan of Corner Shop?",
        "who is on the team of Corner Shop?",
    ):
        reply = await _say(client, other_member, theirs, question)
        assert "Corner Shop" not in reply["reply"], reply
        assert project_id not in str(reply["actions"]), reply
    waiting = _answer(
        await _say(client, other_member, theirs, "what is waiting for me?"), "waiting"
    )
    assert waiting["interactions"] == []
    assert waiting["reviews"] == []
    spent = _answer(await _say(client, other_member, theirs, "what has it cost?"), "cost")
    assert spent["requests"] == 0
    assert spent.get("by_project", []) == []

    # A conversation cannot be about someone else's project either.
    response = await client.post(
        "/api/v1/chat/sessions", json={"project_id": project_id}, headers=other_member.headers
    )
    assert response.status_code == 404


async def test_cost_names_a_projects_budget_and_each_project_across_all(client, member):
    session_id, project_id = await _planned_project(client, member)
    budget = {"scope": "PROJECT", "project_id": project_id, "limit_usd": 5.0}
    response = await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    assert response.status_code == 200, response.text

    reply = await _say(client, member, session_id, "what has it cost?")
    spent = _answer(reply, "cost")
    [line] = spent["budgets"]
    assert (line["project_id"], line["limit_usd"]) == (project_id, 5.0)
    assert " Budgets: total $" in reply["reply"]
    assert " of $5.00." in reply["reply"]
    assert "by_project" not in spent

    anywhere = await _session(client, member)
    overall = _answer(await _say(client, member, anywhere, "what has it cost?"), "cost")
    assert "by_agent" not in overall
    assert [p["project_id"] for p in overall["by_project"]] == [project_id]
    assert overall["by_project"][0]["project"] == "Corner Shop"
