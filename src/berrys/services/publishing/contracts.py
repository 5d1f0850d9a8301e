"""Request and response models of publishing: a publication asked for, its target's options,
and what it became (who asked and approved, where it went)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator

from berrys.core.contracts import Contract
from berrys.core.enums import BerrysEnum
from berrys.core.lifecycle import Lifecycle
from berrys.services.alerts.contracts import (
    DeliveryAttemptOut,
    DeliveryStatus,
    WebhookUrl,
    check_webhook_secret,
    check_webhook_url,
)


class PublicationTarget(BerrysEnum):
    # A zip of the deliverables with a static index.html, downloaded from Berrys.
    BUNDLE = "BUNDLE"
    # A commit on a branch of a local repository under BERRYS_PUBLISH_GIT_ROOTS.
    GIT = "GIT"
    # A JSON manifest POSTed, signed with HMAC-SHA256, retried until delivered.
    WEBHOOK = "WEBHOOK"


class PublicationStatus(BerrysEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PUBLISHING = "PUBLISHING"
    PUBLISHED = "PUBLISHED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


S = PublicationStatus
PUBLICATION_LIFECYCLE = Lifecycle[PublicationStatus](
    "Publication",
    {
        S.PENDING_APPROVAL: {S.PUBLISHING, S.REJECTED},
        S.PUBLISHING: {S.PUBLISHED, S.FAILED},
        S.PUBLISHED: set(),
        S.FAILED: set(),
        S.REJECTED: set(),
    },
)

# A folder inside the repository: relative, no "..", no ".git" part.
_FOLDER = re.compile(
    r"^(?!.*(?:^|/)\.\.?(?:/|$))(?!.*(?:^|/)\.git(?:/|$))[\w.\- ]+(?:/[\w.\- ]+)*$"
)
Branch = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class GitOptions(Contract):
    repository: str = Field(
        max_length=1000,
        description="Path of a local git repository under one of BERRYS_PUBLISH_GIT_ROOTS.",
    )
    branch: Branch | None = Field(
        default=None,
        description="The branch committed to (made from HEAD when new); "
        "default berrys/publication-<id>.",
    )
    folder: str = Field(
        default="deliverables",
        max_length=200,
        description="The folder inside the repository the deliverables are written under.",
    )

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        # git checks the rest (check-ref-format); a leading dash would read as an option.
        if value is not None and (value.startswith("-") or not value.isprintable() or " " in value):
            raise ValueError("branch must be a branch name: no spaces, not starting with '-'")
        return value

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        value = value.strip().strip("/")
        if not _FOLDER.match(value):
            raise ValueError("folder must be a relative path inside the repository (no '..')")
        return value


class WebhookOptions(Contract):
    url: WebhookUrl = Field(description="Where the manifest is POSTed.")
    secret: SecretStr = Field(
        description="16-200 characters; signs the POST (HMAC-SHA256); never shown."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        check_webhook_url(value)
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        check_webhook_secret(value)
        return value


class PublicationCreate(Contract):
    target: PublicationTarget
    run_id: uuid.UUID | None = Field(
        default=None, description="The run whose deliverables go out; default: the latest."
    )
    git: GitOptions | None = Field(default=None, description="Required for the GIT target.")
    webhook: WebhookOptions | None = Field(
        default=None, description="Required for the WEBHOOK target."
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Shown to the approver with the request."
    )

    @model_validator(mode="after")
    def _options_match_target(self) -> PublicationCreate:
        wanted = {PublicationTarget.GIT: "git", PublicationTarget.WEBHOOK: "webhook"}
        for target, name in wanted.items():
            given = getattr(self, name) is not None
            if given != (self.target == target):
                raise ValueError(
                    f"`{name}` options go with target {target.value} only, and it needs them"
                )
        return self


class PublishedFile(Contract):
    """One deliverable as it is published (fixed when the publication was asked for)."""

    artifact_id: uuid.UUID
    task_name: str
    name: str
    file_name: str
    media_type: str
    size: int
    sha256: str


class PublicationDeliveryOut(Contract):
    id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    attempt_log: list[DeliveryAttemptOut] = Field(default_factory=list)


class PublicationOut(Contract):
    id: uuid.UUID
    project_id: uuid.UUID
    run_id: uuid.UUID
    target: PublicationTarget
    status: PublicationStatus
    options: dict[str, Any] = Field(
        description="The target's options as asked (a webhook's secret never shown)."
    )
    files: list[PublishedFile]
    interaction_id: uuid.UUID | None = Field(description="The approval a person answers.")
    requested_by: uuid.UUID | None
    approved_by: uuid.UUID | None
    location: str | None = Field(
        description="Where it went: the bundle's URL, repository#branch@commit, the delivery."
    )
    result: dict[str, Any] = Field(
        description="bundle {url, size, sha256}; git {repository, branch, commit}; "
        "webhook {url, delivery_id}."
    )
    error: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    delivery: PublicationDeliveryOut | None = None
