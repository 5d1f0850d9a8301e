"""Logging is configured for the whole process: configured again, it writes to the new log
file and closes the one it wrote to before (nothing else holds it)."""

from __future__ import annotations

from pathlib import Path

import structlog

from berrys.core.logging import configure_logging


def test_a_new_configuration_closes_the_last_log_file(tmp_path: Path) -> None:
    configure_logging("INFO", log_file=tmp_path / "first.log")
    structlog.get_logger("test").warning("to.first")
    first = structlog.get_config()["processors"][-1].file
    try:
        configure_logging("INFO", log_file=tmp_path / "second.log")
        structlog.get_logger("test").warning("to.second")
        assert first.closed
        assert "to.first" in (tmp_path / "first.log").read_text()
        assert "to.second" in (tmp_path / "second.log").read_text()
        assert "to.second" not in (tmp_path / "first.log").read_text()
    finally:
        configure_logging("WARNING")  # the test settings' level, and no file
    assert structlog.get_config()["processors"][-1].file is None
