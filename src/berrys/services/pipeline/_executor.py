"""The agents' executor: a task is carried out by its agent.

The system prompt comes from the agent (template, specialisation, project context), the task
prompt from the task (description, acceptance criteria, upstream outputs); then model -> tool
calls -> results until an answer or the step and budget limits, stored as an artifact and a
workspace file, with an optional AUDITOR review that sends it back a bounded number of times.
A task with a deliverable type is drafted by the deliverables service (``delivering.py``).
Every model and tool call goes through the task context, so it is recorded and replayed;
offline a task without a type gets an honest note, never a fake draft.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core import tracing
from berrys.core.db import Database
from berrys.core.errors import BerrysError, NotFound, ServiceUnavailable, TooManyRequests
from berrys.services.agents import service as agents
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import AgentType, DeliverableType
from berrys.services.deliverables import service as deliverables
from berrys.services.interactions.contracts import ApprovalSubject
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import (
    ChatMessage,
    Completion,
    CompletionRequest,
    ModelRequestOutcome,
    ModelTaskType,
    ToolCall,
    ToolSpec,
)
from berrys.services.pipeline import _delivering
from berrys.services.pipeline._approvals import tool_call_approved
from berrys.services.projects import service as projects
from berrys.services.runs.service import (
    ArtifactSpec,
    PauseRun,
    TaskContext,
    TaskOutcome,
    TaskSnapshot,
)
from berrys.services.tools import service as tools
from berrys.services.tools.service import ToolInvoker

_log = structlog.get_logger("berrys.executor")

MAX_STEPS = 8
REVIEW_ROUNDS = 2


async def _acting_creator(session: AsyncSession, task: TaskSnapshot) -> tuple[UserOut, Any]:
    """The run's creator as they are now, and the project as they see it: the engine acts
    for them. Once they may no longer write the project the run pauses (``PauseRun``) with
    the reason, until a person restores their access and resumes it, or cancels it."""
    creator = task.run_options.get("created_by")
    if not creator:
        raise PauseRun(
            "Paused: nobody started this run, and Berrys acts only for the person who starts "
            "one. Cancel it and start it again as yourself."
        )
    user = await auth.acting_for(session, user_id=uuid.UUID(creator))
    if user is None:
        raise PauseRun(
            "Paused: the person who started this run no longer has an active account, and "
            "Berrys acts only for them. Reactivate the account and resume the run, or cancel it."
        )
    if not user.can_write:
        raise PauseRun(
            f"Paused: {user.email}, who started this run, may no longer change projects (role "
            f"{user.role.value}). Give them MEMBER back and resume the run, or cancel it."
        )
    try:
        project = await projects.get(session, project_id=task.project_id, user=user)
    except NotFound:
        raise PauseRun(
            f"Paused: {user.email}, who started this run, can no longer see its project. "
            "Give them access again and resume the run, or cancel it."
        ) from None
    return user, project


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "task"


def detect_format(text: str) -> tuple[str, str, str]:
    """(format, media type, file suffix) of an answer."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            json.loads(stripped)
            return "json", "application/json", ".json"
        except ValueError:
            pass
    if re.search(r"^(#|\* |- |\d+\. )", stripped, re.MULTILINE):
        return "markdown", "text/markdown", ".md"
    return "text", "text/plain", ".txt"


def task_prompt(ctx: TaskContext, feedback: list[str]) -> str:
    task = ctx.task
    lines = [f"# Task: {task.name}", "", task.description or "(no description)"]
    if task.acceptance_criteria:
        lines += ["", "## Acceptance criteria"]
        lines += [f"- {item}" for item in task.acceptance_criteria]
    if task.upstream:
        lines += ["", "## Outputs of the tasks this one builds on"]
        for key, output in sorted(task.upstream.items()):
            name = output.get("task_name") or key
            text = str(output.get("text", ""))[:4000]
            lines += [f"### {name}", text]
    answers = task.spec.get("answers") or {}
    if answers:
        lines += ["", "## Answers from people"] + [f"- {value}" for value in answers.values()]
    for index, note in enumerate(feedback, 1):
        lines += ["", f"## Reviewer feedback (round {index})", note]
    lines += ["", "Produce the deliverable itself, complete, in Markdown (or JSON if asked)."]
    return "\n".join(lines)


