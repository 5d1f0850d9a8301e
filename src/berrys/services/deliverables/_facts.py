"""What Berrys knows of a project, gathered for drafting: the project, what the catalogue
understood of it (its profile), the team, the plan's schedule and the upstream deliverables.
Only reads; the caller holds one short read-only transaction around it."""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.services.agents import service as agents
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import (
    FactMember,
    ProjectFacts,
    Risk,
    ScheduledTask,
)
from berrys.services.deliverables._scaffold import singular as _singular
from berrys.services.planning import service as planning
from berrys.services.projects import service as projects

_log = structlog.get_logger("berrys.deliverables")

UPSTREAM_CHARS = 6000

# "to track book loans and members", "manage orders, customers and stock"
_ENDS = (
    "(?:for|with|in|into|onto|via|through|by|on|from|so|where|that|who|which|to|at|"
    "before|after|until|when|because)"
)
_RECORDS = re.compile(
    r"\b(?:track|manage|record|store|log|catalogue|keep track of|keeps? records of|list|"
    r"register|handle|edit|share|crud for|models? for|tables? for|reserve|book|rent|borrow|order|"
    r"upload|rate)(?:s|es|ed|ing)?\s+"
    # not a noun before a preposition ("the catalogue with variants" keeps no "with variants")
    rf"(?!{_ENDS}\b)(.+?)(?=[.;:!?()\n]|\b{_ENDS}\b|$)",
    re.IGNORECASE,
)
# how or when something is done, not what is kept ("reserve courts online")
_HOW = {"online", "easily", "quickly", "remotely", "instantly", "together", "later", "again"}
_DETERMINERS = {"the", "their", "our", "its", "your", "all", "of", "a", "an", "any", "each"}
# Before a record verb these make it a noun: "our Shopify store", "the order", "in-store"
_NOUN_BEFORE = {"the", "a", "an", "our", "my", "your", "their", "its", "his", "her", "this"}
_OWNERS = {"our", "my", "your", "their", "his", "her"}  # "a model for our startup": for whom
# A list that goes on with another verb has become a new clause ("book appointments, fill
# in intake forms", "staff log a return and managers see a summary"): its words are no record
_CLAUSE_VERBS = {
    "fill", "pay", "scan", "see", "view", "get", "receive", "send", "check", "sign",
    "find", "search", "add", "create", "update", "delete", "print", "download",
    "export", "import", "submit", "cancel", "approve", "request", "compare", "browse", "buy",
    "sell", "leave", "write", "read", "post", "invite", "join", "chat", "message", "choose",
}  # fmt: skip
_NOT_ENTITIES = {
    "it",
    "them",
    "this",
    "that",
    "things",
    "data",
    "everything",
    "progress",
    "time",
    "app",
    "website",
    "site",
    "system",
    "simple",
    "small",
    "new",
    "online",
    "web",
    "flask",
    "fastapi",
    "api",
    "information",
    "details",
    "stuff",
    "who",
    "what",
    "when",
}


def entities_in(*texts: str) -> list[str]:
    """Things a description says the project keeps records of (``book loans``, ``members``)."""
    found: list[str] = []
    for text in texts:
        for match in _RECORDS.finditer(text):
            if _verb_is_a_noun(text, match):
                continue
            for name in _listed_records(match.group(1)):
                if _singular(name) not in {_singular(f) for f in found}:
                    found.append(name)
    return found[:8]


def _verb_is_a_noun(text: str, match: re.Match[str]) -> bool:
    """ "our Shopify store", "in-store", "a model for our startup": the verb's word is a thing."""
    before = text[: match.start()]
    if before.endswith("-"):
        return True
    previous = re.findall(r"[a-z]+", before.lower())[-1:]
    if previous and previous[0] in _NOUN_BEFORE:
        return True
    first = re.findall(r"[a-z]+", match.group(1).lower())[:1]
    return (
        bool(first)
        and first[0] in _OWNERS
        and match.group(0).lower().startswith(("model", "table", "crud"))
    )


