"""structlog configuration: one call, console or JSON lines, request id bound per request."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO, cast

import structlog

# What renders a line: both give text (JSONRenderer gives bytes only with a bytes serializer).
_Renderer = structlog.dev.ConsoleRenderer | structlog.processors.JSONRenderer


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured:
    a replaced and closed stream (a test's capture, a daemon's redirect) never breaks a log call."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


_LEVELS = {"debug": 10, "info": 20, "msg": 20, "warning": 30, "warn": 30, "error": 40}


def _open_log_file(path: Path) -> TextIO:
    """The log file, appended to; past 10 MB the old one becomes ``NAME.1`` first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > 10 * 1024 * 1024:
        path.replace(path.with_name(path.name + ".1"))
    return path.open("a", encoding="utf-8", buffering=1)


def _close_previous_log_file() -> None:
    """Close the file the current configuration writes to (its last processor, a ``_Route``,
    holds it): logging is configured for the whole process, and it is the one owner."""
    processors = structlog.get_config().get("processors") or []
    previous = processors[-1] if processors else None
    if isinstance(previous, _Route) and previous.file is not None:
        previous.file.close()


def _console(*, colors: bool) -> structlog.dev.ConsoleRenderer:
    """Console lines with plain tracebacks: Rich's traceback with local variables took seconds
    per error on the event loop, stalling every request."""
    return structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )


class _Route:
    """The last processor: every event at or above the file's level goes to the log file
    (plain text), and to stderr only at or above ``stderr_level``."""

    def __init__(
        self, renderer: _Renderer, stderr_level: int, file: TextIO | None, file_level: int
    ) -> None:
        self.renderer, self.stderr_level = renderer, stderr_level
        self.file, self.file_level = file, file_level
        self.plain: _Renderer = (
            renderer
            if isinstance(renderer, structlog.processors.JSONRenderer)
            else _console(colors=False)
        )

    def __call__(
        self, logger: Any, name: str, event_dict: structlog.typing.EventDict
    ) -> str | bytes:
        level = _LEVELS.get(name, 40)
        if self.file is not None and level >= self.file_level:
            self.file.write(str(self.plain(logger, name, dict(event_dict))) + "\n")
        if level < self.stderr_level:
            raise structlog.DropEvent
        return self.renderer(logger, name, event_dict)


def configure_logging(
    level: str = "INFO",
    fmt: str = "console",
    *,
    stderr_level: str | None = None,
    log_file: Path | None = None,
) -> None:
    """Log lines to stderr at ``stderr_level`` (default: ``level``) and, with ``log_file``,
    to that file at ``level``."""
    renderer: _Renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else _console(colors=sys.stderr.isatty())
    )
    file_level = logging.getLevelName(level)
    to_stderr = logging.getLevelName(stderr_level or level)
    _close_previous_log_file()
    file = _open_log_file(log_file) if log_file is not None else None
    lowest = min(to_stderr, file_level) if file is not None else to_stderr
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if fmt == "json" else _passthrough,
            _Route(renderer, to_stderr, file, file_level),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lowest),
        # PrintLogger only writes and flushes, all that _CurrentStderr has of a TextIO.
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=False,
    )
    # Route stdlib loggers (uvicorn, sqlalchemy, alembic) through the same renderer.
    handlers = [_stdlib_handler(_CurrentStderr(), to_stderr, shared, renderer)]
    if file is not None:
        plain = renderer if fmt == "json" else _console(colors=False)
        handlers.append(_stdlib_handler(file, file_level, shared, plain))
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(lowest)
    for noisy in ("uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stdlib_handler(
    stream: TextIO | _CurrentStderr,
    level: int,
    shared: list[structlog.typing.Processor],
    renderer: structlog.typing.Processor,
) -> logging.Handler:
    """A stdlib handler writing to ``stream`` from ``level`` on, rendered as structlog's lines."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    return handler


def _passthrough(
    logger: object, name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    return event_dict
