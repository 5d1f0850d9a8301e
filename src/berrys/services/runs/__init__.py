"""Runs: the run service (runs, their tasks, review, artifacts) and its engine (``engine``)."""
