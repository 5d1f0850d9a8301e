"""Intent recognition: the model router with structured output, and the rules beneath it.

The rules are deterministic and always present: they are the router's ``rules=`` answer and
what answers when the model call fails, so a message is always understood somehow. What the
rules do not recognise is compared with exemplar questions by the local embedder
(:mod:`nearest`). A question is answered from the project's data (intent STATUS with a
``question``); an action needs a request in words ("plan it", "start the run"), whatever a
model made of the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import structlog

from berrys.core.db import Database
from berrys.core.errors import BerrysError
from berrys.services.chat import _nearest
from berrys.services.chat._questions import (
    HELP,
    HOW_TO,
    clean,
    is_greeting,
    is_question,
    question_of,
    requested_action,
    subject_of,
)
from berrys.services.chat.contracts import ChatIntent, IntentResult, IntentSource
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import CompletionRequest, ModelTaskType

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
    asks = is_question(text)
    if pending and _CONFIRM.match(text) and not asks:
        return IntentResult(intent=Intent.CONFIRM)
    if pending and _CANCEL.match(text):
        return IntentResult(intent=Intent.CANCEL)
    if _CREATE.search(text) and not asks:
        named = _NAMED.search(text)
        if named:
            name = clean(named.group("quoted") or named.group("bare"))
            description = clean(named.group("desc"))
            if description and named.group("link").lower() not in ("to", "so that"):
                description = f"{named.group('link')} {description}"
            return IntentResult(
                intent=Intent.CREATE_PROJECT, project_name=name, description=description
            )
        plain = _PROJECT_TO.search(text)
        return IntentResult(
            intent=Intent.CREATE_PROJECT,
            project_name=None,
            description=clean(plain.group("desc")) if plain else None,
        )
    mentioned = mentioned_project(text, project_names)
    for pattern, intent in ((_APPROVE, Intent.APPROVE), (_REJECT, Intent.REJECT)):
        match = pattern.match(text)
        if match:
            return IntentResult(
                intent=intent, project_name=mentioned, comment=clean(match.group("rest"))
            )
    action = requested_action(text)
    if action is not None:
        return IntentResult(intent=action, project_name=mentioned)
    if HELP.search(text):
        return IntentResult(intent=Intent.HELP, project_name=mentioned)
    question = question_of(text)
    if question is not None:
        return IntentResult(
            intent=Intent.STATUS,
            question=question,
            subject=subject_of(text),
            project_name=mentioned,
        )
    if HOW_TO.search(text):
        return IntentResult(intent=Intent.HELP, project_name=mentioned)
    return IntentResult(intent=Intent.SMALL_TALK, project_name=mentioned)


async def understand(
    models: llm.Runtime,
    content: str,
    *,
    pending: bool = False,
    project_names: Sequence[str] = (),
) -> IntentResult:
    """The rules, and for what they do not recognise the embedder's nearest question."""
    result = by_rules(content, pending=pending, project_names=project_names)
    if result.intent != Intent.SMALL_TALK or is_greeting(content):
        return result
    question = await _nearest.nearest_question(models, content.strip())
    if question is None:
        return result
    return IntentResult(
        intent=Intent.STATUS,
        question=question,
        subject=subject_of(content),
        project_name=result.project_name,
    )


ACTIONS = frozenset(
    {
        Intent.CREATE_PROJECT,
        Intent.GENERATE_TEAM,
        Intent.PLAN,
        Intent.START_RUN,
        Intent.APPROVE,
        Intent.REJECT,
    }
)


def reconcile(model: IntentResult, rules: IntentResult, content: str) -> IntentResult | None:
    """The rules' answer where the model's must not stand, else None (the model's stands).

    A model may read "which tasks are on the critical path?" as PLAN; a question never
    becomes an action, so an action the message does not request in words is overruled.
    """
    if model.intent in ACTIONS and model.intent != rules.intent and is_question(content):
        return rules
    if model.intent == Intent.STATUS and model.question is None:
        return model.model_copy(
            update={"question": rules.question or "overview", "subject": rules.subject}
        )
    if model.intent == Intent.SMALL_TALK and rules.intent == Intent.STATUS:
        return rules
    return None


RULES_SOURCE = IntentSource(provider="RULES", model="rules", fallback=False)


async def _complete_with_router(
    models: llm.Runtime,
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
    response = await llm.complete(models, database, request)
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
    models: llm.Runtime,
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
    ruled = await understand(models, content, pending=pending, project_names=project_names)

    def rules_answer() -> IntentResult:
        return ruled

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
        result, source = await complete(
            models, database, messages=messages, rules_answer=rules_answer
        )
    except (BerrysError, ValueError) as exc:
        _log.warning("chat.intent_fallback", error=type(exc).__name__, detail=str(exc))
        return ruled, RULES_SOURCE.model_copy(
            update={"fallback": True, "reason": f"{type(exc).__name__}: {exc}"}
        )
    if result.intent in (Intent.CONFIRM, Intent.CANCEL) and not pending:
        result = IntentResult(intent=Intent.SMALL_TALK)
    if result.intent == Intent.CONFIRM and is_question(content):
        result = ruled
    overruled = reconcile(result, ruled, content)
    if overruled is not None and overruled is ruled and source.provider != "RULES":
        source = RULES_SOURCE.model_copy(
            update={
                "fallback": True,
                "reason": f"{source.model} read a question as {result.intent.value}",
            }
        )
    return overruled or result, source
