"""Intent recognition: the model router with structured output, and the rules beneath it.

The rules are deterministic and always present: they are the router's ``rules=`` answer and
what answers when the model call fails, so a message is always understood somehow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import structlog

from berrys.core.db import Database
from berrys.core.enums import ChatIntent, ModelTaskType
from berrys.core.errors import BerrysError
from berrys.services.chat.contracts import IntentResult, IntentSource
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import CompletionRequest

_log = structlog.get_logger("berrys.chat")
Intent = ChatIntent

_QUOTES = "\"'\u201c\u201d\u2018\u2019"
_QUOTED = f"[{_QUOTES}]"
_CREATE = re.compile(
    r"\b(create|make|start|set\s*up|open|add|begin)\s+(?:a|an|one|another|my|new)\b[^.?!]*?"
    r"\bproject\b|\bnew\s+project\b",
    re.IGNORECASE,
)
_NAMED = re.compile(
    rf"\b(?:called|named|titled|name\s+it)\s+(?:{_QUOTED}(?P<quoted>[^{_QUOTES}]+){_QUOTED}"
    r"|(?P<bare>.+?))"
    r"(?:\s*,?\s+(?P<link>to|for|that|which|so\s+that|about|where)\s+(?P<desc>.+?))?\s*[.!]*$",
    re.IGNORECASE | re.DOTALL,
)
_PROJECT_TO = re.compile(r"\bproject\s+(?:to|for|about)\s+(?P<desc>.+?)\s*[.!]*$", re.IGNORECASE)
_CONFIRM = re.compile(
    r"^\s*(yes|y|yep|yeah|sure|ok|okay|confirm|confirmed|go\s+ahead|do\s+it|please\s+do"
    r"|proceed)\b",
    re.IGNORECASE,
)
_CANCEL = re.compile(
    r"^\s*(no|n|nope|cancel|stop|don'?t|do\s+not|never\s*mind|forget\s+it|abort)\b",
    re.IGNORECASE,
)
_APPROVE = re.compile(r"^\s*(?:please\s+)?(approve|accept)\b(?P<rest>.*)$", re.IGNORECASE)
_REJECT = re.compile(r"^\s*(?:please\s+)?(reject|decline|deny)\b(?P<rest>.*)$", re.IGNORECASE)
_TEAM = re.compile(
    r"\b(team|agents?|crew|staff)\b.*|\b(generate|assemble|build|propose|hire)\b.*\b(team|agents?)\b",
    re.IGNORECASE,
)
_PLAN = re.compile(
    r"\b(plan|schedule|gantt|critical\s+path|break\s+(?:it|this)\s+down|milestones?|tasks)\b",
    re.IGNORECASE,
)
_RUN = re.compile(r"\b(start|run|execute|kick\s*off|launch|begin|go\s+live)\b", re.IGNORECASE)
_STATUS = re.compile(
    r"\bhow(?:'s|\s+is|\s+are)?\b.*\b(going|doing|progress(?:ing)?|coming\s+along)\b"
    r"|\b(status|progress|update\s+me|where\s+are\s+we|how\s+far|eta|cost)\b",
    re.IGNORECASE,
)
_HELP = re.compile(
    r"\b(help|what\s+can\s+you\s+do|how\s+do\s+i|how\s+does|what\s+do\s+you\s+do|commands?)\b",
    re.IGNORECASE,
)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip().strip(_QUOTES).strip()
    return re.sub(r"[.!]+$", "", text).strip() or None


def mentioned_project(content: str, names: Sequence[str]) -> str | None:
    """The longest of ``names`` that the message contains (case-insensitive), if any."""
    lowered = content.lower()
    hits = [name for name in names if name and name.lower() in lowered]
    return max(hits, key=len) if hits else None


def by_rules(
    content: str, *, pending: bool = False, project_names: Sequence[str] = ()
) -> IntentResult:
    """Deterministic intent: patterns over the message, in order of specificity."""
    text = content.strip()
    if pending and _CONFIRM.match(text):
        return IntentResult(intent=Intent.CONFIRM)
    if pending and _CANCEL.match(text):
        return IntentResult(intent=Intent.CANCEL)
    if _CREATE.search(text):
        named = _NAMED.search(text)
        if named:
            name = _clean(named.group("quoted") or named.group("bare"))
            description = _clean(named.group("desc"))
            if description and named.group("link").lower() not in ("to", "so that"):
                description = f"{named.group('link')} {description}"
            return IntentResult(
                intent=Intent.CREATE_PROJECT, project_name=name, description=description
            )
        plain = _PROJECT_TO.search(text)
        return IntentResult(
            intent=Intent.CREATE_PROJECT,
            project_name=None,
            description=_clean(plain.group("desc")) if plain else None,
        )
    mentioned = mentioned_project(text, project_names)
    for pattern, intent in ((_APPROVE, Intent.APPROVE), (_REJECT, Intent.REJECT)):
        match = pattern.match(text)
        if match:
            return IntentResult(
                intent=intent, project_name=mentioned, comment=_clean(match.group("rest"))
            )
    for pattern, intent in (
        (_STATUS, Intent.STATUS),
        (_TEAM, Intent.GENERATE_TEAM),
        (_PLAN, Intent.PLAN),
        (_RUN, Intent.START_RUN),
        (_HELP, Intent.HELP),
    ):
        if pattern.search(text):
            return IntentResult(intent=intent, project_name=mentioned)
    return IntentResult(intent=Intent.SMALL_TALK, project_name=mentioned)


RULES_SOURCE = IntentSource(provider="RULES", model="rules", fallback=False)


async def _complete_with_router(
    database: Database,
    *,
    messages: list[dict[str, str]],
    rules_answer: Callable[[], IntentResult],
) -> tuple[IntentResult, IntentSource]:
    """Ask the model router (Model Orchestration), with the rules as its last fallback."""
    request = CompletionRequest(
        messages=messages,
        task_type=ModelTaskType.INTENT,
        response_schema=IntentResult,
        rules=rules_answer,
    )
    response = await llm.complete(database, request)
    parsed = response.parsed
    if not isinstance(parsed, IntentResult):
        parsed = IntentResult.model_validate(parsed)
    return parsed, IntentSource(
        provider=response.provider.value,
        model=response.model,
        fallback=response.fallback,
    )


# The seam tests replace to script the model's answer.
complete = _complete_with_router


async def recognise(
    database: Database,
    *,
    content: str,
    history: Sequence[tuple[str, str]],
    instructions: str,
    persona: str,
    pending: bool,
    project_names: Sequence[str],
) -> tuple[IntentResult, IntentSource]:
    """The intent of ``content`` given the conversation; the rules when the model fails."""

    def rules_answer() -> IntentResult:
        return by_rules(content, pending=pending, project_names=project_names)

    messages = [{"role": "system", "content": f"{persona}\n\n{instructions}"}]
    if project_names:
        messages.append(
            {"role": "system", "content": "The user's projects: " + "; ".join(project_names)}
        )
    if pending:
        messages.append(
            {"role": "system", "content": "Berry has just asked the user to confirm an action."}
        )
    messages += [{"role": role, "content": text} for role, text in history]
    messages.append({"role": "user", "content": content})
    try:
        result, source = await complete(database, messages=messages, rules_answer=rules_answer)
    except (BerrysError, ValueError) as exc:
        _log.warning("chat.intent_fallback", error=type(exc).__name__, detail=str(exc))
        return rules_answer(), RULES_SOURCE.model_copy(
            update={"fallback": True, "reason": f"{type(exc).__name__}: {exc}"}
        )
    if result.intent in (Intent.CONFIRM, Intent.CANCEL) and not pending:
        result = IntentResult(intent=Intent.SMALL_TALK)
    return result, source
