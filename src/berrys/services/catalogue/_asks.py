"""Work no catalogue task covers: the description's own asks, each a task for the kind of
agent its verb calls for, and the generic breakdown when no project type fits."""

from __future__ import annotations

import re

from berrys.core.enums import Priority
from berrys.services.catalogue import _text
from berrys.services.catalogue._work import PlannedTask, priority, words
from berrys.services.catalogue.contracts import AgentType, DependencyType, RiskLevel, TeamRole

GENERIC = "generic"
ASK_HOURS = 3.0
ASK_NAME_WORDS = 6
_VERBS = {
    "add", "analyse", "analyze", "apply", "arrange", "assess", "audit", "book", "brief", "build",
    "buy", "calculate", "change", "check", "choose", "clean", "clear", "collect", "compare",
    "compile", "comply", "configure", "contact", "create", "decide", "define", "deliver",
    "deploy", "design", "do", "donate", "draft", "edit", "estimate", "evaluate", "file", "find",
    "finish", "fix", "gather", "get", "give", "hire", "hold", "host", "improve", "install",
    "interview", "invite", "learn", "list", "make", "map", "measure", "migrate", "move",
    "negotiate", "order", "organise", "organize", "outline", "paint", "pick", "plan", "post",
    "practice", "practise", "prepare", "present", "print", "produce", "promote", "publish",
    "purchase", "raise", "read", "recruit", "redesign", "refresh", "register", "remove",
    "rename", "renew", "repair", "replace", "report", "research", "resolve", "review", "revise",
    "rewrite", "run", "schedule", "select", "sell", "send", "set", "share", "sign", "sort",
    "source", "study", "submit", "summarise", "summarize", "survey", "tell", "inform", "notify",
    "announce", "ask", "email", "call", "phone", "warn", "thank", "test", "tidy", "track",
    "train", "transfer", "translate", "update", "upgrade", "verify", "visit", "write",
}  # fmt: skip


_DETERMINERS = {"the", "a", "an", "its", "their", "our", "my", "your", "his", "her", "this"}
_DANGLING = re.compile(r"^(?:\w+ing|a|an|the|our|my|and|or)$", re.I)


def _starts_phrase(parts: list[str], i: int) -> bool:
    # "to Bristol" is where the work goes, part of its name; "to help the team" is not
    named_place = (
        parts[i].lower() in {"to", "from"} and i + 1 < len(parts) and parts[i + 1][:1].isupper()
    )
    return parts[i].lower() in _text.PHRASE_STARTS and not named_place


def ask_task_name(ask: str, *, clause: bool = False) -> str:
    """A task name for an ask no catalogue task covers: its own words as an action, cut
    before the first phrase after its third word (never the whole description)."""
    parts = ask.strip().rstrip(".").split()
    cut = next((i for i in range(3, len(parts)) if _starts_phrase(parts, i)), len(parts))
    cut = min(cut, ASK_NAME_WORDS)
    # a name cut short ends on a noun, not on "teaching" or "of"
    while cut > 3 and (
        parts[cut - 1].lower() in _text.PHRASE_STARTS or _DANGLING.search(parts[cut - 1])
    ):
        cut -= 1
    phrase = " ".join(parts[:cut])
    verb = clause or (bool(parts) and parts[0].lower() in _VERBS)
    determined = bool(parts) and parts[0].lower() in _DETERMINERS  # "its condition"
    name = phrase if verb else f"Include {phrase}" if determined else f"Include the {phrase}"
    return (name[0].upper() + name[1:])[:120]


def best_role(value: str, roles: dict[str, TeamRole], fallback: str) -> str:
    wanted = words(value)
    scored = [
        (len(wanted & words(" ".join([*r.skills, *r.responsibilities, r.role]))), key)
        for key, r in roles.items()
    ]
    best = max(scored, default=(0, fallback))
    return best[1] if best[0] > 0 else fallback


