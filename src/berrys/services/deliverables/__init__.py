"""Deliverables: what a task hands over, drafted to its type's outline and checked.

- ``service.draft_offline``: the outline filled from the project's facts and the catalogue's
  standard content; what only a person can supply is a visible ``TODO(owner): ...``.
- ``service.check``: the type's machine checks (sections, terms, columns, totals, ...).
- ``service.gate``: the quality gate for a model's draft (repetition, echo, coverage, ...).
- ``service.draft``: a model's draft against the outline, gated, repaired once, else
  replaced by the offline draft (the pipeline's agent executor calls it).
"""
