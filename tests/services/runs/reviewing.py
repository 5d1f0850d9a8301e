"""A test executor whose deliverables may need a person's review (``review_reasons``)."""

from __future__ import annotations

from pathlib import Path

from tests.services.runs.scripted import ScriptedExecutor

from berrys.services.runs.engine.executor import ArtifactSpec, TaskOutcome
from berrys.services.runs.engine.journal import TaskContext


class ReviewingExecutor(ScriptedExecutor):
    """The scripted executor, plus per task a Markdown draft written into the workspace
    (``<workspace>/<project>/runs/<run>/<key>.md``) and ``spec["review"]`` as its review
    reasons; once a person sent it back (``spec["review_feedback"]``) the reasons are
    ``spec["review_after_feedback"]`` (default: none, the new draft is final).
    ``spec["produced_by"]``: who drafted it (default ``RULES/rules``, an offline draft)."""

    def __init__(self, workspace: Path) -> None:
        super().__init__()
        self.workspace = workspace

    async def execute(self, ctx: TaskContext) -> TaskOutcome:
        outcome = await super().execute(ctx)
        task = ctx.task
        feedback = list(task.spec.get("review_feedback") or [])
        lines = [f"# {task.name}", "", f"Draft of attempt {task.attempt}."]
        lines += [f"Changed after feedback: {note}" for note in feedback]
        text = "\n".join(lines) + "\n"
        folder = self.workspace / str(task.project_id) / "runs" / str(task.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{task.key}.md"
        path.write_text(text, encoding="utf-8")
        produced_by = task.spec.get("produced_by", "RULES/rules")
        outcome.output.update(
            text=text,
            produced_by=produced_by,
            answers=dict(task.spec.get("answers") or {}),
        )
        outcome.produced_by = produced_by
        outcome.artifacts = [
            ArtifactSpec(name=task.name, media_type="text/markdown", content=text, path=str(path))
        ]
        key = "review_after_feedback" if feedback else "review"
        outcome.review_reasons = list(task.spec.get(key) or [])
        return outcome
