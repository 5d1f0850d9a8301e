"""A model's test: one small real call to that model alone (no router, no fallback), counted
in usage like any attempt, answered as ok with the latency or the provider's own error."""

from __future__ import annotations

import asyncio
import time
import uuid

from berrys.core.db import Database
from berrys.core.errors import NotFound
from berrys.services.auth.contracts import UserOut
from berrys.services.llm import _accounting, _credentials, _discovery
from berrys.services.llm._providers.base import (
    Provider,
    ProviderError,
    ProviderRequest,
    ProviderTimeout,
)
from berrys.services.llm._router import AttemptRecord
from berrys.services.llm._runtime import Runtime
from berrys.services.llm.contracts import (
    ChatMessage,
    CompletionRequest,
    ModelProvider,
    ModelRequestOutcome,
    ModelTestResult,
)
from berrys.services.llm.tables import LlmModel

PROMPT = "Reply with one word: ready."
MAX_TOKENS = 16
TIMEOUT_SECONDS = 30.0
REPLY_CHARACTERS = 200


async def probe_model(
    models: Runtime, database: Database, *, model_id: uuid.UUID, user: UserOut
) -> ModelTestResult:
    """Ask the registered model ``model_id`` one short question, with no transaction open."""
    async with database.transaction(read_only=True) as session:
        row = await session.get(LlmModel, model_id)
        if row is None:
            raise NotFound.of("Model", model_id)
        spec = _discovery.spec_of(row)
        if _credentials.has_endpoint(row):
            _credentials.endpoint(models, row)
    result = ModelTestResult(
        model_id=model_id,
        provider=spec.provider,
        model=spec.name,
        ok=False,
        latency_ms=0.0,
        outcome=ModelRequestOutcome.ERROR,
    )
    if spec.provider == ModelProvider.RULES:
        why = "RULES answers only requests that carry their own answer (the offline drafts)"
        return result.model_copy(update={"error": f"Not called: {why}"})
    provider = models.provider_for(spec)
    if provider is None:
        return result.model_copy(update={"error": f"Not called: {models.why_unserved(spec)}"})
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content=PROMPT)], max_tokens=MAX_TOKENS, user_id=user.id
    )
    timeout = min(models.settings.llm_timeout_seconds, TIMEOUT_SECONDS)
    preq = ProviderRequest(messages=request.messages, max_tokens=MAX_TOKENS, timeout=timeout)
    record = AttemptRecord(spec=spec, attempt=1, outcome=ModelRequestOutcome.SUCCESS)
    started = time.perf_counter()
    result = await _ask(models, provider, preq, record, result)
    record.latency_ms = (time.perf_counter() - started) * 1000
    await _accounting.write(
        database,
        [record],
        request=request,
        call_id=uuid.uuid4(),
        request_hash="",
        reason=f"a test of {spec.provider}/{spec.name}",
    )
    return result.model_copy(update={"latency_ms": round(record.latency_ms, 1)})


async def _ask(
    models: Runtime,
    provider: Provider,
    preq: ProviderRequest,
    record: AttemptRecord,
    result: ModelTestResult,
) -> ModelTestResult:
    """Send the probe within its timeout; ``record`` takes the outcome, tokens and cost."""
    spec = record.spec
    try:
        async with models.slot(spec):
            try:
                async with asyncio.timeout(preq.timeout):
                    response = await provider.complete(spec, preq)
            except TimeoutError:
                raise ProviderTimeout(f"no answer within {preq.timeout:g}s") from None
    except ProviderError as error:
        record.outcome, record.error_class = error.outcome, type(error).__name__
        record.error_detail = error.detail[:2000]
        return result.model_copy(update={"outcome": error.outcome, "error": error.detail})
    record.prompt_tokens = response.prompt_tokens or 0
    record.completion_tokens = response.completion_tokens or 0
    record.cost_usd = spec.cost(record.prompt_tokens, record.completion_tokens)
    reply = (response.content or "").strip()[:REPLY_CHARACTERS]
    return result.model_copy(
        update={"ok": True, "outcome": ModelRequestOutcome.SUCCESS, "reply": reply}
    )
