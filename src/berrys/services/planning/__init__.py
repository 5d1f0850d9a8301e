"""Planning System: plan versions, tasks, dependencies, the critical-path schedule.

What other services call (all in ``service.py``, the façade):

- ``service.get_current(session, project_id=, user=)`` / ``service.get_detail(session,
  plan_id=, user=)``: a plan with phases, milestones, tasks, dependencies and resources.
- ``service.get_tasks`` / ``service.get_dependencies`` (access-checked) and
  ``service.plan_graph(session, plan_id=)`` (no access check, for the run engine): tasks
  (``TaskOut``) and dependencies (``DependencyOut``: from_task_id, to_task_id, type, lag_hours).
- ``service.set_task_status(session, task_id=, status=, actor_id=)``: the run engine's writes.
- ``service.task_stats(session, project_id=)``: tasks by status, progress %, ETA.
- ``service.get_schedule(session, plan_id=, user=)``: dates, slack, critical path, P50/80/95.
- ``service.create_plan(database, project_id=, plan_in=, user=)``: a new current version.
"""
