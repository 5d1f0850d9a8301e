"""The ``berrys`` command."""

from __future__ import annotations

from berrys.cli.app import app


def main() -> None:
    app()
