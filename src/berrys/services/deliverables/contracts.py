"""The shapes of a drafted deliverable, the findings of its checks and the quality gate."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from berrys.core.contracts import Contract

Severity = Literal["fail", "review"]
DraftSource = Literal["offline", "model"]


class DraftFile(Contract):
    """One file of a draft: a path relative to the task's folder, and text or bytes."""

    name: str
    media_type: str
    text: str | None = None
    data: bytes | None = None

    @property
    def content(self) -> bytes:
        return self.data if self.data is not None else (self.text or "").encode("utf-8")


class Draft(Contract):
    """A deliverable's files, with the Markdown a person is shown first."""

    deliverable: str
    format: str
    files: list[DraftFile] = Field(min_length=1)
    preview: str = Field(description="Markdown to show: the document, or a view of the data.")
    todos: list[str] = Field(default_factory=list, description="What a person must supply.")
    provenance: str = Field(description="How it was made, the first line of every file.")
    source: DraftSource = "offline"

    @property
    def primary(self) -> DraftFile:
        return self.files[0]

    @property
    def todo_count(self) -> int:
        return len(self.todos)


class Finding(Contract):
    """A problem a check or the gate found, in words a person can act on."""

    check: str
    message: str
    severity: Severity = "fail"


class GateResult(Contract):
    """The quality gate's verdict on a model's draft: ``passed`` when nothing fails; any
    finding at all means a person should look at it."""

    passed: bool
    findings: list[Finding] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def reasons(self) -> list[str]:
        return [finding.message for finding in self.findings]


class DraftResult(Contract):
    """What drafting a deliverable came to: the draft, where it came from and why a person
    must look at it (empty: it is final)."""

    draft: Draft
    source: DraftSource
    produced_by: str
    replaced: str | None = Field(
        default=None, description="Why the model's draft was replaced by the offline draft."
    )
    gate: list[Finding] = Field(default_factory=list)
    checks: list[Finding] = Field(default_factory=list)
    review_reasons: list[str] = Field(default_factory=list)
    verdicts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Gate verdicts: provider, model, passed, call (the n-th model call; None "
        "for the offline draft, judged by its machine checks).",
    )
