"""Fixtures for tests where the process is the point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.processes import Server, berrys_env, serving


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path, env=berrys_env(tmp_path)) as running:
        yield running
