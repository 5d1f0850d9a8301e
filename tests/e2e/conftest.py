"""Fixtures for tests where the process is the point."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.e2e.processes import BERRYS, berrys_env, free_port, wait_until_healthy


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    output_head: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    # A file, not a pipe: nobody drains a pipe during the test, and a full one blocks the server.
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*BERRYS, "serve", "--port", str(port)],
            env=berrys_env(tmp_path, PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield Server(url=url, process=process, output_head=log_path.read_text())
    finally:
        process.terminate()
        process.wait(timeout=30)
