"""RULES: deterministic and offline, no model at all.

The caller supplies the answer its own rules give (``CompletionRequest.rules``): agents and
planning pass their rule-based drafts, so RULES serves the structured tasks rules do well
(requirement extraction, team and plan drafts) and is the router's last fallback. A request
without a rules answer is not something RULES can serve; the router skips it.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from berrys.services.llm._providers.base import (
    STRUCTURED_TASKS,
    ModelSeed,
    ModelSpec,
    Provider,
    ProviderRequest,
    ProviderResponse,
    Unsupported,
)
from berrys.services.llm.contracts import ModelCapability, ModelProvider, ModelTaskType

RULES_MODEL = "rules"


def seed() -> ModelSeed:
    # Better than the bundled 135M model at structured drafts, useless for free text.
    quality = {task: (3 if task in STRUCTURED_TASKS else 0) for task in ModelTaskType}
    return ModelSeed(
        provider=ModelProvider.RULES,
        name=RULES_MODEL,
        capabilities=frozenset({ModelCapability.CHAT, ModelCapability.STRUCTURED_OUTPUT}),
        context_window=1_000_000,
        is_local=True,
        quality=quality,
    )


class RulesProvider(Provider):
    kind = ModelProvider.RULES
    concurrency = 1_000

    async def complete(self, model: ModelSpec, request: ProviderRequest) -> ProviderResponse:
        if request.rules is None:
            raise Unsupported("no rules answer was supplied for this request")
        answer = request.rules()
        if isinstance(answer, BaseModel):
            return ProviderResponse(
                content=answer.model_dump_json(),
                parsed=answer,
                prompt_tokens=0,
                completion_tokens=0,
            )
        content = answer if isinstance(answer, str) else json.dumps(answer, default=str)
        return ProviderResponse(content=content, prompt_tokens=0, completion_tokens=0)

    async def discover(self) -> list[ModelSeed]:
        return [seed()]
