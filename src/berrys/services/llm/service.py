"""Model Orchestration: the one entry other code calls to use a model.

``complete`` and ``stream`` take the :class:`Database`, never a session: they read the
registry and budgets in short transactions, call models with no transaction open, then
write every attempt as a ``model_request`` row in one short transaction.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.db import Database
from berrys.core.enums import AuditAction, ModelProvider, ModelRequestOutcome, UserRole
from berrys.core.errors import BudgetExceeded, Conflict, NotFound, ServiceUnavailable
from berrys.services.audit import service as audit
from berrys.services.auth.contracts import UserOut
from berrys.services.llm import accounting, router, runtime
from berrys.services.llm.contracts import (
    ChatMessage,
    Completion,
    CompletionRequest,
    ModelCreate,
    ModelOut,
    ModelUpdate,
    Specialisation,
    StreamChunk,
    UsageReport,
)
from berrys.services.llm.providers import scripted
from berrys.services.llm.providers.base import (
    ModelSeed,
    ModelSpec,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
    estimate_tokens,
)
from berrys.services.llm.router import AttemptRecord, NoModelAnswered
from berrys.services.llm.tables import LlmModel

_log = structlog.get_logger("berrys.llm")

# Scripted models for tests and users' own setups: see CONTRIBUTING "Models in tests".
script = scripted.install
scripts = scripted.scripts


def configure(settings: Settings) -> None:
    """Build the providers from ``settings`` (the app and the CLI call this once)."""
    runtime.configure(settings)


async def shutdown() -> None:
    await runtime.shutdown()


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
    json_schema = router.json_schema_of(request.response_schema)
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


def _spec_of(row: LlmModel) -> ModelSpec:
    return ModelSpec(
        provider=row.provider,
        name=row.name,
        capabilities=frozenset(row.capabilities),
        context_window=row.context_window,
        input_price_per_million=row.input_price_per_million,
        output_price_per_million=row.output_price_per_million,
        is_local=row.is_local,
        quality={key: int(value) for key, value in (row.quality or {}).items()},
        id=row.id,
        success_rate=row.success_rate,
        latency_ms_avg=row.latency_ms_avg,
        feedback_score=row.feedback_score,
    )


def _spec_of_seed(seed: ModelSeed) -> ModelSpec:
    return ModelSpec(
        provider=seed.provider,
        name=seed.name,
        capabilities=seed.capabilities,
        context_window=seed.context_window,
        input_price_per_million=seed.input_price_per_million,
        output_price_per_million=seed.output_price_per_million,
        is_local=seed.is_local,
        quality=dict(seed.quality),
    )


async def seeds() -> list[ModelSeed]:
    """The models the configured providers offer (asked once per process)."""
    state = runtime.get()
    if state.seeds is None:
        found: list[ModelSeed] = []
        for kind, provider in state.providers.items():
            try:
                found.extend(await provider.discover())
            except Exception as exc:
                _log.warning("llm.discover_failed", provider=kind, error=type(exc).__name__)
        state.seeds = found
    return state.seeds


async def candidates(database: Database) -> list[ModelSpec]:
    """Scripted models, the registry's enabled rows, and configured models not yet in it."""
    state = runtime.get()
    cached = state.models.get(database.url)
    if cached is None or time.monotonic() - cached[0] >= runtime.REGISTRY_TTL_SECONDS:
        async with database.transaction(read_only=True) as session:
            rows = list(await session.scalars(select(LlmModel)))
        listed = {(row.provider, row.name) for row in rows}
        specs = [_spec_of(row) for row in rows if row.enabled]
        specs += [_spec_of_seed(s) for s in await seeds() if (s.provider, s.name) not in listed]
        cached = (time.monotonic(), specs)
        state.models[database.url] = cached
    specs = list(cached[1])
    extra = scripted.installed_specs()
    cassette = state.providers[ModelProvider.SCRIPTED]
    if isinstance(cassette, scripted.ScriptedProvider) and cassette.cassette_spec() is not None:
        extra.append(cassette.cassette_spec())  # type: ignore[arg-type]
    if extra:
        names = {spec.key for spec in extra}
        specs = extra + [spec for spec in specs if spec.key not in names]
    return specs


