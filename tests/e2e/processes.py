"""Running the real ``berrys`` command in tests where the process is the point."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BERRYS = [sys.executable, "-m", "berrys"]


def berrys_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERRYS_")}
    env.update(
        BERRYS_DATA_DIR=str(data_dir), BERRYS_LOG_LEVEL="WARNING", NO_COLOR="1", COLUMNS="200"
    )
    env.update(extra)
    return env


def run_berrys(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120):
    return subprocess.run(
        [*BERRYS, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited early: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)  # the server is still binding its port
    raise AssertionError("server did not become healthy in time")
