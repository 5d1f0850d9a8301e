"""Evaluation from measurements: usability, performance, compatibility, security.

Each dimension is a score in [0, 1] with the findings behind it in ``details``; the
weighted overall score gives the verdict. Performance comes from probe calls when the
tool is safe to probe (read-only, with probe arguments), otherwise from its execution log.
"""

from __future__ import annotations

import re
import shutil
import statistics
import sys
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database
from berrys.core.errors import BerrysError
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.tools import _builtin
from berrys.services.tools._invocation import ToolInvoker
from berrys.services.tools._mcp import McpServerSpec
from berrys.services.tools._registry import get_tool_row, secrets_in
from berrys.services.tools.contracts import (
    ApprovalPolicy,
    EvaluateRequest,
    EvaluationOut,
    McpTransport,
    ToolExecutionOutcome,
    ToolSource,
    ToolStatus,
    ToolVerdict,
)
from berrys.services.tools.tables import McpServer, Tool, ToolEvaluation, ToolExecution

WEIGHTS = {"security": 0.35, "performance": 0.25, "usability": 0.2, "compatibility": 0.2}
_DESTRUCTIVE = re.compile(
    r"\b(delete|remove|drop|kill|exec|execute|shell|write|commit|push|reset|rm|format|"
    r"truncate|destroy|overwrite|checkout|create_branch)\b",
    re.IGNORECASE,
)
_SEMVER = re.compile(r"^\d+\.\d+(\.\d+)?([.+-][0-9A-Za-z.+-]*)?$")


def _clamp(value: float) -> float:
    return round(max(0.0, min(1.0, value)), 4)


def usability(tool: Tool) -> tuple[float, dict[str, Any]]:
    schema = tool.input_schema or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    typed = [name for name, prop in properties.items() if isinstance(prop, dict) and "type" in prop]
    described = [
        name
        for name, prop in properties.items()
        if isinstance(prop, dict) and prop.get("description")
    ]
    description = (tool.description or "").strip()
    score = 0.0
    score += 0.25 if len(description) >= 20 else 0.1 if description else 0.0
    score += 0.15 if schema.get("type") == "object" else 0.0
    score += 0.2 * (len(typed) / len(properties) if properties else 1.0)
    score += 0.2 * (len(described) / len(properties) if properties else 1.0)
    score += 0.1 if "required" in schema or not properties else 0.0
    score += 0.1 if tool.output_schema else 0.0
    return _clamp(score), {
        "description_chars": len(description),
        "parameters": len(properties),
        "typed_parameters": len(typed),
        "described_parameters": len(described),
        "declares_required": "required" in schema,
        "has_output_schema": bool(tool.output_schema),
    }


def _declared_access(tool: Tool) -> dict[str, Any]:
    metadata = tool.tool_metadata or {}
    access = dict(metadata.get("access") or {})
    annotations = metadata.get("annotations") or {}
    if tool.source == ToolSource.HTTP:
        access.setdefault("network", "http tool")
    if annotations.get("openWorldHint") or annotations.get("open_world_hint"):
        access.setdefault("network", "open world (declared by the server)")
    return access


def _read_only(tool: Tool) -> bool:
    annotations = (tool.tool_metadata or {}).get("annotations") or {}
    if tool.source == ToolSource.BUILTIN:
        spec = _builtin.BUILTINS.get(tool.target)
        return spec is not None and not spec.access
    return bool(annotations.get("readOnlyHint") or annotations.get("read_only_hint"))


def security(tool: Tool) -> tuple[float, dict[str, Any]]:
    findings: list[str] = []
    score = 1.0
    access = _declared_access(tool)
    annotations = (tool.tool_metadata or {}).get("annotations") or {}
    if access.get("network"):
        score -= 0.2
        findings.append(f"network access: {access['network']}")
    if access.get("files") == "write":
        score -= 0.2
        findings.append("writes files (inside the project workspace)")
    elif access.get("files"):
        score -= 0.05
        findings.append("reads files (inside the project workspace)")
    verbs = sorted({m.lower() for m in _DESTRUCTIVE.findall(f"{tool.name} {tool.description}")})
    destructive_hint = annotations.get("destructiveHint", annotations.get("destructive_hint"))
    if destructive_hint is True and not _read_only(tool):
        score -= 0.3
        findings.append("the server declares it destructive")
    elif verbs and not _read_only(tool):
        score -= 0.2
        findings.append(f"destructive verbs: {', '.join(verbs)}")
    secrets = secrets_in(tool.configuration or {})
    if secrets:
        score -= min(0.45, 0.15 * len(secrets))
        findings.append(f"secrets stored in configuration: {', '.join(secrets)}")
    if tool.approval_policy != ApprovalPolicy.AUTO and score < 1.0:
        score += 0.1
        findings.append(f"mitigated by approval policy {tool.approval_policy}")
    return _clamp(score), {
        "findings": findings,
        "declared_access": access,
        "destructive_verbs": verbs,
        "read_only": _read_only(tool),
    }


