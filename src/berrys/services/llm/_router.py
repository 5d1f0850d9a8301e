"""The router: choose a chain of models for a request, then walk it until one answers.

Choice: an explicit model first; then every model that meets the request's needs (chat,
structured output, tools, context window, local-only) and passes the quality gate's rule
(:mod:`berrys.services.llm._gates`), ranked by quality tier for the task type, learned
success rate and feedback, cost and latency; RULES last. Models cooling down go last; one
inside its provider's Retry-After is not tried. Walk: each attempt runs under the provider's
concurrency limit and a timeout; timeouts, 429, 5xx, connection errors, context overflow and
output still invalid after repairs move on to the next model; each attempt is recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
from opentelemetry.trace import Span, SpanKind
from pydantic import BaseModel, ValidationError

from berrys.core import tracing
from berrys.core.errors import Unprocessable
from berrys.services.llm._gates import Tallies, below_offline_draft
from berrys.services.llm._providers.base import (
    InvalidOutput,
    ModelSpec,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
    ProviderTimeout,
    RateLimited,
    estimate_tokens,
)
from berrys.services.llm._runtime import Runtime
from berrys.services.llm.contracts import (
    Attempt,
    ChatMessage,
    Completion,
    CompletionRequest,
    ModelCapability,
    ModelProvider,
    ModelRequestOutcome,
    Usage,
)

C = ModelCapability
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
DEFAULT_COMPLETION_TOKENS = 512
# How much a success or a failure moves a model's success rate.
EWMA_WEIGHT = 0.2


@dataclass(slots=True)
class AttemptRecord:
    spec: ModelSpec
    attempt: int
    outcome: ModelRequestOutcome
    error_class: str | None = None
    error_detail: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0

    def public(self) -> Attempt:
        return Attempt(
            attempt=self.attempt,
            provider=self.spec.provider,
            model=self.spec.name,
            outcome=self.outcome,
            error=self.error_class,
            latency_ms=round(self.latency_ms, 3),
            usage=Usage(
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                cost_usd=self.cost_usd,
            ),
        )


class NoModelAnswered(Exception):
    """Every candidate failed or none was eligible; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


BudgetGuard = Callable[[ModelSpec, float, int], Awaitable[str | None]]


def json_schema_of(schema: type[BaseModel] | dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    if isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


def extract_json(content: str) -> str:
    """The JSON inside an answer: without code fences or prose around the object."""
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if text.startswith(("{", "[")):
        return text
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def validate(schema: type[BaseModel] | dict[str, Any], response: ProviderResponse) -> Any:
    """The validated answer, or InvalidOutput carrying the validation error."""
    if isinstance(schema, type):
        if isinstance(response.parsed, schema):
            return response.parsed
        try:
            return schema.model_validate_json(extract_json(response.content))
        except ValidationError as exc:
            raise InvalidOutput(_short_errors(exc)) from None
    try:
        value = json.loads(extract_json(response.content))
        jsonschema.validate(value, schema)
    except ValueError as exc:
        raise InvalidOutput(f"not JSON: {exc}") from None
    except jsonschema.ValidationError as exc:
        raise InvalidOutput(
            f"schema violation at {list(exc.absolute_path)}: {exc.message}"
        ) from None
    return value


def _short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:8]]
    return "; ".join(parts)


def _needs(request: CompletionRequest) -> set[ModelCapability]:
    needs = {C.CHAT}
    if request.response_schema is not None:
        needs.add(C.STRUCTURED_OUTPUT)
    if request.tools:
        needs.add(C.TOOLS)
    return needs


def choose(
    runtime: Runtime,
    specs: list[ModelSpec],
    request: CompletionRequest,
    prompt_tokens: int,
    gates: Tallies | None = None,
) -> tuple[list[ModelSpec], str]:
    """The chain of models to try, best first, and the reason for the first choice.

    ``gates``: the quality gate's verdicts (``gates.tallies``), for TASK and REVIEW requests.
    """
    eligible, cooling, skipped = _screen(runtime, specs, request, prompt_tokens, gates)
    task = request.task_type

    def rank(spec: ModelSpec) -> tuple[float, ...]:
        learned = round(spec.success_rate + 0.1 * spec.feedback_score, 1)
        cost = spec.cost(prompt_tokens, request.max_tokens or DEFAULT_COMPLETION_TOKENS)
        return (-spec.tier(task), -learned, cost, spec.latency_ms_avg or 0.0)

    eligible.sort(key=rank)
    cooling.sort(key=rank)
    chain = eligible + cooling
    if chain and chain[0].provider != ModelProvider.RULES:
        # RULES is the last resort unless it is the best choice outright.
        chain = [s for s in chain if s.provider != ModelProvider.RULES] + [
            s for s in chain if s.provider == ModelProvider.RULES
        ]
    explicit = ""
    if request.model:
        first = _named_model(runtime, specs, request.model)
        chain = [first] + [s for s in chain if s.key != first.key]
        explicit = f"explicit model {first.name}"
    if not chain:
        raise NoModelAnswered(
            f"no model meets the needs of this {task} request"
            + (f" ({'; '.join(skipped)})" if skipped else "")
        )
    best = chain[0]
    reason = explicit or (
        f"{task}: {best.provider}/{best.name} is the best of {len(eligible)} eligible "
        f"(quality tier {best.tier(task)}, success {best.success_rate:.2f})"
    )
    if cooling:
        reason += f"; cooling down: {', '.join(s.name for s in cooling)}"
    if skipped:
        reason += f"; skipped: {'; '.join(skipped)}"
    return chain, reason


