"""SCRIPTED: replays a list of responses, or a recorded cassette keyed by the request hash.

It is how tests make model calls deterministic (``llm.script(models, name, answers)``: the
scripts belong to that runtime's :class:`ScriptedProvider`; CONTRIBUTING.md
lists the answers it takes: strings, Pydantic models, dicts with ``content``, ``tool_calls``,
``usage`` or ``error``, ``{"hang": true}``, a :class:`ProviderError`, or a callable of the
:class:`ProviderRequest`). A script that runs out raises :class:`ScriptExhausted`; a
cassette without the request's entry raises :class:`CassetteMiss`: both loud, never a
silent fallback.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from berrys.services.llm._providers.base import (
    FULL_CHAT,
    ConnectionFailed,
    ContextOverflow,
    InvalidOutput,
    ModelSpec,
    Provider,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
    ProviderTimeout,
    RateLimited,
    ServerError,
    estimate_tokens,
    prompt_text,
    tool_call_arguments,
)
from berrys.services.llm.contracts import ModelCapability, ModelProvider, ModelTaskType, ToolCall

CASSETTE_MODEL = "cassette"


class ScriptExhausted(RuntimeError):
    """A scripted model was called more often than its script has answers."""


class CassetteMiss(RuntimeError):
    """Replay found no recorded answer for this request."""


class ScriptedModel:
    """One installed script: its answers, the requests it received, its routing facts."""

    def __init__(self, spec: ModelSpec, responses: Iterable[Any], owner: Scripts) -> None:
        self.spec = spec
        self.responses: deque[Any] = deque(responses)
        self.requests: list[ProviderRequest] = []
        self._owner = owner

    @property
    def remaining(self) -> int:
        return len(self.responses)

    def uninstall(self) -> None:
        self._owner.uninstall(self.spec.name)

    def __enter__(self) -> ScriptedModel:
        return self

    def __exit__(self, *_: object) -> None:
        self.uninstall()


class Scripts:
    """The scripted models installed on one runtime, by name: another runtime in the same
    process never sees them."""

    def __init__(self) -> None:
        self._models: dict[str, ScriptedModel] = {}

    def install(
        self,
        name: str,
        responses: Iterable[Any],
        *,
        quality: int | dict[ModelTaskType, int] = 10,
        capabilities: Iterable[ModelCapability] = FULL_CHAT,
        context_window: int = 32_768,
        input_price_per_million: float = 0.0,
        output_price_per_million: float = 0.0,
        is_local: bool = True,
        gated: bool = False,
    ) -> ScriptedModel:
        """Register model ``name`` (provider SCRIPTED) answering ``responses`` in order.

        ``quality`` 10 (the default) puts it ahead of every configured model; the router's
        fallbacks, budgets and accounting apply to it as to any other model. ``gated=True``
        subjects it to the quality-gate rule too (``llm.gates``): left out of TASK and REVIEW
        routing once its recorded pass rate is below the offline draft's.
        """
        tiers = quality if isinstance(quality, dict) else dict.fromkeys(ModelTaskType, quality)
        spec = ModelSpec(
            provider=ModelProvider.SCRIPTED,
            name=name,
            capabilities=frozenset(capabilities),
            context_window=context_window,
            input_price_per_million=input_price_per_million,
            output_price_per_million=output_price_per_million,
            is_local=is_local,
            quality=tiers,
            gated=gated,
        )
        model = ScriptedModel(spec, responses, self)
        self._models[name] = model
        return model

    def uninstall(self, name: str) -> None:
        self._models.pop(name, None)

    def reset(self) -> None:
        """Remove every installed script."""
        self._models.clear()

    @contextmanager
    def many(
        self, models: dict[str, Iterable[Any]], **spec: Any
    ) -> Iterator[dict[str, ScriptedModel]]:
        """Several scripted models at once, removed on exit."""
        installed = {name: self.install(name, answers, **spec) for name, answers in models.items()}
        try:
            yield installed
        finally:
            for name in installed:
                self.uninstall(name)

    def get(self, name: str) -> ScriptedModel | None:
        return self._models.get(name)

    def specs(self) -> list[ModelSpec]:
        return [model.spec for model in self._models.values()]


class Cassette:
    """A JSON file of recorded answers keyed by the normalised request hash."""

    def __init__(self, path: Path, *, record: bool) -> None:
        self.path = path
        self.record = record
        self.entries: dict[str, Any] = {}
        if path.exists():
            self.entries = json.loads(path.read_text()).get("entries", {})
        elif not record:
            raise FileNotFoundError(f"Cassette {path} does not exist (record it first)")

    def lookup(self, request: ProviderRequest) -> Any:
        entry = self.entries.get(request.request_hash)
        if entry is None:
            last = request.messages[-1].content[:200] if request.messages else ""
            raise CassetteMiss(
                f"Cassette {self.path} has no answer for request {request.request_hash} "
                f"(last message: {last!r}); record it with BERRYS_LLM_CASSETTE_MODE=record"
            )
        return entry["response"]

    def save(self, request: ProviderRequest, response: ProviderResponse) -> None:
        self.entries[request.request_hash] = {
            "request": {
                "task_type": request.task_type.value,
                "messages": [
                    m.model_dump(mode="json", exclude_none=True) for m in request.messages
                ],
            },
            "response": {
                "content": response.content,
                "tool_calls": [call.model_dump(mode="json") for call in response.tool_calls],
                "usage": {
                    "prompt_tokens": response.prompt_tokens or 0,
                    "completion_tokens": response.completion_tokens or 0,
                },
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"version": 1, "entries": self.entries}, indent=2, sort_keys=True)
        )
        temporary.replace(self.path)


_ERRORS: dict[str, type[ProviderError]] = {
    "timeout": ProviderTimeout,
    "connection": ConnectionFailed,
    "context_overflow": ContextOverflow,
    "invalid": InvalidOutput,
}


def _as_response(answer: Any, request: ProviderRequest) -> ProviderResponse:
    if callable(answer) and not isinstance(answer, BaseModel):
        answer = answer(request)
    if isinstance(answer, ProviderError):
        raise answer
    if isinstance(answer, BaseModel):
        answer = answer.model_dump_json()
    if isinstance(answer, str):
        answer = {"content": answer}
    if not isinstance(answer, dict):
        raise TypeError(f"A scripted response must be a str, dict or model, not {answer!r}")
    error = answer.get("error")
    if error == "rate_limit":
        raise RateLimited("scripted 429", retry_after=answer.get("retry_after"))
    if error == "server_error":
        status = int(answer.get("status", 500))
        raise ServerError(f"scripted {status}", status=status)
    if error:
        raise _ERRORS[error](f"scripted {error}")
    content = answer.get("content", "")
    if not isinstance(content, str):
        content = json.dumps(content)
    calls = [
        ToolCall(
            id=call.get("id") or f"call_{index}",
            name=call["name"],
            arguments=tool_call_arguments(call.get("arguments")),
        )
        for index, call in enumerate(answer.get("tool_calls") or [])
    ]
    usage = answer.get("usage") or {}
    return ProviderResponse(
        content=content,
        tool_calls=calls,
        prompt_tokens=usage.get("prompt_tokens", estimate_tokens(prompt_text(request.messages))),
        completion_tokens=usage.get("completion_tokens", estimate_tokens(content)),
    )


class ScriptedProvider(Provider):
    kind = ModelProvider.SCRIPTED

    def __init__(
        self, cassette: Cassette | None = None, *, latency_ms: tuple[float, float] | None = None
    ) -> None:
        self.cassette = cassette
        self.scripts = Scripts()
        # How long each answer takes, like a remote model's (Settings.llm_scripted_latency_ms).
        self.latency_ms = latency_ms

    def cassette_spec(self) -> ModelSpec | None:
        """The cassette, in replay mode, as a model that outranks every other."""
        if self.cassette is None or self.cassette.record:
            return None
        return ModelSpec(
            provider=ModelProvider.SCRIPTED,
            name=CASSETTE_MODEL,
            context_window=1_000_000,
            is_local=True,
            quality=dict.fromkeys(ModelTaskType, 10),
            gated=False,
        )

    async def complete(self, model: ModelSpec, request: ProviderRequest) -> ProviderResponse:
        if self.latency_ms is not None:
            await asyncio.sleep(random.uniform(*self.latency_ms) / 1000)
        if model.name == CASSETTE_MODEL and self.cassette is not None:
            return _as_response(self.cassette.lookup(request), request)
        scripted = self.scripts.get(model.name)
        if scripted is None:
            raise ScriptExhausted(f"No script is installed for model {model.name!r}")
        scripted.requests.append(request)
        if not scripted.responses:
            raise ScriptExhausted(
                f"Scripted model {model.name!r} has no answers left "
                f"(it was called {len(scripted.requests)} times)"
            )
        answer = scripted.responses.popleft()
        if isinstance(answer, dict) and answer.get("hang"):
            await asyncio.Event().wait()  # never set: the router's timeout ends the attempt
        if callable(answer) and not isinstance(answer, BaseModel):
            answer = answer(request)
            if inspect.isawaitable(answer):  # an async callable answers when it chooses
                answer = await answer
        return _as_response(answer, request)