def _latency_factor(median_ms: float) -> float:
    if median_ms < 100:
        return 1.0
    if median_ms < 1000:
        return 0.8
    if median_ms < 5000:
        return 0.5
    return 0.2


async def _performance(
    invoker: ToolInvoker,
    tool: Tool,
    request: EvaluateRequest,
    user: UserOut | None,
) -> tuple[float, dict[str, Any]]:
    metadata = tool.tool_metadata or {}
    probe_args = request.probe_arguments
    if probe_args is None:
        probe_args = metadata.get("probe_arguments")
    needs_project = bool(metadata.get("needs_project"))
    safe = _read_only(tool) and tool.approval_policy == ApprovalPolicy.AUTO and not needs_project
    if probe_args is not None and safe:
        return await _probed_performance(invoker, tool, request, probe_args, user)
    return await _logged_performance(invoker.database, tool)


def _speed_score(success: float, median_ms: float | None) -> float:
    """The success rate, discounted by how slow the median successful call was."""
    return _clamp(success * (_latency_factor(median_ms) if median_ms is not None else 0.0))


async def _probed_performance(
    invoker: ToolInvoker,
    tool: Tool,
    request: EvaluateRequest,
    arguments: dict[str, Any],
    user: UserOut | None,
) -> tuple[float, dict[str, Any]]:
    """Performance measured by calling the tool ``request.probes`` times (through
    ``invoker``)."""
    durations: list[float] = []
    failures: list[str] = []
    for _ in range(request.probes):
        try:
            result = await invoker.invoke(tool_id=tool.id, arguments=arguments, user=user)
        except BerrysError as exc:
            failures.append(exc.detail)
            continue
        if result.is_error:
            failures.append(result.error or "error")
        else:
            durations.append(result.duration_ms)
    success = len(durations) / request.probes
    median = statistics.median(durations) if durations else None
    return _speed_score(success, median), {
        "measured_by": "probe",
        "probes": request.probes,
        "success_rate": round(success, 4),
        "median_ms": round(median, 3) if median is not None else None,
        "errors": failures[:3],
    }


async def _logged_performance(database: Database, tool: Tool) -> tuple[float, dict[str, Any]]:
    """Performance read from the tool's last 200 calls that ran (0.5 when it never ran)."""
    async with database.transaction(read_only=True) as session:
        rows = (
            await session.execute(
                select(ToolExecution.outcome, ToolExecution.duration_ms)
                .where(
                    ToolExecution.tool_id == tool.id,
                    ToolExecution.outcome.in_(
                        [
                            ToolExecutionOutcome.SUCCESS,
                            ToolExecutionOutcome.ERROR,
                            ToolExecutionOutcome.TIMEOUT,
                        ]
                    ),
                )
                .order_by(ToolExecution.created_at.desc())
                .limit(200)
            )
        ).all()
    reason = "no probe: the tool is not read-only or has no probe arguments"
    if not rows:
        return 0.5, {"measured_by": "none", "note": reason + ", and it has never run"}
    ok = [duration for outcome, duration in rows if outcome == ToolExecutionOutcome.SUCCESS]
    success = len(ok) / len(rows)
    median = statistics.median(ok) if ok else None
    return _speed_score(success, median), {
        "measured_by": "execution log",
        "note": reason,
        "executions": len(rows),
        "success_rate": round(success, 4),
        "median_ms": round(median, 3) if median is not None else None,
    }