def _listed_records(listed: str) -> list[str]:
    """The record names of one list ("book loans, members and fines"), up to where it turns
    into a clause of its own or describes the record before ("a return, its condition")."""
    names: list[str] = []
    parts = re.split(r"\s*(?:,|\band\b|\bor\b|&|/)\s*", listed)
    for index, part in enumerate(parts):
        raw = re.findall(r"[a-z]+", part.lower())
        if index and raw[:1] == ["its"]:
            break
        words = [w for w in raw if w not in _DETERMINERS]
        if index and any(w in _CLAUSE_VERBS for w in words):
            break
        while words and words[-1] in _HOW:
            words.pop()
        if index and len(words) > 1 and _RECORDS.match(" ".join(words) + " x"):
            words = words[1:]  # "book rooms and order lunches": the second verb
        if not words or any(w in _NOT_ENTITIES for w in words):
            continue
        name = " ".join(words[-2:])
        if not name.endswith("ing"):
            names.append(name)
    return names


async def project_facts(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    plan_id: uuid.UUID | None,
    user: UserOut,
    known: catalogue.Catalogue,
) -> ProjectFacts:
    """The project's facts (without upstream deliverables: the run engine adds those); the
    risks of its types come from the ``known`` catalogue."""
    project = await projects.get(session, project_id=project_id, user=user)
    profile = await catalogue.get_profile(session, project_id=project_id, user=user)
    team, _ = await agents.get_all(session, project_id=project_id, user=user, limit=200)
    names = {agent.id: agent.name for agent in team}
    types = [match.name for match in profile.types] if profile else []
    risks: list[Risk] = []
    for match in profile.types if profile else []:
        project_type = catalogue.project_type(known, match.key)
        if project_type is not None:
            risks += catalogue.risks_for(project_type, project.description)
    requirements = list(profile.requirements) if profile else []
    stated = [r.text for r in requirements if r.source == "stated"]
    facts = ProjectFacts(
        title=(profile.title if profile and profile.title else project.name),
        description=project.description or "",
        project_types=types,
        constraints=list(profile.constraints) if profile else [],
        team=[FactMember(name=a.name, role=a.role, agent_type=a.agent_type.value) for a in team],
        requirements=requirements,
        risks=risks,
        entities=entities_in(project.description or "", *stated),
        particulars=catalogue.particulars(project.description or ""),
    )
    if plan_id is not None:
        facts = await _with_schedule(session, facts, plan_id=plan_id, user=user, names=names)
    return facts


async def _with_schedule(
    session: AsyncSession,
    facts: ProjectFacts,
    *,
    plan_id: uuid.UUID,
    user: UserOut,
    names: dict[uuid.UUID, str],
) -> ProjectFacts:
    try:
        tasks = await planning.get_tasks(session, plan_id=plan_id, user=user)
        schedule = await planning.get_schedule(session, plan_id=plan_id, user=user, iterations=1)
    except Exception as exc:  # a plan removed since the run started, or not schedulable
        _log.info("deliverables.no_schedule", plan=str(plan_id), error=str(exc))
        return facts
    deliverable = {task.id: task.deliverable for task in tasks}
    scheduled = [
        ScheduledTask(
            name=task.name,
            agent=names.get(task.assigned_agent_id) if task.assigned_agent_id else None,
            deliverable=deliverable.get(task.task_id),
            start=task.early_start.date(),
            finish=task.early_finish.date(),
            hours=task.duration_hours,
            critical=task.critical,
        )
        for task in schedule.tasks
    ]
    return facts.model_copy(
        update={
            "schedule": scheduled,
            "start": schedule.start_at.date(),
            "finish": schedule.finish.date.date(),
        }
    )


def with_upstream(facts: ProjectFacts, upstream: dict[str, dict[str, Any]]) -> ProjectFacts:
    """The facts with the outputs of the tasks this one builds on (task name -> text)."""
    texts = {
        str(output.get("task_name") or key): str(output.get("text", ""))[:UPSTREAM_CHARS]
        for key, output in sorted(upstream.items())
        if output.get("text")
    }
    return facts.model_copy(update={"upstream": texts})