def completion_dict(completion: Completion) -> dict[str, Any]:
    """A model completion as JSON (what the journal records and replays)."""
    return {
        "content": completion.content,
        "tool_calls": [
            {"id": call.id or f"call_{index}", "name": call.name, "arguments": call.arguments}
            for index, call in enumerate(completion.tool_calls)
        ],
        "usage": {
            "input_tokens": completion.usage.prompt_tokens,
            "output_tokens": completion.usage.completion_tokens,
            "cost_usd": completion.usage.cost_usd,
        },
        "provider": completion.provider.value,
        "model": completion.model,
    }


def _usage(result: dict[str, Any]) -> tuple[float, int]:
    usage = result.get("usage") or {}
    return float(usage.get("cost_usd", 0.0)), int(
        usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
    )


class Review(BaseModel):
    """What a reviewer must answer; anything else is not an approval."""

    approved: bool
    feedback: str = ""


def parse_review(text: str) -> tuple[Review, bool]:
    """The review in ``text`` and whether it could be read; unreadable is not approved,
    never approval."""
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    try:
        if match is None:
            raise ValueError("no JSON object")
        return Review.model_validate_json(match.group(0)), True
    except (ValueError, ValidationError):
        excerpt = " ".join((text or "").split())[:200]
        return Review(
            approved=False,
            feedback=f"The review could not be read, so it does not count as approval: “{excerpt}”",
        ), False


NO_MODEL = (
    "No language model was configured when this task ran, so Berrys wrote nothing for it "
    "rather than invent it. Configure a model (for example BERRYS_OPENAI_BASE_URL=... with "
    "BERRYS_OPENAI_API_KEY=...) and run the task again, or write it yourself."
)


def offline_note(task: Any, unanswered: str = "") -> str:
    """What RULES answers for a task with no deliverable type: an honest note, not a draft.
    ``unanswered``: the models that were asked and failed (it stands in for them)."""
    criteria = [str(item) for item in task.acceptance_criteria] or [
        f"Write the deliverable of “{task.name}”"
    ]
    todos = [f"- TODO(project owner): {item}" for item in criteria]
    count = f"{len(todos)} TODO{'s' if len(todos) != 1 else ''} for a person"
    why, text = "no model was configured", NO_MODEL
    if unanswered:
        why = f"no model could answer ({unanswered})"
        text = (
            f"The configured models could not answer when this task ran ({unanswered}), so "
            "Berrys wrote nothing for it rather than invent it. Send the task back once a "
            "model answers again, or write it yourself."
        )
    lines = [f"> Offline note: {why}; {count}", "", f"# {task.name}", ""]
    lines += [text, "", "## What it must meet", "", *todos]
    return "\n".join(lines) + "\n"


def unanswered(completion: Completion) -> str:
    """The models that failed before RULES answered (``tiny CONNECTION_ERROR``), or ""."""
    if not completion.from_rules:
        return ""
    return ", ".join(
        f"{attempt.model} {attempt.outcome}"
        for attempt in completion.attempts
        if attempt.outcome != ModelRequestOutcome.SUCCESS
    )


