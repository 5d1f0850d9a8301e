"""The pipeline's façade: the project pipeline, runs from a plan, a run carried out here,
the engine's wiring (workers given their executor and the run hooks), and a project's stats
(a read model over projects, agents and planning)."""

from __future__ import annotations

from berrys.services.pipeline._approvals import tool_call_approval
from berrys.services.pipeline._local_run import (
    answer_question,
    carry_out,
    pause_here,
    resume_here,
    run_outcome,
    start_from_description,
)
from berrys.services.pipeline._plan_runs import create_from_plan
from berrys.services.pipeline._project import TEMPLATE_TASKS, Stage, WorkflowResult, start
from berrys.services.pipeline._runtime import (
    BackgroundWorker,
    build_worker,
    default_executor,
    engine_config,
    local_worker_is_dead,
)
from berrys.services.pipeline._stats import project_stats

__all__ = [
    "TEMPLATE_TASKS",
    "BackgroundWorker",
    "Stage",
    "WorkflowResult",
    "answer_question",
    "build_worker",
    "carry_out",
    "create_from_plan",
    "default_executor",
    "engine_config",
    "local_worker_is_dead",
    "pause_here",
    "project_stats",
    "resume_here",
    "run_outcome",
    "start",
    "start_from_description",
    "tool_call_approval",
]
