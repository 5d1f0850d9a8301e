"""Agents: a project's team, their lifecycle, templates, specialisations, collaboration and
messages."""
