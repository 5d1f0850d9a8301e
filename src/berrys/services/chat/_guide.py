"""What Berry can do with this project: the answer to a message it did not understand.

Rather than the greeting, Berry lists what it can do next, with phrasings that work, drawn
from the project's state: its agents' names, a high-risk task of its plan, its latest run.
"""

from __future__ import annotations

from berrys.core.db import Database
from berrys.core.errors import BerrysError
from berrys.services.agents.contracts import AgentOut
from berrys.services.chat._outcome import Outcome, target_project
from berrys.services.chat._reading import Facts, read_facts
from berrys.services.chat._turn import Turn
from berrys.services.chat.contracts import IntentResult

NOT_UNDERSTOOD = "I did not understand that as a question or a request."


def _called(agent: AgentOut) -> str:
    """ "the Designer" for an agent named after its type, else its name."""
    typed = agent.name.lower() in (agent.agent_type.value.lower(), agent.role.lower())
    return f"the {agent.name}" if typed else agent.name


def _suggestions(facts: Facts) -> list[tuple[str, str]]:
    """(what Berry does, an example that works) for the project as it is now."""
    facts_of = [
        ("how it is going", "how is it going?"),
        ("what it is meant to do", "what are the requirements?"),
    ]
    if not facts.agents:
        return [*facts_of, ("propose its team of agents", "generate the team")]
    writers = {t.agent_id for t in facts.run.task_runs} if facts.run is not None else set()
    first = next((a for a in facts.agents if a.agent_type.value == "DESIGNER"), None) or next(
        (a for a in facts.agents if a.id in writers), facts.agents[0]
    )
    team = [("who is on its team", "who is on the team?")]
    if facts.plan is None or not facts.plan.tasks:
        return [*facts_of, *team, ("draft its plan", "plan it")]
    risky = next((t for t in facts.plan.tasks if t.risk_level.value in ("HIGH", "CRITICAL")), None)
    plan = [
        ("its plan", "what is the plan?"),
        ("what sets its finish date", "which tasks are on the critical path?"),
        (
            "why a task is risky",
            f"why is {risky.name} high-risk?" if risky else "which tasks are risky?",
        ),
    ]
    run_facts = [
        ("what an agent wrote", f"what did {_called(first)} write?"),
        ("what waits for you (approvals, deliverables to review)", "what is waiting for me?"),
        ("what it has cost", "what has it cost?"),
    ]
    if facts.run is None:
        return [
            *facts_of[:1],
            *team,
            *plan,
            ("start a run of the plan (I ask first)", "start it"),
            ("what waits for you", "what is waiting for me?"),
        ]
    return [
        *facts_of[:1],
        *plan,
        *run_facts,
        ("redraft the plan or regenerate the team (I ask first)", "plan it again"),
    ]


def _general(turn: Turn) -> list[tuple[str, str]]:
    if not turn.projects:
        return [
            (
                "create a project",
                "Create a project called Bakery Site to build a website for my bakery",
            )
        ]
    name = sorted(turn.projects)[0]
    return [
        ("tell you how your projects are going", "how are my projects going?"),
        ("answer about one of them", f"what is the plan of {name}?"),
        ("show what waits for you", "what is waiting for me?"),
        ("tell you what they have cost", "what has it cost?"),
        ("create another", "Create a project called Garden Planner to plan my garden"),
    ]


def _listed(suggestions: list[tuple[str, str]]) -> str:
    return "\n".join(f'- {what}: "{example}"' for what, example in suggestions)


async def guide(
    database: Database, turn: Turn, intent: IntentResult, *, lead: str = NOT_UNDERSTOOD
) -> Outcome:
    """What Berry can do here, with examples; about the conversation's project if it has one."""
    project_id, _name = target_project(turn, intent)
    if project_id is None:
        examples = _general(turn)
        return Outcome(
            reply=f"{lead} Here is what I can do:\n{_listed(examples)}".strip(),
            actions=[],
        )
    try:
        async with database.transaction(read_only=True) as session:
            facts = await read_facts(session, turn.user, project_id)
    except BerrysError:
        return Outcome(reply=f"{lead} Here is what I can do:\n{_listed(_general(turn))}".strip())
    examples = _suggestions(facts)
    return Outcome(
        reply=f'{lead} Here is what I can do with "{facts.project.name}":\n'
        f"{_listed(examples)}\nI never change anything on a question; redrafting, "
        "regenerating and starting a run ask for your yes first.".strip(),
        project_id=project_id,
    )
