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
    process = subprocess.Popen(
        [*BERRYS, "serve", "--port", str(port)],
        env=berrys_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        head = ""
        assert process.stdout is not None
        while "listening" not in head:
            head += process.stdout.readline()
        yield Server(url=url, process=process, output_head=head)
    finally:
        process.terminate()
        process.wait(timeout=30)
