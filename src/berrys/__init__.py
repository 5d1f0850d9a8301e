"""Berrys: describe a project, get a team of AI agents, a plan, and a durable, audited run."""

__version__ = "0.1.0"