async def _compatibility(
    invoker: ToolInvoker, tool: Tool, server: McpServer | None
) -> tuple[float, dict[str, Any]]:
    mcp = invoker.mcp
    details: dict[str, Any] = {"python": sys.version.split()[0], "version": tool.version}
    version_ok = bool(_SEMVER.match(tool.version or ""))
    details["version_is_semver"] = version_ok
    if tool.source == ToolSource.BUILTIN:
        present = tool.target in _builtin.BUILTINS
        details["builtin_present"] = present
        return _clamp((0.9 if present else 0.0) + (0.1 if version_ok else 0.0)), details
    if tool.source == ToolSource.HTTP:
        url = str((tool.configuration or {}).get("url", ""))
        details["url"] = url
        return _clamp((0.6 if url.startswith("https://") else 0.4) + (0.1 if version_ok else 0)), (
            details
        )
    if server is None:
        details["server"] = "missing"
        return 0.0, details
    score = 0.1 if version_ok else 0.0
    details["server"] = server.name
    details["enabled"] = server.enabled
    score += 0.2 if server.enabled else 0.0
    if server.transport == McpTransport.STDIO:
        found = shutil.which(server.command or "") is not None
        details["command_found"] = found
        score += 0.2 if found else 0.0
    else:
        score += 0.2 if (server.url or "").startswith(("http://", "https://")) else 0.0
    spec = McpServerSpec.of(server, invoker.settings)
    try:
        listed = await mcp.list_tools(spec)
        names = {remote.name for remote in listed}
        details["server_reachable"] = True
        details["tool_still_listed"] = tool.target in names
        score += 0.3 + (0.2 if tool.target in names else 0.0)
        details["protocol_version"] = mcp.health(spec.id).protocol_version
    except Exception as exc:
        details["server_reachable"] = False
        details["error"] = str(exc)
    return _clamp(score), details


def verdict_for(overall: float, scores: dict[str, float]) -> ToolVerdict:
    if scores["security"] < 0.3 or scores["compatibility"] < 0.3:
        return ToolVerdict.NOT_RECOMMENDED
    if overall >= 0.75:
        return ToolVerdict.RECOMMENDED
    if overall >= 0.5:
        return ToolVerdict.ACCEPTABLE
    return ToolVerdict.NOT_RECOMMENDED


async def evaluate(
    invoker: ToolInvoker,
    *,
    tool_id: uuid.UUID,
    request: EvaluateRequest,
    user: UserOut | None,
) -> EvaluationOut:
    """Measure (probe calls through ``invoker``), score, store one evaluation; a DISCOVERED
    tool becomes EVALUATED."""
    database = invoker.database
    async with database.transaction(read_only=True) as session:
        tool = await get_tool_row(session, tool_id)
        server = await session.get(McpServer, tool.mcp_server_id) if tool.mcp_server_id else None
    use_score, use_details = usability(tool)
    sec_score, sec_details = security(tool)
    perf_score, perf_details = await _performance(invoker, tool, request, user)
    comp_score, comp_details = await _compatibility(invoker, tool, server)
    scores = {
        "usability": use_score,
        "performance": perf_score,
        "compatibility": comp_score,
        "security": sec_score,
    }
    overall = _clamp(sum(WEIGHTS[key] * value for key, value in scores.items()))
    verdict = verdict_for(overall, scores)
    async with database.transaction() as session:
        row = ToolEvaluation(
            tool_id=tool_id,
            **scores,
            overall=overall,
            verdict=verdict,
            details={
                "weights": WEIGHTS,
                "usability": use_details,
                "performance": perf_details,
                "compatibility": comp_details,
                "security": sec_details,
            },
            evaluated_by=user.id if user else None,
        )
        session.add(row)
        stored = await get_tool_row(session, tool_id)
        stored.score = overall
        if stored.status == ToolStatus.DISCOVERED:
            stored.status = ToolStatus.EVALUATED
        await session.flush()
        out = EvaluationOut.model_validate(row)
        await audit.record(
            session,
            entity_type="tool_evaluation",
            entity_id=row.id,
            action=AuditAction.CREATE,
            actor_id=user.id if user else None,
            after=out,
        )
    return out


async def get_evaluations(
    session: AsyncSession, *, tool_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[EvaluationOut], int]:
    """The tool's evaluation history, newest first."""
    await get_tool_row(session, tool_id)
    rows = list(
        await session.scalars(
            select(ToolEvaluation)
            .where(ToolEvaluation.tool_id == tool_id)
            .order_by(ToolEvaluation.created_at.desc())
        )
    )
    return [EvaluationOut.model_validate(row) for row in rows[offset : offset + limit]], len(rows)
