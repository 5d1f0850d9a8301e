"""The run page per task: who did it with which model, when, at what cost; its artifacts as
sanitised Markdown with a download link; the trace of its model and tool calls; and why an
approval is asked.

Markdown is rendered by markdown-it-py with raw HTML off (it is escaped, never passed
through) and its link validation on (no ``javascript:`` or ``data:`` links), so an agent's
deliverable cannot put markup or script on the page.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from berrys.services.interactions.contracts import InteractionStatus
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import StepKind, TaskRunOut

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table").enable("strikethrough")
MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
MAX_RENDERED = 400_000  # characters of an artifact rendered on the page; the rest: download
_RISK = re.compile(r"\bRisk: (.+?)(?:\n|$)")


def markdown(text: str) -> Markup:
    """Markdown as safe HTML: raw HTML in it is shown as text, unsafe links are dropped."""
    return Markup(_markdown.render(text[:MAX_RENDERED]))


def risk_reason(*texts: str | None) -> str | None:
    """The catalogue's "Risk: ..." sentence from a task's description or an approval."""
    for text in texts:
        found = _RISK.search(text or "")
        if found:
            return found.group(1).strip()
    return None


def _seconds(task: TaskRunOut) -> float | None:
    if task.started_at and task.finished_at:
        return max((task.finished_at - task.started_at).total_seconds(), 0.0)
    return None


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _tool_call_views(calls: list[Any] | None) -> list[dict[str, str]]:
    return [
        {"name": call.get("name", ""), "arguments": _pretty(call.get("arguments", {}))}
        for call in calls or []
        if isinstance(call, dict)
    ]


def _prompt(step: Any) -> dict[str, Any]:
    """What the call was asked: a model's messages in order, else the request as JSON
    (a tool's arguments); nothing for a step recorded before requests were kept."""
    request = step.request
    if request is None:
        return {"request_kept": False}
    messages = request.get("messages") if isinstance(request, dict) else None
    if step.kind == StepKind.MODEL and isinstance(messages, list):
        return {
            "request_kept": True,
            "messages": [
                {
                    "role": str(message.get("role", "")),
                    "content": str(message.get("content") or ""),
                    "tool_call_id": message.get("tool_call_id"),
                    "tool_calls": _tool_call_views(message.get("tool_calls")),
                }
                for message in messages
                if isinstance(message, dict)
            ],
        }
    return {"request_kept": True, "request": _pretty(request)}


def _step_view(step: Any) -> dict[str, Any]:
    # The journal records a call's answer as {"value": <what the call returned>}.
    answer = (step.result or {}).get("value")
    view: dict[str, Any] = {
        "seq": step.seq,
        "attempt": step.attempt,
        "kind": step.kind.value,
        "name": step.name or step.kind.value.lower(),
        "status": step.status.value,
        "tokens": step.tokens,
        "cost_usd": step.cost_usd,
        "duration_ms": step.duration_ms,
        "calls": step.calls,
        "error": step.error,
        "started_at": step.started_at,
        **_prompt(step),
    }
    if step.kind == StepKind.MODEL and isinstance(answer, dict) and "content" in answer:
        usage = answer.get("usage") or {}
        view.update(
            provider=answer.get("provider") or "",
            model=answer.get("model") or "",
            response=runs.cut_traced(str(answer.get("content") or ""), runs.MAX_TRACED_REQUEST),
            tool_calls=_tool_call_views(answer.get("tool_calls")),
            input_tokens=usage.get("input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0),
        )
    else:
        view["response"] = (
            runs.cut_traced(_pretty(answer), runs.MAX_TRACED_REQUEST) if answer is not None else ""
        )
    return view


def task_views(
    run: Any, steps: list[Any], agent_names: dict[uuid.UUID, str], pending: list[Any]
) -> list[dict[str, Any]]:
    """One entry per task run, in the run's order, with what the page shows of it."""
    by_task: dict[uuid.UUID, list[Any]] = {}
    for step in steps:
        by_task.setdefault(step.task_run_id, []).append(step)
    artifacts: dict[uuid.UUID, list[Any]] = {}
    for artifact in run.artifacts:
        artifacts.setdefault(artifact.task_run_id, []).append(artifact)
    waiting = {item.task_run_id: item for item in pending if item.task_run_id}
    views = []
    for task in run.task_runs:
        trace = [_step_view(step) for step in by_task.get(task.id, [])]
        models = [s for s in trace if s["kind"] == "MODEL" and s.get("model")]
        output = task.output or {}
        views.append(
            {
                "task": task,
                "agent": agent_names.get(task.agent_id) if task.agent_id else None,
                "model": models[-1]["model"] if models else None,
                "provider": models[-1]["provider"] if models else None,
                "produced_by": output.get("produced_by")
                or next((a.produced_by for a in artifacts.get(task.id, []) if a.produced_by), None),
                "seconds": _seconds(task),
                "trace": trace,
                "model_calls": sum(1 for s in trace if s["kind"] == "MODEL"),
                "tool_calls": sum(1 for s in trace if s["kind"] == "TOOL"),
                "artifacts": [artifact_view(a) for a in artifacts.get(task.id, [])],
                "waiting": waiting.get(task.id),
            }
        )
    return views


def artifact_view(artifact: Any) -> dict[str, Any]:
    media = (artifact.media_type or "").split(";")[0].strip().lower()
    name = Path(artifact.path).name if artifact.path else None
    is_markdown = media in MARKDOWN_TYPES or bool(name and name.endswith((".md", ".markdown")))
    return {
        "artifact": artifact,
        "file_name": name,
        "html": markdown(artifact.content) if is_markdown and artifact.content else None,
        "text": artifact.content if not is_markdown else None,
        "cut": len(artifact.content) > MAX_RENDERED,
        "size": len(artifact.content.encode()),
    }


def approval_views(pending: list[Any], run: Any) -> list[dict[str, Any]]:
    """The run's pending questions, each with the task's risk level and the reason for it."""
    tasks = {task.id: task for task in run.task_runs}
    views = []
    for item in pending:
        if item.status != InteractionStatus.PENDING:
            continue
        task = tasks.get(item.task_run_id) if item.task_run_id else None
        detail = item.detail or {}
        details = detail.get("details") or {}
        views.append(
            {
                "interaction": item,
                "task": task,
                "risk_level": details.get("risk_level")
                or (task.risk_level.value if task is not None else None),
                "reason": risk_reason(item.prompt),
                "subject": detail.get("subject"),
            }
        )
    return views
