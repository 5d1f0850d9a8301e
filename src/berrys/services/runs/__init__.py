"""Runs: a plan carried out task by task, durably, with people's answers and reviews."""

"""Runs: the run service (runs, their tasks, review, artifacts) and its engine (``engine``)."""
