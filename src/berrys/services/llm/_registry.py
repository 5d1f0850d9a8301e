"""The model registry (editable over REST and CLI), budgets, feedback and usage."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, fetch_page
from berrys.core.errors import Conflict, NotFound, Unprocessable
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.llm import _accounting, _credentials, _router
from berrys.services.llm._discovery import seeds
from berrys.services.llm._runtime import Runtime
from berrys.services.llm.contracts import (
    BudgetOut,
    BudgetScope,
    BudgetSet,
    ModelCreate,
    ModelOut,
    ModelProvider,
    ModelUpdate,
    check_endpoint,
)
from berrys.services.llm.tables import LlmModel, ModelBudget, ModelGate


def _out(row: LlmModel) -> ModelOut:
    return ModelOut.model_validate(row)


async def sync_registry(models: Runtime, database: Database) -> list[ModelOut]:
    """Insert the configured providers' models that the registry lacks (edits are kept)."""
    found = await seeds(models)
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
    models.forget_registry()
    return added


async def ensure_registry(models: Runtime, database: Database) -> None:
    """Register the configured providers' models once per process (again if emptied)."""
    if database.url in models.synced:
        async with database.transaction(read_only=True) as session:
            if await session.scalar(select(func.count()).select_from(LlmModel)):
                return
    await sync_registry(models, database)
    models.synced.add(database.url)


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
    rows, total = await fetch_page(
        session,
        select(LlmModel).where(*conditions).order_by(LlmModel.provider, LlmModel.name),
        limit=limit,
        offset=offset,
    )
    return [_out(row) for row in rows], total


async def _row(session: AsyncSession, model_id: uuid.UUID) -> LlmModel:
    row = await session.get(LlmModel, model_id)
    if row is None:
        raise NotFound.of("Model", model_id)
    return row


async def get(session: AsyncSession, *, model_id: uuid.UUID) -> ModelOut:
    return _out(await _row(session, model_id))


async def create(
    models: Runtime, session: AsyncSession, *, model_in: ModelCreate, user: UserOut
) -> ModelOut:
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
    _credentials.store(models, row, base_url=model_in.base_url, api_key=model_in.api_key)
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
    models.forget_registry()
    return created


async def update(
    models: Runtime,
    session: AsyncSession,
    *,
    model_id: uuid.UUID,
    model_in: ModelUpdate,
    user: UserOut,
) -> ModelOut:
    row = await _row(session, model_id)
    before = _out(row)
    try:
        check_endpoint(
            row.provider,
            base_url=model_in.base_url or row.base_url,
            has_key=model_in.api_key is not None or row.api_key_encrypted is not None,
        )
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    _credentials.store(models, row, base_url=model_in.base_url, api_key=model_in.api_key)
    changes = model_in.model_dump(
        exclude_unset=True, exclude_none=True, exclude={"base_url", "api_key"}
    )
    if "capabilities" in changes:
        changes["capabilities"] = sorted(changes["capabilities"])
    if "quality" in changes:
        changes["quality"] = {str(getattr(k, "value", k)): v for k, v in changes["quality"].items()}
    for field, value in changes.items():
        setattr(row, field, value)
    await session.flush()
    after = _out(row)
    # A new key may end like the old one: its replacement is a change all the same.
    if after != before or model_in.api_key is not None:
        await audit.record(
            session,
            entity_type="model",
            entity_id=row.id,
            action=AuditAction.UPDATE,
            actor_id=user.id,
            before=before,
            after=after,
        )
    models.forget_registry()
    return after


async def delete(
    models: Runtime, session: AsyncSession, *, model_id: uuid.UUID, user: UserOut
) -> None:
    """Remove a model with what was learned of it, its quality-gate verdicts too (a model
    a provider still offers comes back on the next sync, measured afresh)."""
    row = await _row(session, model_id)
    before = _out(row)
    await session.execute(
        sa_delete(ModelGate).where(
            ModelGate.provider == row.provider, ModelGate.model_name == row.name
        )
    )
    await session.delete(row)
    await audit.record(
        session,
        entity_type="model",
        entity_id=model_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )
    models.forget_registry()
    models.gates.clear()


