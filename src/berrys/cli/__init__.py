"""The ``berrys`` command."""

from __future__ import annotations

import sys

from berrys.cli.app import app


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside exception groups (a broken MCP server raises one)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def main() -> None:
    """Run the command; an error nobody handled is one line on stderr (the traceback goes to
    the log file, and to stderr with ``-v``), never a screenful of locals."""
    from berrys.cli import common

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        import structlog
        from rich.markup import escape

        # INFO: into the log file, and onto stderr only with -v.
        structlog.get_logger("berrys.cli").info(
            "cli.failed", error=f"{type(exc).__name__}: {exc}", exc_info=True
        )
        leaf = _leaf(exc)
        lines = str(leaf).strip().splitlines()
        what = type(leaf).__name__ + (f": {lines[0]}" if lines else "")
        common.err_console.print(
            f"[red]Error:[/] {escape(what)}  [dim](details: berrys -v …, or the log file "
            "`berrys info` names)[/]",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