async def complete(database: Database, request: CompletionRequest) -> Completion:
    """Route ``request`` to the best model, falling back down the chain; every attempt recorded.

    Raises BudgetExceeded (before any spending) when a budget forbids the call, and
    ServiceUnavailable when no model could answer.
    """
    state = runtime.get()
    preq = _prepare(request, state.settings)
    specs = await candidates(database)
    prompt_tokens = estimate_tokens("".join(m.content for m in preq.messages))
    try:
        chain, reason = router.choose(state, specs, request, prompt_tokens)
    except NoModelAnswered as exc:
        raise ServiceUnavailable(f"No model can answer: {exc.reason}") from None
    budget = await accounting.guard(database, state, request)
    records: list[AttemptRecord] = []
    call_id = uuid.uuid4()
    try:
        result = await router.run(
            state, chain, request, preq, records, reason=reason, budget=budget
        )
    except NoModelAnswered as exc:
        await accounting.write(
            database,
            records,
            request=request,
            call_id=call_id,
            request_hash=preq.request_hash,
            reason=reason,
        )
        if not records and budget is not None and budget.refusals:
            raise BudgetExceeded(
                "Every eligible model would exceed a budget: " + "; ".join(budget.refusals)
            ) from None
        raise ServiceUnavailable(f"No model could answer: {exc.reason}") from None
    except BaseException:
        await accounting.write(
            database,
            records,
            request=request,
            call_id=call_id,
            request_hash=preq.request_hash,
            reason=reason,
        )
        raise
    await accounting.write(
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


def _record_cassette(state: runtime.Runtime, preq: ProviderRequest, result: Completion) -> None:
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


async def stream(database: Database, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
    """The answer as text deltas, then a last chunk with the call's summary.

    A model that fails before its first delta is replaced by the next in the chain; one that
    fails midway ends the stream with the error (what was sent cannot be taken back).
    """
    state = runtime.get()
    preq = _prepare(request, state.settings)
    specs = await candidates(database)
    prompt_tokens = estimate_tokens("".join(m.content for m in preq.messages))
    try:
        chain, reason = router.choose(state, specs, request, prompt_tokens)
    except NoModelAnswered as exc:
        raise ServiceUnavailable(f"No model can answer: {exc.reason}") from None
    budget = await accounting.guard(database, state, request)
    records: list[AttemptRecord] = []
    call_id = uuid.uuid4()
    started = time.perf_counter()
    try:
        for spec in chain:
            if budget is not None and await budget(spec, 0.0, prompt_tokens):
                continue
            provider = state.providers[spec.provider]
            pieces: list[str] = []
            t0 = time.perf_counter()
            try:
                async with state.semaphore(spec.provider):
                    async for delta in provider.stream(spec, preq):
                        if delta:
                            pieces.append(delta)
                            yield StreamChunk(delta=delta)
            except ProviderError as error:
                latency = (time.perf_counter() - t0) * 1000
                records.append(
                    AttemptRecord(
                        spec=spec,
                        attempt=len(records) + 1,
                        outcome=error.outcome,
                        error_class=type(error).__name__,
                        error_detail=error.detail[:2000],
                        latency_ms=latency,
                    )
                )
                router.learn(spec, error.outcome, latency)
                router.on_failure(state, spec, error)
                if pieces:
                    raise ServiceUnavailable(f"{spec.name} failed midway: {error.detail}") from None
                continue
            latency = (time.perf_counter() - t0) * 1000
            content = "".join(pieces)
            prompt = estimate_tokens("".join(m.content for m in preq.messages))
            completion_tokens = estimate_tokens(content)
            record = AttemptRecord(
                spec=spec,
                attempt=len(records) + 1,
                outcome=ModelRequestOutcome.SUCCESS,
                prompt_tokens=prompt,
                completion_tokens=completion_tokens,
                cost_usd=spec.cost(prompt, completion_tokens),
                latency_ms=latency,
            )
            records.append(record)
            router.learn(spec, record.outcome, latency)
            completion = router.finish(
                spec, ProviderResponse(content=content), None, records, started, reason, [], preq
            )
            yield StreamChunk(done=True, completion=completion)
            return
        raise ServiceUnavailable(
            "No model could stream an answer: "
            + ("; ".join(f"{r.spec.name}: {r.outcome}" for r in records) or "none eligible")
        )
    finally:
        await accounting.write(
            database,
            records,
            request=request,
            call_id=call_id,
            request_hash=preq.request_hash,
            reason=reason,
        )


# Registry -------------------------------------------------------------------------------


def _out(row: LlmModel) -> ModelOut:
    return ModelOut.model_validate(row)


async def sync_registry(database: Database) -> list[ModelOut]:
    """Insert the configured providers' models that the registry lacks (edits are kept)."""
    found = await seeds()
    async with database.transaction() as session:
        listed = {(row.provider, row.name) for row in await session.scalars(select(LlmModel))}
        added: list[ModelOut] = []
        for seed in found:
            if (seed.provider, seed.name) in listed:
                continue
            row = LlmModel(
                provider=seed.provider,
                name=seed.name,
                capabilities=sorted(seed.capabilities),
                context_window=seed.context_window,
                input_price_per_million=seed.input_price_per_million,
                output_price_per_million=seed.output_price_per_million,
                is_local=seed.is_local,
                enabled=True,
                quality={key.value: value for key, value in seed.quality.items()},
                success_rate=1.0,
                feedback_score=0.0,
                requests=0,
            )
            session.add(row)
            await session.flush()
            created = _out(row)
            added.append(created)
            await audit.record(
                session,
                entity_type="model",
                entity_id=row.id,
                action=AuditAction.CREATE,
                actor_id=None,
                after=created,
            )
    runtime.get().forget_registry()
    return added


async def get_all(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    provider: ModelProvider | None = None,
    enabled: bool | None = None,
) -> tuple[list[ModelOut], int]:
    conditions = []
    if provider is not None:
        conditions.append(LlmModel.provider == provider)
    if enabled is not None:
        conditions.append(LlmModel.enabled.is_(enabled))
    total = (
        await session.execute(select(func.count()).select_from(LlmModel).where(*conditions))
    ).scalar_one()
    rows = await session.scalars(
        select(LlmModel)
        .where(*conditions)
        .order_by(LlmModel.provider, LlmModel.name)
        .limit(limit)
        .offset(offset)
    )
    return [_out(row) for row in rows], total


async def _row(session: AsyncSession, model_id: uuid.UUID) -> LlmModel:
    row = await session.get(LlmModel, model_id)
    if row is None:
        raise NotFound.of("Model", model_id)
    return row


async def get(session: AsyncSession, *, model_id: uuid.UUID) -> ModelOut:
    return _out(await _row(session, model_id))


async def create(session: AsyncSession, *, model_in: ModelCreate, user: UserOut) -> ModelOut:
    exists = await session.scalar(
        select(LlmModel.id).where(
            LlmModel.provider == model_in.provider, LlmModel.name == model_in.name
        )
    )
    if exists is not None:
        raise Conflict(f"Model {model_in.provider}/{model_in.name} is already registered")
    row = LlmModel(
        provider=model_in.provider,
        name=model_in.name,
        capabilities=sorted(model_in.capabilities),
        context_window=model_in.context_window,
        input_price_per_million=model_in.input_price_per_million,
        output_price_per_million=model_in.output_price_per_million,
        is_local=model_in.is_local,
        enabled=model_in.enabled,
        quality={key.value: value for key, value in model_in.quality.items()},
        success_rate=1.0,
        feedback_score=0.0,
        requests=0,
    )
    session.add(row)
    await session.flush()
    created = _out(row)
    await audit.record(
        session,
        entity_type="model",
        entity_id=row.id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=created,
    )
    runtime.get().forget_registry()
    return created


async def update(
    session: AsyncSession, *, model_id: uuid.UUID, model_in: ModelUpdate, user: UserOut
) -> ModelOut:
    row = await _row(session, model_id)
    before = _out(row)
    changes = model_in.model_dump(exclude_unset=True, exclude_none=True)
    if "capabilities" in changes:
        changes["capabilities"] = sorted(changes["capabilities"])
    if "quality" in changes:
        changes["quality"] = {str(getattr(k, "value", k)): v for k, v in changes["quality"].items()}
    for field, value in changes.items():
        setattr(row, field, value)
    await session.flush()
    after = _out(row)
    if after != before:
        await audit.record(
            session,
            entity_type="model",
            entity_id=row.id,
            action=AuditAction.UPDATE,
            actor_id=user.id,
            before=before,
            after=after,
        )
    runtime.get().forget_registry()
    return after


async def delete(session: AsyncSession, *, model_id: uuid.UUID, user: UserOut) -> None:
    row = await _row(session, model_id)
    before = _out(row)
    await session.delete(row)
    await audit.record(
        session,
        entity_type="model",
        entity_id=model_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )
    runtime.get().forget_registry()


async def feedback(
    session: AsyncSession, *, model_id: uuid.UUID, score: int, user: UserOut
) -> ModelOut:
    """A user's verdict on a model's answers: a moving average the router ranks by."""
    row = await _row(session, model_id)
    before = _out(row)
    row.feedback_score = round(
        row.feedback_score + router.EWMA_WEIGHT * (score - row.feedback_score), 4
    )
    await session.flush()
    after = _out(row)
    await audit.record(
        session,
        entity_type="model",
        entity_id=row.id,
        action=AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    runtime.get().forget_registry()
    return after


async def usage(
    session: AsyncSession,
    *,
    user: UserOut,
    project_ids: Sequence[uuid.UUID] = (),
    **filters: Any,
) -> UsageReport:
    """Usage a user may see: an admin all of it, others their own calls and their projects'."""
    visible = None if user.role == UserRole.ADMIN else (user.id, list(project_ids))
    return await accounting.usage(session, visible_to=visible, **filters)