def _screen(
    runtime: Runtime,
    specs: list[ModelSpec],
    request: CompletionRequest,
    prompt_tokens: int,
    gates: Tallies | None,
) -> tuple[list[ModelSpec], list[ModelSpec], list[str]]:
    """The served models that meet the request's needs, split into those ready now and those
    cooling down, and why each other one was skipped."""
    needs = _needs(request)
    wanted = prompt_tokens + (request.max_tokens or 256)
    now = time.monotonic()
    eligible: list[ModelSpec] = []
    cooling: list[ModelSpec] = []
    skipped: list[str] = []
    for spec in specs:
        if runtime.provider_for(spec) is None:
            continue
        if spec.provider == ModelProvider.RULES and request.rules is None:
            continue
        unmet = _unmet(spec, request, needs=needs, wanted=wanted, gates=gates)
        if unmet is not None:
            skipped.append(f"{spec.name}: {unmet}")
            continue
        cooldown = runtime.cooling(spec, now)
        if cooldown is not None:
            if cooldown.strict:
                skipped.append(f"{spec.name}: Retry-After")
            else:
                cooling.append(spec)
            continue
        eligible.append(spec)
    return eligible, cooling, skipped


def _unmet(
    spec: ModelSpec,
    request: CompletionRequest,
    *,
    needs: set[ModelCapability],
    wanted: int,
    gates: Tallies | None,
) -> str | None:
    """Which of the request's needs the model does not meet, or None."""
    missing = needs - spec.capabilities
    if missing:
        return f"no {'/'.join(sorted(missing))}"
    if spec.context_window < wanted and spec.provider != ModelProvider.RULES:
        return f"context {spec.context_window} < {wanted}"
    if request.local_only and not spec.is_local:
        return "not local"
    if gates:
        return below_offline_draft(spec, request.task_type, gates)
    return None


def _named_model(runtime: Runtime, specs: list[ModelSpec], name: str) -> ModelSpec:
    """The model a request names (``name`` or ``provider/name``); Unprocessable when it is
    unknown or cannot be served."""
    named = [s for s in specs if s.name == name or _qualified(s) == name]
    if not named:
        known = sorted({s.name for s in specs})
        raise Unprocessable(f"Unknown model {name!r}; known: {', '.join(known)}", known=known)
    first = named[0]
    if runtime.provider_for(first) is None:
        raise Unprocessable(f"Model {name!r}: {runtime.why_unserved(first)}")
    return first


def _qualified(spec: ModelSpec) -> str:
    return f"{spec.provider.value.lower()}/{spec.name}"


async def _call(runtime: Runtime, spec: ModelSpec, preq: ProviderRequest) -> ProviderResponse:
    provider = runtime.provider_for(spec)
    assert provider is not None  # choose() keeps only served models
    async with runtime.slot(spec):
        try:
            async with asyncio.timeout(preq.timeout):
                return await provider.complete(spec, preq)
        except TimeoutError:
            raise ProviderTimeout(f"no answer within {preq.timeout:g}s") from None


def repair_messages(messages: list[ChatMessage], content: str, error: str) -> list[ChatMessage]:
    return [
        *messages,
        ChatMessage(role="assistant", content=content),
        ChatMessage(
            role="user",
            content=f"That answer is invalid: {error}. Answer again with only the corrected "
            "JSON object, valid against the schema.",
        ),
    ]


