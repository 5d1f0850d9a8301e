"""Running the real ``berrys`` command in tests where the process is the point."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


@contextmanager
def serving(data_dir: Path, *args: str, env: dict[str, str]) -> Iterator[Server]:
    """``berrys serve ARGS`` on a free port, healthy on entry, stopped on exit."""
    with serving_together([data_dir], *args, env_of=lambda _: env) as (server,):
        yield server


@contextmanager
def serving_together(
    data_dirs: list[Path],
    *args: str,
    env_of: Callable[[Path], dict[str, str]],
    healthy_within: float = 60,
) -> Iterator[list[Server]]:
    """One ``berrys serve ARGS`` per data directory, started at once (each is seconds of
    imports), all healthy on entry, stopped on exit."""
    servers: list[Server] = []
    try:
        for data_dir in data_dirs:
            servers.append(_start_serving(data_dir, args, env_of(data_dir)))
        for server in servers:
            wait_until_healthy(server.url, server.process, healthy_within)
        yield servers
    finally:
        for server in servers:
            _stop_serving(server)


def _start_serving(data_dir: Path, args: tuple[str, ...], env: dict[str, str]) -> Server:
    port = free_port()
    # Output to a file, not a pipe nobody drains: a full pipe would block the server.
    log = data_dir / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*BERRYS, "serve", "--port", str(port), *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Server(url=f"http://127.0.0.1:{port}", process=process, log=log)


def _stop_serving(server: Server) -> None:
    process = server.process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
    if process.returncode not in (0, -15):
        print(server.log.read_text()[-5000:])
