"""Deliverables: what a task hands over, drafted to its type's outline and checked.

- ``service.draft_offline(deliverable, facts, source=)``: the outline filled from the
  project's facts and the catalogue's standard content; what only a person can supply is a
  visible ``TODO(owner): ...``, never invented.
- ``service.check(deliverable, draft)``: the type's machine checks (sections, terms, columns,
  totals, placeholders, calendar, code scaffold).
- ``service.gate(text, deliverable=, facts=, prompt=)``: the quality gate for a model's draft
  (repetition, echo, length, coverage, structure, unsupported numbers, names and links).
- ``service.draft(...)``: a model's draft against the outline, gated, repaired once, else
  replaced by the offline draft (used by the run engine's agent executor).
"""