def on_failure(runtime: Runtime, spec: ModelSpec, error: ProviderError) -> None:
    """Cool a failing model down; a provider's Retry-After is honoured exactly."""
    if isinstance(error, RateLimited):
        seconds = error.retry_after
        if seconds is None:
            seconds = runtime.settings.llm_cooldown_seconds
        runtime.cool_down(spec, seconds, strict=error.retry_after is not None)
        return
    if not error.cooldown:
        return
    failures = runtime.failures.get(spec.key, 0) + 1
    runtime.failures[spec.key] = failures
    runtime.cool_down(spec, runtime.settings.llm_cooldown_seconds * min(2 ** (failures - 1), 8))


def learn(spec: ModelSpec, outcome: ModelRequestOutcome, latency_ms: float) -> None:
    if outcome in (ModelRequestOutcome.UNSUPPORTED, ModelRequestOutcome.CONTEXT_OVERFLOW):
        return
    success = outcome == ModelRequestOutcome.SUCCESS
    spec.success_rate += EWMA_WEIGHT * ((1.0 if success else 0.0) - spec.success_rate)
    if success:
        previous = spec.latency_ms_avg
        spec.latency_ms_avg = (
            latency_ms if previous is None else previous + EWMA_WEIGHT * (latency_ms - previous)
        )


async def run(
    runtime: Runtime,
    chain: list[ModelSpec],
    request: CompletionRequest,
    preq: ProviderRequest,
    records: list[AttemptRecord],
    *,
    reason: str,
    budget: BudgetGuard | None = None,
) -> Completion:
    """Walk ``chain``; every attempt is appended to ``records``."""
    started = time.perf_counter()
    prompt_estimate = estimate_tokens("".join(m.content for m in preq.messages))
    overflow_window = 0
    notes: list[str] = []
    for spec in chain:
        if overflow_window and spec.context_window <= overflow_window:
            continue
        refusal = await budget_refusal(budget, spec, request, prompt_estimate)
        if refusal:
            notes.append(f"{spec.name}: {refusal}")
            continue
        answer = await _ask(runtime, spec, request, preq, records)
        if answer is not None:
            response, parsed = answer
            return finish(spec, response, parsed, records, started, reason, notes, preq)
        if records[-1].outcome == ModelRequestOutcome.CONTEXT_OVERFLOW:
            overflow_window = spec.context_window  # only a larger window can take the prompt
    summary = "; ".join(f"{r.spec.name}: {r.outcome}" for r in records) or "no attempt made"
    if notes:
        summary += "; " + "; ".join(notes)
    raise NoModelAnswered(summary)


async def budget_refusal(
    budget: BudgetGuard | None, spec: ModelSpec, request: CompletionRequest, prompt_estimate: int
) -> str | None:
    """Why a budget forbids calling ``spec`` at its estimated cost, or None."""
    if budget is None:
        return None
    completion_estimate = request.max_tokens or DEFAULT_COMPLETION_TOKENS
    estimate = spec.cost(prompt_estimate, completion_estimate)
    return await budget(spec, estimate, prompt_estimate + completion_estimate)


async def _ask(
    runtime: Runtime,
    spec: ModelSpec,
    request: CompletionRequest,
    preq: ProviderRequest,
    records: list[AttemptRecord],
) -> tuple[ProviderResponse, Any] | None:
    """Ask one model, repairing invalid output up to ``llm_max_repairs`` times: its answer
    and the parsed value, or None when it failed (each attempt appended to ``records``)."""
    schema = request.response_schema
    max_repairs = runtime.settings.llm_max_repairs
    messages = preq.messages
    for repair in range(max_repairs + 1):
        attempt_request = preq if repair == 0 else _with_messages(preq, messages)
        number = len(records) + 1
        with tracing.span(
            tracing.CHAT, spec.name, chat_attributes(spec, preq), kind=SpanKind.CLIENT
        ) as span:
            t0 = time.perf_counter()
            try:
                response = await _call(runtime, spec, attempt_request)
            except ProviderError as error:
                latency = (time.perf_counter() - t0) * 1000
                records.append(failed_attempt(spec, number, error, latency))
                trace_attempt(span, records[-1])
                learn(spec, error.outcome, latency)
                on_failure(runtime, spec, error)
                return None
            latency = (time.perf_counter() - t0) * 1000
            record = answered_attempt(spec, number, attempt_request, response, latency)
            records.append(record)
            parsed = response.parsed
            if schema is not None and not response.tool_calls:
                try:
                    parsed = validate(schema, response)
                except InvalidOutput as error:
                    record.outcome = ModelRequestOutcome.INVALID_OUTPUT
                    record.error_class = "InvalidOutput"
                    record.error_detail = error.detail[:2000]
                    messages = repair_messages(messages, response.content, error.detail)
                    if repair == max_repairs:
                        learn(spec, record.outcome, latency)
                    continue
                finally:
                    trace_attempt(span, record)
            else:
                trace_attempt(span, record)
        learn(spec, ModelRequestOutcome.SUCCESS, latency)
        runtime.failures.pop(spec.key, None)
        return response, parsed
    return None


