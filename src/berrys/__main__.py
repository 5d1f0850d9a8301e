"""``python -m berrys``: the ``berrys`` command."""

from berrys.cli import main

main()
