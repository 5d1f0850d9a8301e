"""The project-type catalogue: its files, understanding descriptions, and what REST, the CLI
and generation make of it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from berrys.cli.app import app as cli
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue._asks import ask_task_name
from berrys.services.catalogue._catalogue import SHIPPED, CatalogueError, build
from berrys.services.catalogue._text import TITLE_LIMIT, asks, constraints, title
from berrys.services.catalogue.contracts import AgentType

REQUIRED_TYPES = {
    "web_app", "mobile_app", "data_pipeline", "ml_model", "cloud_migration", "api_integration",
    "internal_tool", "ecommerce_shop", "game", "documentation_site", "localisation",
    "accessibility_audit", "performance", "security_audit", "marketing_campaign", "rebrand",
    "event", "research_review", "grant_application", "legal_review", "financial_model",
    "written_content", "support_operations", "travel", "relocation", "home_improvement",
    "hiring", "training_course", "media_production",
}  # fmt: skip
REPAIR_CAFE = (
    "Organise a one-day repair café in our village hall: volunteers, publicity, safety checks "
    "and a booking form"
)


def test_the_shipped_catalogue_is_valid_and_covers_the_kinds_of_work():
    shipped = build([SHIPPED])
    assert set(shipped.types) >= REQUIRED_TYPES
    for project_type in shipped.types.values():
        assert project_type.team
        assert project_type.tasks
        assert project_type.risks
        for task in project_type.tasks:
            assert task.deliverable in shipped.deliverables


def test_every_todo_is_a_whole_item():
    """A comma in a one-line YAML list splits an item: such halves start in lower case."""
    shipped = build([SHIPPED])
    halves = [
        (deliverable.key, todo)
        for deliverable in shipped.deliverables.values()
        for section in deliverable.sections
        for todo in [*section.todos, *(i for x in section.todos_unless_known.values() for i in x)]
        if todo[:1].islower()
    ]
    assert halves == []


def test_a_broken_user_file_names_its_file_and_field(tmp_path):
    (tmp_path / "types").mkdir()
    broken = tmp_path / "types" / "choir_concert.yaml"
    source = (
        (SHIPPED / "types" / "event.yaml").read_text().replace("key: event", "key: choir_concert")
    )
    broken.write_text(source.replace("agent_type: COORDINATOR", "agent_type: CONDUCTOR"))
    with pytest.raises(CatalogueError) as error:
        build([SHIPPED, tmp_path])
    assert error.value.path == broken
    assert any(p.startswith("team.0.agent_type") for p in error.value.problems), error.value


def test_users_add_and_override_types_and_the_cli_shows_and_validates_them(tmp_path, monkeypatch):
    monkeypatch.setenv("BERRYS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    own = tmp_path / "catalogue" / "types"
    own.mkdir(parents=True)
    source = (SHIPPED / "types" / "event.yaml").read_text()
    (own / "choir_concert.yaml").write_text(
        source.replace("key: event", "key: choir_concert").replace(
            "name: Event", "name: Choir concert"
        )
    )
    runner = CliRunner()
    listed = runner.invoke(cli, ["catalogue", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert "choir_concert" in {t["key"] for t in json.loads(listed.output)}
    shown = runner.invoke(cli, ["catalogue", "show", "choir_concert"])
    assert "Book the venue and confirm insurance" in shown.output
    valid = runner.invoke(cli, ["catalogue", "validate", "--json"])
    assert json.loads(valid.output)["valid"] is True
    (own / "broken.yaml").write_text("key: broken\nversion: one\n")
    invalid = runner.invoke(cli, ["catalogue", "validate", "--json"])
    assert invalid.exit_code == 1
    report = json.loads(invalid.output)
    assert report["file"].endswith("broken.yaml")
    assert any(p.startswith("version") for p in report["problems"])


async def test_an_event_gets_a_coordinator_event_work_and_no_developer(models):
    understood = await catalogue.understand(models, REPAIR_CAFE)
    assert [t.key for t in understood.types] == ["event"]
    assert understood.types[0].signals
    types = {role.agent_type for role in understood.roles.values()}
    assert AgentType.COORDINATOR in types
    assert AgentType.DEVELOPER not in types
    names = [task.name for task in understood.tasks]
    assert any("venue" in n.lower() for n in names)
    assert any("volunteer" in n.lower() for n in names)
    assert any("booking" in n.lower() for n in names)
    assert not any(catalogue.copies(n, REPAIR_CAFE) for n in names)
    sources = {r.source for r in understood.requirements}
    assert sources == {"stated", "implied"}
    assert len(understood.requirements) >= 6


async def test_a_website_with_its_launch_campaign_blends_both_streams_joined(models):
    understood = await catalogue.understand(
        models,
        "Build a website for our bakery and run the launch campaign on social media and in the "
        "local paper",
    )
    keys = [t.key for t in understood.types]
    assert set(keys) >= {"web_app", "marketing_campaign"}, keys
    by_key = {t.key: t for t in understood.tasks}
    releases = {t.key for t in understood.tasks if t.release and t.key.startswith("web_app")}
    waiting = [t for t in understood.tasks if t.awaits_release]
    assert releases
    assert waiting
    assert all(releases & {d[0] for d in t.depends_on} for t in waiting)
    assert {by_key[k].role for k in by_key}  # every task has a role


async def test_a_tiny_fix_is_not_inflated(models):
    understood = await catalogue.understand(models, "Fix the typo in the footer of our website")
    assert [t.key for t in understood.types] == ["quick_fix"]
    assert [r.agent_type for r in understood.roles.values()] == [AgentType.DEVELOPER]
    assert len(understood.tasks) == 2


@pytest.mark.parametrize(
    "description",
    [
        "The contact form on our site stopped sending emails yesterday",
        "The checkout page on our shop throws an error when customers pay with PayPal",
    ],
)
async def test_a_symptom_of_something_broken_is_a_fix_not_a_build(models, description):
    understood = await catalogue.understand(models, description)
    assert [t.key for t in understood.types] == ["quick_fix"]
    assert [r.agent_type for r in understood.roles.values()] == [AgentType.DEVELOPER]


async def test_the_occasion_a_trip_is_for_does_not_make_it_an_event(models):
    understood = await catalogue.understand(
        models, "Plan a week in Rome for my parents' 40th wedding anniversary in May"
    )
    assert [t.key for t in understood.types] == ["travel"]
    names = " ".join(t.name.lower() for t in understood.tasks)
    assert "itinerary" in names
    assert "venue" not in names


@pytest.mark.parametrize(
    ("description", "developer"),
    [
        ("Write the user manual for our new coffee machine", False),
        ("Build a documentation site for our open-source Python library", True),
    ],
)
async def test_a_manual_needs_a_docs_engineer_only_when_it_is_a_site(
    models, description, developer
):
    understood = await catalogue.understand(models, description)
    assert [t.key for t in understood.types] == ["documentation_site"]
    kinds = {r.agent_type for r in understood.roles.values()}
    assert (AgentType.DEVELOPER in kinds) is developer


@pytest.mark.parametrize(
    ("description", "place"),
    [
        ("Litter pick along the canal towpath with the scouts on a Saturday morning", "site"),
        ("A street party with tables down the middle of the road", "site"),
        ("A quiz night in the village hall to raise money for the church roof", "venue"),
    ],
)
async def test_an_outdoor_event_agrees_its_site_and_an_indoor_one_books_a_venue(
    models, description, place
):
    understood = await catalogue.understand(models, description)
    names = [t.name for t in understood.tasks]
    site = "Agree the site with its owner and confirm permissions and insurance"
    venue = "Book the venue and confirm insurance"
    assert (site in names, venue in names) == (place == "site", place == "venue")
    needs = " ".join(r.text for r in understood.requirements)
    assert ("site's owner" in needs, "A venue that holds" in needs) == (
        place == "site",
        place == "venue",
    )


async def test_an_event_with_children_needs_safeguarding_and_one_without_does_not(models):
    with_children = await catalogue.understand(
        models, "A homework club at the library for children aged 8 to 11, run by volunteers"
    )
    adults = await catalogue.understand(models, "A quiz night in the village hall")
    scouts = await catalogue.understand(models, "A litter pick on the beach with our scout group")
    assert any("DBS check" in r.text for r in scouts.requirements)
    assert any("DBS check" in r.text for r in with_children.requirements)
    assert not any("DBS check" in r.text for r in adults.requirements)


@pytest.mark.parametrize(
    ("description", "recurring"),
    [
        ("Start a fortnightly beginners' running club in the park on Saturday mornings", True),
        ("A weekly homework club at the library for children aged 8 to 11", True),
        ("A quiz night in the village hall on Saturday evening", False),
    ],
)
async def test_a_recurring_activity_plans_its_sessions_and_a_one_off_its_day(
    models, description, recurring
):
    understood = await catalogue.understand(models, description)
    names = [t.name for t in understood.tasks]
    regular = {
        "Plan the regular session and its register",
        "Review the first sessions and decide what to change",
    }
    one_off = {"Prepare the run sheet for the day", "Hold the wrap-up and thank-you round"}
    assert (regular <= set(names), one_off <= set(names)) == (recurring, not recurring)
    assert not (regular | one_off) <= set(names)
    run_sheet = any("run sheet" in r.text for r in understood.requirements)
    assert run_sheet is not recurring


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            "Plan a 4-night family trip to Lisbon in April for two adults and a toddler",
            {"place": "Lisbon", "length": "4 nights", "company": "two adults and a toddler"},
        ),
        (
            "A week in the Lake District with friends",
            {"place": "the Lake District", "length": "a week", "company": "friends"},
        ),
        (
            "Start a fortnightly running club in Victoria Park on Saturday mornings",
            {"place": "Victoria Park", "frequency": "fortnightly, on Saturday mornings"},
        ),
        (
            "A coding workshop twice a week at St Mary's Church Hall",
            {"place": "St Mary's Church Hall", "frequency": "twice a week"},
        ),
        ("A homework club at the community library", {"place": "the community library"}),
        (
            "A litter pick on Brighton beach, promoted on Instagram",
            {"place": "Brighton beach"},
        ),
        (
            "A fortnight in Japan for me and my husband",
            {"place": "Japan", "length": "a fortnight", "company": "me and my husband"},
        ),
        # a product, a month and a deadline are none of these
        ("Migrate our email to Microsoft 365 in May, within a week", {}),
    ],
)
def test_where_how_long_with_whom_and_how_often_are_read_from_the_words(description, expected):
    found = catalogue.particulars(description).model_dump()
    assert found == {"place": "", "length": "", "company": "", "frequency": ""} | expected


def test_an_outdoor_event_has_no_venue_risks():
    event = catalogue.project_type(catalogue.shipped(), "event")
    assert event is not None
    outdoors = [r.risk for r in catalogue.risks_for(event, "A litter pick on the beach")]
    indoors = [r.risk for r in catalogue.risks_for(event, "A quiz night in the village hall")]
    assert "The venue cancels or is double-booked" in indoors
    assert not any("venue" in risk for risk in outdoors)


def test_a_risk_assessment_covers_the_hazards_of_the_place_it_describes():
    shipped = catalogue.shipped()
    by_river = catalogue.deliverable_for(
        shipped, "risk_assessment", "A litter pick along the river bank with the scouts"
    )
    indoors = catalogue.deliverable_for(
        shipped, "risk_assessment", "A quiz night in the village hall"
    )
    assert by_river is not None
    assert indoors is not None
    river_text = " ".join(line for s in by_river.sections for line in s.standard)
    hall_text = " ".join(line for s in indoors.sections for line in s.standard)
    assert "Water - " in river_text
    assert "Sharps and hazardous litter" in river_text
    assert "Water - " not in hall_text
    assert "Sharps" not in hall_text
    event = shipped.types["event"]
    assert len(catalogue.risks_for(event, "A beach clean at Whitby")) > len(
        catalogue.risks_for(event, "A quiz night in the village hall")
    )


async def test_an_unknown_kind_of_project_is_broken_down_by_its_own_asks(models):
    understood = await catalogue.understand(
        models, "Sort out the garage, sell the old bikes and donate the kids' clothes"
    )
    assert understood.types == []
    names = [t.name for t in understood.tasks]
    assert "Sell the old bikes" in names
    assert "Donate the kids' clothes" in names
    assert AgentType.DEVELOPER not in {r.agent_type for r in understood.roles.values()}


def test_an_asks_task_reads_as_work():
    """Who comes along is not a task, a named destination stays in the name, and a name cut
    short ends on what is made."""
    _, items = asks("Clear the allotment with two children and a dog, seeds and compost")
    assert items == ["seeds", "compost"]
    _, items = asks("A beach clean with the local surf club on a Sunday and a picnic afterwards")
    assert items == ["picnic afterwards"]
    assert ask_task_name("Move house from Leeds to Bristol at the end of August") == (
        "Move house from Leeds to Bristol"
    )
    assert ask_task_name("Design a six-session evening course teaching beginners") == (
        "Design a six-session evening course"
    )
    # "composting with worms" is the topic; a feature with no verb is included, not arranged
    _, items = asks("Write a blog post about composting with worms for beginners")
    assert items == []
    assert ask_task_name("waiting list") == "Include the waiting list"


async def test_an_ask_is_matched_to_a_task_by_what_it_is_not_a_container_word(models):
    understood = await catalogue.understand(
        models, "Build a booking system with payments, reminders and a waiting list"
    )
    texts = [r.text for r in understood.requirements if r.source == "stated"]
    assert "Include the waiting list (asked for in the description)" in texts
    press = await catalogue.understand(
        models, "A litter pick on the beach with our scouts, and tell the local paper"
    )
    assert not any(t.name.startswith(("Include", "Tell")) for t in press.tasks)
    assert any(
        r.text.startswith("Tell the local paper: write the announcement")
        for r in press.requirements
    )
    assert any(text.startswith("Payments: ") for text in texts)


async def test_a_private_celebration_sends_invitations_instead_of_publicity(models):
    party = await catalogue.understand(
        models, "Plan a surprise 50th birthday dinner for 20 friends at an Italian restaurant"
    )
    names = [t.name for t in party.tasks]
    assert "Send the invitations and keep the guest list" in names
    assert "Write the announcement and publicity plan" not in names
    assert {c.dimension: c.value for c in party.constraints} == {"people": 20}  # not Italian


async def test_estimates_scale_with_the_size_the_description_gives(models):
    small = await catalogue.understand(models, "Host a community meetup with talks for 30 people")
    large = await catalogue.understand(
        models, "Host a two-day community conference with talks for 400 people"
    )
    article = await catalogue.understand(models, "Write a one-page article about composting")

    def hours(understood):  # type: ignore[no-untyped-def]
        return sum(t.hours for t in understood.tasks)

    assert hours(large) > 1.5 * hours(small)
    assert hours(article) < hours(small) / 2
    assert {c.dimension: c.value for c in large.constraints} == {"days": 2, "people": 400}


def test_numbers_in_a_description_become_constraints():
    found = {c.dimension: c for c in constraints(
        "A two-day conference for 200 people in French and German, budget £15,000"
    )}  # fmt: skip
    assert found["people"].value == 200
    assert found["days"].value == 2
    assert found["languages"].value == 2
    assert found["budget"].value == 15000
    assert found["budget"].unit == "GBP"
    # what an event raises is its target, not its budget; "£300" is written as such
    fundraiser = constraints("A fun run to raise £2,000, with a budget of £300 ")
    assert [(c.dimension, c.value, c.text) for c in fundraiser] == [("budget", 300, "£300")]
    family = constraints("A week in Rome for two adults, three children and a toddler")
    assert [(c.dimension, c.value) for c in family] == [("people", 6)]


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (REPAIR_CAFE, "Organise a one-day repair café in our village hall"),
        (
            "Build a small Flask web app for a community library to track book loans",
            "Small Flask web app for a community library",
        ),
        (
            "Write a launch plan and announcement for a neighbourhood bakery's new website",
            "Launch plan for a neighbourhood bakery's new website",
        ),
        (
            "A fortnight in Japan next spring for me and my husband, Tokyo and Kyoto, £6,000",
            "Fortnight in Japan next spring for me and my husband",
        ),
        (
            "Build a CRM for our sales, support and billing teams with reports and email sync",
            "Build a CRM for our sales, support and billing teams",
        ),
        (
            "Set up a small online shop for my handmade ceramic mugs, with product photos,"
            " prices and shipping within the EU",
            "Small online shop for my handmade ceramic mugs",
        ),
        (
            "We need to migrate 12 services from our data centre to AWS over three months",
            "Migrate 12 services from our data centre to AWS",
        ),
    ],
)
def test_the_title_is_short_and_never_ends_mid_phrase(description, expected):
    made = title(description)
    assert made == expected
    assert len(made) <= TITLE_LIMIT


# --- through REST --------------------------------------------------------------------------------


async def _project(client, actor, description):  # type: ignore[no-untyped-def]
    body = {"name": "Repair café", "description": description}
    response = await client.post("/api/v1/projects", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_rest_lists_types_and_shows_a_project_s_profile(client, member, other_member):
    listed = await client.get("/api/v1/catalogue/types", headers=member.headers)
    assert listed.status_code == 200
    assert {t["key"] for t in listed.json()["items"]} >= REQUIRED_TYPES
    event = await client.get("/api/v1/catalogue/types/event", headers=member.headers)
    assert event.json()["team"][0]["agent_type"] == "COORDINATOR"
    missing = await client.get("/api/v1/catalogue/types/nope", headers=member.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    project_id = await _project(client, member, REPAIR_CAFE)
    before = await client.get(f"/api/v1/projects/{project_id}/profile", headers=member.headers)
    assert before.status_code == 404
    generated = await client.post(
        f"/api/v1/projects/{project_id}/agents/generate", json={}, headers=member.headers
    )
    assert generated.status_code in (200, 201), generated.text
    assert generated.json()["project_types"][0]["key"] == "event"
    profile = await client.get(f"/api/v1/projects/{project_id}/profile", headers=member.headers)
    assert profile.status_code == 200
    body = profile.json()
    assert body["types"][0]["key"] == "event"
    assert body["types"][0]["signals"]
    assert body["title"] == "Organise a one-day repair café in our village hall"
    assert {r["source"] for r in body["requirements"]} == {"stated", "implied"}
    foreign = await client.get(
        f"/api/v1/projects/{project_id}/profile", headers=other_member.headers
    )
    assert foreign.status_code == 404

    plan = await client.post(
        f"/api/v1/projects/{project_id}/plans", json={}, headers=member.headers
    )
    assert plan.status_code == 201, plan.text
    tasks = plan.json()["tasks"]
    assert all(t["deliverable"] for t in tasks)
    assert all(t["assigned_agent_id"] for t in tasks)
    assert plan.json()["generated_by"] == "catalogue"


# --- with a model ----------------------------------------------------------------------------


async def test_a_model_s_plan_that_copies_the_description_is_replaced(client, member, models):
    from berrys.services.llm import service as llm

    project_id = await _project(client, member, REPAIR_CAFE)
    generated = await client.post(
        f"/api/v1/projects/{project_id}/agents/generate", json={}, headers=member.headers
    )
    assert generated.status_code in (200, 201)
    copied = {
        "phases": [
            {
                "name": "Work",
                "description": "",
                "tasks": [
                    {
                        "key": "T1",
                        "name": REPAIR_CAFE[:120],
                        "description": REPAIR_CAFE,
                        "estimate_hours": 8,
                        "agent": "Event Coordinator",
                    }
                ],
            }
        ],
        "dependencies": [],
        "milestones": [],
    }
    with llm.script(models, "planner", [json.dumps(copied)]):
        plan = await client.post(
            f"/api/v1/projects/{project_id}/plans", json={}, headers=member.headers
        )
    assert plan.status_code == 201, plan.text
    assert plan.json()["generated_by"].startswith("catalogue (replaced scripted/planner")
    names = [t["name"] for t in plan.json()["tasks"]]
    assert REPAIR_CAFE[:120] not in names
    assert len(names) >= 5


async def test_a_model_s_team_lacking_what_the_work_needs_is_replaced(client, member, models):
    from berrys.services.llm import service as llm

    project_id = await _project(client, member, REPAIR_CAFE)
    requirements = {
        "requirements": [
            {
                "text": "Run the café",
                "category": "FUNCTIONAL",
                "priority": "HIGH",
                "confidence": 0.9,
            }
        ]
    }
    team = {
        "agents": [
            {
                "name": "Coder",
                "agent_type": "DEVELOPER",
                "role": "Developer",
                "goal": "Code",
                "skills": ["python"],
                "responsibilities": ["code"],
                "requirement_ids": [1],
            }
        ],
        "collaboration": [],
    }
    with llm.script(models, "teamer", [json.dumps(requirements), json.dumps(team)]):
        generated = await client.post(
            f"/api/v1/projects/{project_id}/agents/generate", json={}, headers=member.headers
        )
    body = generated.json()
    assert body["sources"]["team"]["model"] == "catalogue"
    assert body["sources"]["team"]["fallback"] is True
    assert any("replaced by the catalogue" in note for note in body["notes"])
    assert "COORDINATOR" in {a["agent_type"] for a in body["team"]}
    assert "DEVELOPER" not in {a["agent_type"] for a in body["team"]}


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=400)
)
def test_any_text_gets_a_title_within_the_limit(description):
    made = title(description)
    assert made
    assert len(made) <= TITLE_LIMIT


def test_berrys_run_understands_an_event_and_an_article_differently(tmp_path, monkeypatch):
    env = {
        "BERRYS_DATA_DIR": str(tmp_path),
        "BERRYS_LOG_LEVEL": "WARNING",
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
    }
    runner = CliRunner()

    def run(description: str) -> dict:  # type: ignore[type-arg]
        result = runner.invoke(cli, ["run", description, "--approve", "auto", "--json"], env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # the first admin is announced on stderr

    event = run(REPAIR_CAFE)
    article = run("Write a one-page article about composting for the allotment newsletter")
    assert event["understanding"]["types"][0]["key"] == "event"
    types = {agent["type"] for agent in event["team"]}
    assert "COORDINATOR" in types
    assert "DEVELOPER" not in types
    assert article["understanding"]["types"][0]["key"] == "written_content"
    assert article["plan"]["finish_hours"] < event["plan"]["finish_hours"] / 2
