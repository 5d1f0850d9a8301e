"""Build the optional providers from settings; ``None`` means not configured."""

from __future__ import annotations

from collections.abc import Callable

from berrys.config import Settings
from berrys.services.llm._providers.base import Provider
from berrys.services.llm.contracts import ModelProvider


def _local(settings: Settings) -> Provider | None:
    # A model path turns LOCAL on; the tests' SmolLM2 only when asked for explicitly: it
    # writes no usable deliverable, and trying it first makes every run minutes slower.
    if settings.local_model_enabled is False:
        return None
    if settings.local_model_enabled is None and settings.local_model_path is None:
        return None  # nothing to run: RULES and the offline drafts answer
    from berrys.services.llm._providers import local

    return local.LocalProvider.from_settings(settings)


def _openai(settings: Settings) -> Provider | None:
    if settings.openai_api_key is None and settings.openai_base_url is None:
        return None
    from berrys.services.llm._providers.openai_compat import OpenAIProvider

    return OpenAIProvider.from_settings(settings)


def _anthropic(settings: Settings) -> Provider | None:
    if settings.anthropic_api_key is None:
        return None
    from berrys.services.llm._providers.anthropic import AnthropicProvider

    return AnthropicProvider.from_settings(settings)


def _ollama(settings: Settings) -> Provider | None:
    if not settings.ollama_url:
        return None
    from berrys.services.llm._providers.ollama import OllamaProvider

    return OllamaProvider.from_settings(settings)


FACTORIES: dict[ModelProvider, Callable[[Settings], Provider | None]] = {
    ModelProvider.LOCAL: _local,
    ModelProvider.OPENAI: _openai,
    ModelProvider.ANTHROPIC: _anthropic,
    ModelProvider.OLLAMA: _ollama,
}


def build_endpoint(
    kind: ModelProvider, *, base_url: str | None, api_key: str | None, settings: Settings
) -> Provider:
    """The provider for a registered model's stored URL and key (``Runtime.endpoints``)."""
    timeout = settings.llm_timeout_seconds
    if kind == ModelProvider.OPENAI:
        from berrys.services.llm._providers.openai_compat import OpenAIProvider

        return OpenAIProvider(api_key=api_key, base_url=base_url, models=[], timeout=timeout)
    if kind == ModelProvider.ANTHROPIC and api_key:
        from berrys.services.llm._providers.anthropic import AnthropicProvider

        return AnthropicProvider(api_key=api_key, models=[], timeout=timeout, base_url=base_url)
    if kind == ModelProvider.OLLAMA and base_url:
        from berrys.services.llm._providers.ollama import OllamaProvider

        return OllamaProvider(host=base_url, timeout=timeout)
    raise ValueError(f"{kind} models take no stored endpoint")