async def feedback(
    models: Runtime, session: AsyncSession, *, model_id: uuid.UUID, score: int, user: UserOut
) -> ModelOut:
    """A user's verdict on a model's answers: a moving average the router ranks by."""
    row = await _row(session, model_id)
    before = _out(row)
    row.feedback_score = round(
        row.feedback_score + _router.EWMA_WEIGHT * (score - row.feedback_score), 4
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
    models.forget_registry()
    return after


def _budget_out(row: ModelBudget, spent_usd: float = 0.0, spent_tokens: int = 0) -> BudgetOut:
    return BudgetOut(
        id=row.id,
        scope=row.scope,
        project_id=row.project_id,
        agent_id=row.agent_id,
        provider=row.provider,
        period=row.period,
        limit_usd=row.limit_usd,
        limit_tokens=row.limit_tokens,
        spent_usd=spent_usd,
        spent_tokens=spent_tokens,
    )


async def _spent(session: AsyncSession, row: ModelBudget) -> tuple[float, int]:
    line = _accounting.BudgetLine(
        id=row.id,
        scope=row.scope,
        project_id=row.project_id,
        agent_id=row.agent_id,
        provider=row.provider,
        period=row.period,
        limit_usd=row.limit_usd,
        limit_tokens=row.limit_tokens,
    )
    spent_usd, spent_tokens = (await session.execute(_accounting.spent_query(line))).one()
    return float(spent_usd), int(spent_tokens)


async def set_budget(
    models: Runtime, session: AsyncSession, *, budget_in: BudgetSet, user: UserOut
) -> BudgetOut:
    """Create or replace the budget of a project, an agent, or a provider's quota."""
    target = {
        BudgetScope.PROJECT: ("project_id", budget_in.project_id),
        BudgetScope.AGENT: ("agent_id", budget_in.agent_id),
        BudgetScope.PROVIDER: ("provider", budget_in.provider),
    }[budget_in.scope]
    if target[1] is None:
        raise Unprocessable(f"A {budget_in.scope} budget needs {target[0]}")
    if budget_in.limit_usd is None and budget_in.limit_tokens is None:
        raise Unprocessable("A budget needs limit_usd, limit_tokens or both")
    row = await session.scalar(
        select(ModelBudget).where(
            ModelBudget.scope == budget_in.scope,
            getattr(ModelBudget, target[0]) == target[1],
            ModelBudget.period == budget_in.period,
        )
    )
    before = _budget_out(row) if row is not None else None
    if row is None:
        row = ModelBudget(scope=budget_in.scope, period=budget_in.period)
        session.add(row)
    row.project_id = budget_in.project_id if budget_in.scope == BudgetScope.PROJECT else None
    row.agent_id = budget_in.agent_id if budget_in.scope == BudgetScope.AGENT else None
    row.provider = budget_in.provider if budget_in.scope == BudgetScope.PROVIDER else None
    row.limit_usd = budget_in.limit_usd
    row.limit_tokens = budget_in.limit_tokens
    await session.flush()
    after = _budget_out(row, *await _spent(session, row))
    await audit.record(
        session,
        entity_type="model_budget",
        entity_id=row.id,
        project_id=row.project_id,
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    models.forget_budgets()
    return after


async def get_budgets(
    session: AsyncSession, *, project_ids: Sequence[uuid.UUID] | None = None
) -> list[BudgetOut]:
    """Budgets with what each has spent; ``project_ids`` limits them to those projects'."""
    query = select(ModelBudget).order_by(ModelBudget.created_at)
    if project_ids is not None:
        query = query.where(ModelBudget.project_id.in_(list(project_ids)))
    rows = list(await session.scalars(query))
    return [_budget_out(row, *await _spent(session, row)) for row in rows]


async def delete_budget(
    models: Runtime, session: AsyncSession, *, budget_id: uuid.UUID, user: UserOut
) -> None:
    row = await session.get(ModelBudget, budget_id)
    if row is None:
        raise NotFound.of("Budget", budget_id)
    before = _budget_out(row)
    await session.delete(row)
    await audit.record(
        session,
        entity_type="model_budget",
        entity_id=budget_id,
        project_id=row.project_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )
    models.forget_budgets()
