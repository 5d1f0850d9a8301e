"""llama.cpp's OpenAI-compatible server on loopback serving the bundled SmolLM2 GGUF, for
tests that need a real server speaking the protocol (optionally demanding an API key)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from berrys.services.llm._providers.local import bundled_model_path

MODEL_ALIAS = "smollm2"
SERVER_START_TIMEOUT = 120.0


def available() -> bool:
    """Whether the server can run here: llama-cpp-python (berrys[local]) and the GGUF."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return False
    return bundled_model_path() is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def llama_server(log_dir: Path, *, api_key: str | None = None) -> Iterator[str]:
    """The server's base URL (``http://127.0.0.1:PORT/v1``) once it answers; stopped on exit."""
    port = free_port()
    log = log_dir / "llama-server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(bundled_model_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    if api_key is not None:
        command += ["--api_key", api_key]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_PROXY": "127.0.0.1"},
        )
    base = f"http://127.0.0.1:{port}/v1"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", headers=headers, timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server not ready in {SERVER_START_TIMEOUT}s")
            # wait on the process itself: a crash ends the wait at once
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