# gen_ai.provider.name: the conventions' names where there is one, else Berrys' own.
_PROVIDER_NAMES = {
    ModelProvider.OPENAI: "openai",
    ModelProvider.ANTHROPIC: "anthropic",
    ModelProvider.OLLAMA: "ollama",
    ModelProvider.LOCAL: "llama_cpp",
    ModelProvider.RULES: "berrys.rules",
    ModelProvider.SCRIPTED: "berrys.scripted",
}


def chat_attributes(spec: ModelSpec, preq: ProviderRequest) -> dict[str, str | int | float]:
    """What a ``chat`` span says of the request: provider, model, task type, limits."""
    attributes: dict[str, str | int | float] = {
        tracing.PROVIDER: _PROVIDER_NAMES[spec.provider],
        tracing.REQUEST_MODEL: spec.name,
        "berrys.task_type": preq.task_type.value,
    }
    if preq.max_tokens is not None:
        attributes[tracing.REQUEST_MAX_TOKENS] = preq.max_tokens
    if preq.temperature is not None:
        attributes[tracing.REQUEST_TEMPERATURE] = preq.temperature
    return attributes


def trace_attempt(span: Span, record: AttemptRecord) -> None:
    """One attempt on its ``chat`` span: the tokens and cost, or why it failed."""
    span.set_attribute("berrys.attempt", record.attempt)
    if record.outcome != ModelRequestOutcome.SUCCESS:
        tracing.fail(span, record.error_class or record.outcome.value, record.error_detail)
        return
    span.set_attributes(
        {
            tracing.RESPONSE_MODEL: record.spec.name,
            tracing.INPUT_TOKENS: record.prompt_tokens,
            tracing.OUTPUT_TOKENS: record.completion_tokens,
            tracing.COST_USD: record.cost_usd,
        }
    )


def failed_attempt(
    spec: ModelSpec, number: int, error: ProviderError, latency: float
) -> AttemptRecord:
    return AttemptRecord(
        spec=spec,
        attempt=number,
        outcome=error.outcome,
        error_class=type(error).__name__,
        error_detail=error.detail[:2000],
        latency_ms=latency,
    )


def answered_attempt(
    spec: ModelSpec,
    number: int,
    preq: ProviderRequest,
    response: ProviderResponse,
    latency: float,
) -> AttemptRecord:
    """An attempt that answered, its tokens estimated where the provider did not count them."""
    prompt_tokens = (
        response.prompt_tokens
        if response.prompt_tokens is not None
        else estimate_tokens("".join(m.content for m in preq.messages))
    )
    completion_tokens = (
        response.completion_tokens
        if response.completion_tokens is not None
        else estimate_tokens(response.content)
    )
    return AttemptRecord(
        spec=spec,
        attempt=number,
        outcome=ModelRequestOutcome.SUCCESS,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=spec.cost(prompt_tokens, completion_tokens),
        latency_ms=latency,
    )


def _with_messages(preq: ProviderRequest, messages: list[ChatMessage]) -> ProviderRequest:
    return ProviderRequest(
        messages=messages,
        task_type=preq.task_type,
        json_schema=preq.json_schema,
        schema_name=preq.schema_name,
        tools=preq.tools,
        temperature=preq.temperature,
        max_tokens=preq.max_tokens,
        timeout=preq.timeout,
        rules=preq.rules,
        request_hash=preq.request_hash,
    )


def finish(
    spec: ModelSpec,
    response: ProviderResponse,
    parsed: Any,
    records: list[AttemptRecord],
    started: float,
    reason: str,
    notes: list[str],
    preq: ProviderRequest,
) -> Completion:
    if len(records) > 1:
        reason += "; after " + ", ".join(f"{r.spec.name} {r.outcome}" for r in records[:-1])
    if notes:
        reason += "; " + "; ".join(notes)
    return Completion(
        content=response.content,
        parsed=parsed,
        tool_calls=response.tool_calls,
        provider=spec.provider,
        model=spec.name,
        usage=Usage(
            prompt_tokens=sum(r.prompt_tokens for r in records),
            completion_tokens=sum(r.completion_tokens for r in records),
            cost_usd=sum(r.cost_usd for r in records),
        ),
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        attempts=[r.public() for r in records],
        fallback=any(r.spec.key != spec.key for r in records),
        from_rules=spec.provider == ModelProvider.RULES,
        reason=reason,
        request_hash=preq.request_hash,
    )