def ask_match(ask: str, tasks: list[PlannedTask]) -> PlannedTask | None:
    wanted = words(ask)
    if not wanted:
        return None
    scored = []
    for task in tasks:
        shared = wanted & words(" ".join([task.name, task.description, *task.terms]))
        # "waiting list" is not the test plan's "defect list": a container word alone is no match
        scored.append((len(shared) if shared - _CONTAINERS else 0, task))
    best = max(scored, key=lambda item: item[0], default=(0, None))
    return best[1] if best[0] >= max(1, len(wanted) // 2) else None


_CONTAINERS = words("list lists plan plans page pages form forms system report document set tool")


GENERIC_ROLES = {
    f"{GENERIC}.coordinator": TeamRole(
        key="coordinator",
        agent_type=AgentType.COORDINATOR,
        name="Coordinator",
        role="Project Coordinator",
        goal="Turn the request into clear steps, keep them moving and check the result.",
        skills=["planning", "prioritisation", "progress tracking", "checklists"],
        responsibilities=["Agree what done means", "Track each step to the end"],
        tools=["workspace.write_file", "workspace.read_file"],
    ),
    f"{GENERIC}.assistant": TeamRole(
        key="assistant",
        agent_type=AgentType.ASSISTANT,
        name="Assistant",
        role="Assistant",
        goal="Prepare each step's plan and materials so the person can act on them.",
        skills=["research", "writing", "checklists", "summarisation"],
        responsibilities=["Prepare a plan and checklist for each step"],
        tools=["workspace.write_file", "workspace.read_file", "workspace.search"],
    ),
}


def _role(key: str, kind: AgentType, name: str, goal: str, skills: list[str]) -> TeamRole:
    return TeamRole(
        key=key,
        agent_type=kind,
        name=name,
        role=name,
        goal=goal,
        skills=skills,
        responsibilities=[goal],
        tools=["workspace.write_file", "workspace.read_file"],
    )


GENERIC_ROLES |= {
    f"{GENERIC}.designer": _role(
        "designer", AgentType.DESIGNER, "Designer",
        "Design what the asks call to be designed, ready for a person to approve.",
        ["visual design", "layout", "typography", "accessibility"],
    ),
    f"{GENERIC}.developer": _role(
        "developer", AgentType.DEVELOPER, "Developer",
        "Build and test the software the asks call for.",
        ["software engineering", "testing", "automation", "deployment"],
    ),
    f"{GENERIC}.researcher": _role(
        "researcher", AgentType.RESEARCHER, "Researcher",
        "Find, check and summarise what the asks need to know.",
        ["desk research", "interviews", "synthesis", "source evaluation"],
    ),
    f"{GENERIC}.auditor": _role(
        "auditor", AgentType.AUDITOR, "Reviewer",
        "Check the work against what was asked and the rules that apply.",
        ["review", "testing", "compliance checks"],
    ),
}  # fmt: skip

ASK_VERBS: dict[str, AgentType] = {
    **dict.fromkeys(("design", "draw", "illustrate", "sketch", "lay"), AgentType.DESIGNER),
    **dict.fromkeys(
        ("code", "develop", "program", "implement", "script", "automate"), AgentType.DEVELOPER
    ),
    **dict.fromkeys(
        ("research", "investigate", "analyse", "analyze", "survey", "interview", "compare",
         "study", "synthesise", "synthesize", "find"),
        AgentType.RESEARCHER,
    ),
    **dict.fromkeys(("write", "draft", "edit", "translate", "proofread"), AgentType.ASSISTANT),
    **dict.fromkeys(("audit", "verify", "inspect"), AgentType.AUDITOR),
}  # fmt: skip
_GENERIC_OF = {r.agent_type: key for key, r in GENERIC_ROLES.items()}


def ask_role(ask: str, roles: dict[str, TeamRole], fallback: str) -> str:
    """The role for an ask: one of the type its verb calls for (the project's own, else a
    generic one), else the role whose skills it names."""
    verb = ask.split()[0].lower() if ask.split() else ""
    kind = ASK_VERBS.get(verb)
    if kind is not None:
        own = [key for key, r in roles.items() if r.agent_type == kind]
        return own[0] if own else _GENERIC_OF.get(kind, fallback)
    return best_role(ask, roles, fallback)


def generic(description: str, goals: list[str], items: list[str]) -> list[PlannedTask]:
    """Scope, one task per ask (each goal's steps, then the items it lists), then a check."""
    # what the person asks for, not what they state ("Our server is end of life; move ...")
    wanted = [g for g in goals if g.split()[0].lower() in _VERBS] or goals
    steps = [part for goal in wanted for part in _clauses(goal)] or wanted
    asks = list(dict.fromkeys([*steps, *items]))[:8]
    coordinator = f"{GENERIC}.coordinator" if len(asks) >= 3 else f"{GENERIC}.assistant"
    tasks = [
        PlannedTask(
            key="g_scope",
            name="Agree the goal, constraints and what done means",
            description="Write down the outcome wanted, the limits (time, money, people) and "
            "how to tell it is done",
            deliverable="project_brief",
            role=coordinator,
            hours=1.5,
            priority=Priority.HIGH,
            risk_level=RiskLevel.LOW,
            risk_reason=None,
            phase="Scope",
            acceptance=["The goal, the constraints and the finish line are written down"],
        )
    ]
    workers = {key: GENERIC_ROLES[key] for key in (f"{GENERIC}.assistant",)}
    for number, ask in enumerate(asks, start=1):
        role = ask_role(ask, workers, f"{GENERIC}.assistant")
        task = ask_task(f"g_ask{number}", ask, role, "Work", "g_scope", clause=ask in steps)
        tasks.append(task)
    tasks.append(
        PlannedTask(
            key="g_check",
            name="Check the results against the goal",
            description="Go through each step's result against what done means and list "
            "anything left open",
            deliverable="status_report",
            role=coordinator,
            hours=1.0,
            priority=Priority.MEDIUM,
            risk_level=RiskLevel.LOW,
            risk_reason=None,
            phase="Check",
            acceptance=["Every step is either done or has a named next action"],
            depends_on=[(t.key, DependencyType.FS, 0.0) for t in tasks[1:]],
            release=True,
        )
    )
    return tasks


def _clauses(goal: str) -> list[str]:
    parts = [p.strip() for p in re.split(r",|;|\band then\b|\band\b", goal) if p.strip()]
    return [p for p in parts if p.split() and p.split()[0].lower() in _VERBS] or [goal]


def ask_task(
    key: str, ask: str, role: str, phase: str, after: str | None, *, clause: bool = False
) -> PlannedTask:
    return PlannedTask(
        key=key,
        name=ask_task_name(ask, clause=clause),
        description=f"Plan and prepare what is needed for: {ask}",
        deliverable="work_package",
        role=role,
        hours=ASK_HOURS,
        priority=priority(ask),
        risk_level=RiskLevel.LOW,
        risk_reason=None,
        phase=phase,
        acceptance=[f"A plan and checklist for {ask!r} that a person can act on"],
        depends_on=[(after, DependencyType.FS, 0.0)] if after else [],
    )