def offline_answer(
    messages: list[dict[str, Any]], task_type: str, note: str = ""
) -> dict[str, Any]:
    """A deterministic answer when no model service is available (recorded as RULES): a
    review that approves nothing, or the task's offline note."""
    prompt = messages[-1]["content"] if messages else ""
    if task_type == ModelTaskType.REVIEW:
        content = json.dumps({"approved": False, "feedback": "No model was available to review."})
    else:
        content = note or NO_MODEL
    tokens = max(1, len(prompt) // 4)
    return {
        "content": content,
        "tool_calls": [],
        "usage": {"input_tokens": tokens, "output_tokens": len(content) // 4, "cost_usd": 0.0},
        "provider": "RULES",
        "model": "rules",
    }


def from_rules(answer: dict[str, Any]) -> bool:
    return str(answer.get("provider") or "RULES").upper() == "RULES"


class AgentExecutor:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        models: llm.Runtime,
        tools: ToolInvoker,
        max_steps: int = MAX_STEPS,
        review_rounds: int = REVIEW_ROUNDS,
    ) -> None:
        self.settings = settings
        self.database = database
        self.models = models
        self.tools = tools
        self.max_steps = max_steps
        self.review_rounds = review_rounds

    # -- context ----------------------------------------------------------------------------
    async def _load(self, ctx: TaskContext) -> dict[str, Any]:
        task = ctx.task
        async with self.database.reads() as session:
            user, project = await _acting_creator(session, task)
            system = (
                f"You are an expert working on the project '{project.name}'.\n{project.description}"
            )
            agent_name = None
            if task.agent_id is not None:
                try:
                    system = await agents.system_prompt(session, agent_id=task.agent_id, user=user)
                    agent_name = (await agents.get(session, agent_id=task.agent_id, user=user)).name
                    tracing.name_agent(agent_name)
                except NotFound as exc:  # the agent was removed since the plan was made
                    _log.info("executor.agent_missing", agent=str(task.agent_id), error=str(exc))
            auditor: tuple[uuid.UUID, str] | None = None  # its id and system prompt
            if ctx.task.run_options.get("review"):
                team, _ = await agents.get_all(
                    session, project_id=task.project_id, user=user, limit=200
                )
                found = next((a for a in team if a.agent_type == AgentType.AUDITOR), None)
                if found is not None:
                    auditor = (
                        found.id,
                        await agents.system_prompt(session, agent_id=found.id, user=user),
                    )
            tools = await self._bound_tools(session, task.agent_id)
        return {
            "description": project.description,
            "system": system,
            "agent_name": agent_name,
            "auditor": auditor,
            "tools": tools,
            "user": user,
        }

    async def _bound_tools(self, session: Any, agent_id: uuid.UUID | None) -> list[dict[str, Any]]:
        """The agent's tools: name, description, schema, policy, idempotency."""
        if agent_id is None:
            return []
        try:
            bound = await tools.get_agent_tools(session, agent_id=agent_id)
        except Exception:
            return []
        return [
            {
                "id": str(tool.id),
                "name": tool.name,
                "description": tool.description,
                "input_schema": tool.input_schema,
                "approval_policy": tool.approval_policy.value,
                "idempotent": tool.idempotent,
            }
            for tool in bound
        ]

    # -- calls ------------------------------------------------------------------------------
    async def _complete(
        self,
        ctx: TaskContext,
        messages: list[dict[str, Any]],
        *,
        task_type: ModelTaskType,
        tools: list[dict[str, Any]],
        agent_id: uuid.UUID | None,
        rules: str = "",
    ) -> dict[str, Any]:
        options = ctx.task.run_options
        request = {
            "messages": messages,
            "task_type": task_type.value,
            "tools": [tool["name"] for tool in tools],
            "model": options.get("model"),
        }

        async def call() -> dict[str, Any]:
            def build(with_tools: bool) -> CompletionRequest:
                listed = tools if with_tools else []
                return _completion_request(ctx, messages, task_type, listed, agent_id, rules)

            dropped = False
            try:
                completion = await llm.complete(self.models, self.database, build(True))
            except ServiceUnavailable:
                if not tools:
                    raise
                # No available model can call tools: answer without them (recorded).
                completion = await llm.complete(self.models, self.database, build(False))
                dropped = True
            answer = completion_dict(completion)
            if dropped:
                answer["tools_dropped"] = True
            failed = unanswered(completion)
            if failed and rules:  # the note stands in for models that failed: it says so
                answer["content"] = offline_note(ctx.task, failed)
                answer["unanswered"] = failed
            return answer

        recorded: dict[str, Any] = await ctx.model(request, call, usage=_usage)
        return recorded

    async def _tool(
        self, ctx: TaskContext, tool: dict[str, Any], call: dict[str, Any], user: Any
    ) -> Any:
        """The model's tool ``call`` (its id, name and arguments) with ``tool``."""
        arguments: dict[str, Any] = call["arguments"]
        if tool["approval_policy"] == "REQUIRES_APPROVAL":
            await ctx.require_approval(
                grant=ctx.grant_key(tool["name"], arguments),
                subject=ApprovalSubject.TOOL_CALL,
                title=f"Allow tool {tool['name']!r} for task {ctx.task.name!r}?",
                prompt=json.dumps(arguments, indent=2, default=str)[:4000],
                details={"tool": tool["name"], "arguments": arguments},
            )

        async def invoke() -> Any:
            token = tool_call_approved.set(tool["approval_policy"] == "REQUIRES_APPROVAL")
            try:
                result = await self.tools.invoke(
                    tool_id=uuid.UUID(tool["id"]),
                    arguments=arguments,
                    user=user,
                    project_id=ctx.task.project_id,
                    agent_id=ctx.task.agent_id,
                    call_id=call.get("id"),
                )
            except (ServiceUnavailable, TooManyRequests):
                raise  # transient: retried with back-off
            except BerrysError as exc:
                # Refused or invalid (policy, schema, approval): the model hears why.
                return {"is_error": True, "error": f"{exc.title}: {exc.detail}"}
            finally:
                tool_call_approved.reset(token)
            return result.model_dump(mode="json") if hasattr(result, "model_dump") else result

        return await ctx.tool(tool["name"], arguments, invoke, idempotent=tool["idempotent"])

    # -- the task ---------------------------------------------------------------------------
    async def execute(self, ctx: TaskContext) -> TaskOutcome:
        loaded = await self._load(ctx)
        deliverable = self._deliverable(ctx, loaded["description"])
        if deliverable is not None:
            return await self._deliver(ctx, loaded, deliverable)
        tools = loaded["tools"]
        by_name = {tool["name"]: tool for tool in tools}
        feedback: list[str] = []
        review: dict[str, Any] | None = None
        answer: dict[str, Any] = {}
        verdicts: list[dict[str, Any]] = []
        note = offline_note(ctx.task)
        for round_ in range(self.review_rounds + 1):
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": loaded["system"]},
                {"role": "user", "content": task_prompt(ctx, feedback)},
            ]
            for _ in range(self.max_steps):
                answer = await self._complete(
                    ctx,
                    messages,
                    task_type=ModelTaskType.TASK,
                    tools=tools,
                    agent_id=ctx.task.agent_id,
                    rules=note,
                )
                calls = answer.get("tool_calls") or []
                if not calls:
                    break
                messages.append(
                    {"role": "assistant", "content": answer["content"], "tool_calls": calls}
                )
                for call in calls:
                    tool = by_name.get(call["name"])
                    if tool is None:
                        result: Any = {"error": f"unknown tool {call['name']!r}"}
                    else:
                        result = await self._tool(ctx, tool, call, loaded["user"])
                    messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.get("id"),
                            "content": json.dumps(result, default=str)[:8000],
                        }
                    )
            if from_rules(answer) or loaded["auditor"] is None or not ctx.task.acceptance_criteria:
                break
            review = await self._review(
                ctx, loaded["auditor"], answer.get("content", ""), verdicts=verdicts
            )
            if _final(review) or round_ == self.review_rounds:
                break
            feedback.append(str(review.get("feedback", "")))
        # The workspace file is a side effect: a task started before its claim committed
        # (a continuation) writes it only once the claim holds.
        await ctx.confirmed()
        await self._record_verdicts(verdicts)
        return self._outcome(ctx, answer, review, loaded["agent_name"], len(feedback))

    def _deliverable(self, ctx: TaskContext, description: str) -> DeliverableType | None:
        """The task's deliverable type as this project needs it; None for free-form work."""
        known = catalogue.current(self.settings)
        return catalogue.deliverable_for(known, ctx.task.spec.get("deliverable"), description)

    async def _deliver(
        self, ctx: TaskContext, loaded: dict[str, Any], deliverable: Any
    ) -> TaskOutcome:
        """A task with a deliverable type: the deliverables service drafts it (a model's
        draft against the outline, gated; offline, the outline filled from the facts)."""
        facts = await _delivering.read_facts(
            self.database, catalogue.current(self.settings), ctx, loaded["user"]
        )
        source = facts.project_types[0] if facts.project_types else "Berrys"
        stem = f"{ctx.task.spec.get('position', '')}{slug(ctx.task.name)}"
        fresh: list[bool] = []
        verdicts: list[dict[str, Any]] = []

        async def complete(prompt: str) -> dict[str, Any]:
            before = ctx.replayed
            messages = [
                {"role": "system", "content": loaded["system"]},
                {"role": "user", "content": prompt},
            ]
            answer = await self._complete(
                ctx, messages, task_type=ModelTaskType.TASK, tools=[], agent_id=ctx.task.agent_id
            )
            fresh.append(ctx.replayed == before)
            return answer

        criteria = [*deliverable.acceptance, *(str(c) for c in ctx.task.acceptance_criteria)]
        # A person who sent an earlier draft back: their feedback comes first.
        feedback = [str(note) for note in ctx.task.spec.get("review_feedback") or []]
        sent_back = len(feedback)
        review: dict[str, Any] | None = None
        for round_ in range(self.review_rounds + 1):
            first = len(fresh)
            result = await deliverables.draft(
                deliverable, facts, source=source, complete=complete, stem=stem, feedback=feedback
            )
            for verdict in result.verdicts:
                call = verdict["call"]
                at = first + (call if call is not None else len(fresh) - first - 1)
                if 0 <= at < len(fresh) and fresh[at]:
                    verdicts.append({**verdict, "task_type": ModelTaskType.TASK})
            if result.source != "model" or loaded["auditor"] is None:
                break
            text = result.draft.preview
            review = await self._review(ctx, loaded["auditor"], text, criteria, verdicts=verdicts)
            if _final(review) or round_ == self.review_rounds:
                break
            feedback.append(str(review.get("feedback", "")))
        await ctx.confirmed()
        await self._record_verdicts(verdicts)
        return _delivering.outcome(
            ctx,
            result,
            folder=self._folder(ctx),
            agent_name=loaded["agent_name"],
            review=review,
            review_retries=len(feedback) - sent_back,
            review_reasons=_review_reasons(review),
        )

    async def _review(
        self,
        ctx: TaskContext,
        auditor: tuple[uuid.UUID, str],
        content: str,
        criteria: list[str] | None = None,
        *,
        verdicts: list[dict[str, Any]],
    ) -> dict[str, Any]:
        auditor_id, system = auditor
        listed = "\n".join(f"- {item}" for item in (criteria or ctx.task.acceptance_criteria))
        messages = [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": (
                    f"Review the deliverable of task '{ctx.task.name}' against its acceptance "
                    f"criteria:\n{listed}\n\n--- Deliverable ---\n{content[:8000]}\n\n"
                    'Answer with JSON only: {"approved": true|false, "feedback": "..."}'
                ),
            },
        ]
        before = ctx.replayed
        reply = await self._complete(
            ctx, messages, task_type=ModelTaskType.REVIEW, tools=[], agent_id=auditor_id
        )
        if from_rules(reply):
            return {
                "approved": False,
                "feedback": "No model was available to review it.",
                "offline": True,
            }
        review, readable = parse_review(reply.get("content", ""))
        if ctx.replayed == before:
            verdicts.append(
                {
                    "provider": reply.get("provider"),
                    "model": reply.get("model"),
                    "passed": readable,
                    "task_type": ModelTaskType.REVIEW,
                }
            )
        # An unreadable review ends the rounds: its "feedback" would teach the writer nothing.
        return review.model_dump() if readable else {**review.model_dump(), "unreadable": True}

    async def _record_verdicts(self, verdicts: list[dict[str, Any]]) -> None:
        await _delivering.record_verdicts(self.models, self.database, verdicts)

    def _folder(self, ctx: TaskContext) -> Path:
        folder = self.settings.workspace_dir(ctx.task.project_id) / "runs" / str(ctx.task.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _outcome(
        self,
        ctx: TaskContext,
        answer: dict[str, Any],
        review: dict[str, Any] | None,
        agent_name: str | None,
        review_retries: int,
    ) -> TaskOutcome:
        content = answer.get("content", "") or ""
        fmt, media_type, suffix = detect_format(content)
        produced_by = f"{answer.get('provider') or 'RULES'}/{answer.get('model') or 'rules'}"
        folder = self._folder(ctx)
        path: Path = folder / f"{ctx.task.spec.get('position', '')}{slug(ctx.task.name)}{suffix}"
        path.write_text(content, encoding="utf-8")  # same content on every replay
        reasons = _review_reasons(review)
        if not from_rules(answer):  # a loop or an echoed prompt is no deliverable either
            task = ctx.task
            allowed = [task.description, *map(str, task.acceptance_criteria)]
            allowed += [str(output.get("text", "")) for output in task.upstream.values()]
            allowed += [str(value) for value in (task.spec.get("answers") or {}).values()]
            screened = deliverables.screen(content, prompt=task_prompt(ctx, []), allowed=allowed)
            reasons = [*screened.reasons, *reasons]
        if from_rules(answer):
            todos = content.count("TODO(")
            failed = answer.get("unanswered")
            why = f"No model could answer ({failed})" if failed else "No model was configured"
            reasons.insert(0, f"{why}: {todos} TODO{'s' * (todos != 1)} for a person")
        output = {
            "text": content,
            "format": fmt,
            "task_name": ctx.task.name,
            "agent": agent_name,
            "produced_by": produced_by,
            "path": str(path.resolve()),
            "review": review,
            "review_retries": review_retries,
        }
        return TaskOutcome(
            output=output,
            artifacts=[
                ArtifactSpec(
                    name=ctx.task.name, media_type=media_type, content=content, path=str(path)
                )
            ],
            produced_by=produced_by,
            review_reasons=reasons,
        )


def _completion_request(
    ctx: TaskContext,
    messages: list[dict[str, Any]],
    task_type: ModelTaskType,
    tools: list[dict[str, Any]],
    agent_id: uuid.UUID | None,
    rules: str,
) -> CompletionRequest:
    """The model request of a step: its conversation, the tools offered (none: ``tools``
    empty), and RULES' answer should no model answer."""
    return CompletionRequest(
        messages=[
            ChatMessage(
                role=message["role"],
                content=message.get("content") or "",
                tool_calls=[ToolCall(**c) for c in message["tool_calls"]]
                if message.get("tool_calls")
                else None,
                tool_call_id=message.get("tool_call_id"),
            )
            for message in messages
        ],
        task_type=task_type,
        tools=[
            ToolSpec(
                name=tool["name"],
                description=tool["description"] or "",
                parameters=tool["input_schema"] or {"type": "object"},
            )
            for tool in tools
        ]
        or None,
        rules=lambda: offline_answer(messages, task_type, rules)["content"],
        project_id=ctx.task.project_id,
        agent_id=agent_id,
        task_id=ctx.task.id,
        model=ctx.task.run_options.get("model"),
    )


def _final(review: dict[str, Any]) -> bool:
    """No more rounds: approved, or a review that cannot improve the draft."""
    return bool(review["approved"] or review.get("offline") or review.get("unreadable"))


def _review_reasons(review: dict[str, Any] | None) -> list[str]:
    """A review that did not approve: why a person must look (an unreadable one included)."""
    if review is None or review.get("approved"):
        return []
    if review.get("offline"):
        return ["No model was available to review it"]
    return [f"The reviewer did not approve it: {str(review.get('feedback', ''))[:300]}"]
