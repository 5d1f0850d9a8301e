"""Planning: plan versions, tasks, dependencies, the critical-path schedule.

Other services call ``service.py``: a plan with its parts (``get_current``, ``get_detail``),
tasks and dependencies (``get_tasks``, ``get_dependencies``; ``plan_graph`` without an
access check, for runs), the run engine's status writes (``set_task_status``), progress
(``task_stats``), the schedule (dates, slack, critical path, P50/80/95) and a new current
version from a description (``create_plan``). ``schedule.py`` is the pure scheduling engine
over task indices (no database).
"""
