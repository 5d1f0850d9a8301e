"""The pipeline's tests run tasks on the engine: they share its fixtures."""

from tests.services.runs.conftest import executor, project, start_worker  # noqa: F401 (fixtures)
