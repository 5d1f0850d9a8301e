"""The pipeline: from a description to a planned, running project, and the agents' executor."""

"""The project pipeline: a description to a started run, the agent executor and the wiring."""
