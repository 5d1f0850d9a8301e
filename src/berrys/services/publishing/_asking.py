"""Asking for a publication: only a run whose deliverables are all reviewed (COMPLETED) goes
out; the deliverables are fixed as the approver sees them (names, sizes, SHA-256), and an
APPROVAL waits for a person. Reading publications back, with their webhook delivery."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.db import fetch_page
from berrys.core.encryption import SecretBox, rotate_stored
from berrys.core.enums import Priority
from berrys.core.errors import Conflict, NotFound
from berrys.services.alerts.contracts import DeliveryAttemptOut
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import ApprovalSubject, HumanInteractionType
from berrys.services.projects import service as projects
from berrys.services.publishing._git import check_repository
from berrys.services.publishing.contracts import (
    PublicationCreate,
    PublicationDeliveryOut,
    PublicationOut,
    PublicationStatus,
    PublicationTarget,
    PublishedFile,
)
from berrys.services.publishing.tables import (
    Publication,
    PublicationDelivery,
    PublicationDeliveryAttempt,
)
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunOut, RunStatus

_FINISHED = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_REVIEW)


async def create(
    session: AsyncSession,
    box: SecretBox,
    settings: Settings,
    *,
    project_id: uuid.UUID,
    publication_in: PublicationCreate,
    user: UserOut,
) -> PublicationOut:
    """A publication of a reviewed run, PENDING_APPROVAL behind an APPROVAL a person answers;
    409 saying what still waits when the run is not reviewed."""
    project = await projects.get(session, project_id=project_id, user=user)
    auth.require_writer(user)
    run = await _reviewed_run(session, project_id, publication_in.run_id)
    options = await _options(publication_in, settings)
    files = await asyncio.to_thread(_published_files, run, settings.workspaces_dir)
    if not files:
        raise Conflict(f"Run {run.id} produced no deliverables: there is nothing to publish")
    secret = publication_in.webhook.secret.get_secret_value() if publication_in.webhook else None
    row = Publication(
        project_id=project_id,
        run_id=run.id,
        target=publication_in.target,
        status=PublicationStatus.PENDING_APPROVAL,
        options=options,
        secret_encrypted=box.encrypt(secret) if secret else None,
        files=[item.model_dump(mode="json") for item in files],
        requested_by=user.id,
        result={},
    )
    session.add(row)
    await session.flush()
    row.interaction_id = await _ask_approval(
        session, row, project.name, publication_in.note, user, settings.publish_second_person
    )
    await session.flush()
    out = publication_out(row)
    await audit.record(
        session,
        entity_type="publication",
        entity_id=row.id,
        project_id=project_id,
        action=AuditAction.CREATE,
        actor_id=user.id,
        after=out,
    )
    return out


async def _ask_approval(
    session: AsyncSession,
    row: Publication,
    project_name: str,
    note: str | None,
    user: UserOut,
    second_person: bool,
) -> uuid.UUID:
    """The APPROVAL a person answers before the publication goes out (``second_person``:
    not the one who asked); its id."""
    files = [PublishedFile.model_validate(item) for item in row.files]
    asked = await interactions.create(
        session,
        type=HumanInteractionType.APPROVAL,
        project_id=row.project_id,
        title=f"Publish {len(files)} deliverables of {project_name!r} ({row.target.value})?",
        prompt=_prompt(row, files, note),
        priority=Priority.HIGH,
        details={
            "subject": ApprovalSubject.PUBLICATION,
            "publication_id": str(row.id),
            "run_id": str(row.run_id),
            "target": row.target.value,
            "destination": _destination(row.target, row.options),
            "files": [item.file_name for item in files],
            "requested_by": user.email,
            **({"not_answered_by": str(user.id)} if second_person else {}),
        },
        actor_id=user.id,
    )
    return asked.id


async def _reviewed_run(
    session: AsyncSession, project_id: uuid.UUID, run_id: uuid.UUID | None
) -> RunOut:
    """The run to publish (the latest finished one by default), refused (409) unless every
    deliverable of it is final: nothing unreviewed goes out."""
    if run_id is None:
        recent, _ = await runs.get_all(session, project_id=project_id, limit=50, offset=0)
        chosen = next((item.id for item in recent if item.status in _FINISHED), None)
        if chosen is None:
            raise Conflict("No run of this project has completed: there is nothing to publish")
        run_id = chosen
    run = await runs.get(session, run_id=run_id)
    if run.project_id != project_id:
        raise NotFound.of("Run", run_id)
    waiting = runs.review_summary(run).tasks
    if run.status == RunStatus.COMPLETED and not waiting:
        return run
    if run.status == RunStatus.COMPLETED_WITH_REVIEW or waiting:
        names = ", ".join(repr(item.name) for item in waiting)
        raise Conflict(
            f"Run {run.id} has {len(waiting)} deliverable(s) waiting for a person's review "
            f"({names}): accept, edit or send them back first",
            run_status=run.status.value,
            waiting=[
                {"task_run_id": str(item.task_run_id), "name": item.name, "reasons": item.reasons}
                for item in waiting
            ],
        )
    raise Conflict(
        f"Run {run.id} is {run.status.value}: only a COMPLETED run's deliverables are published",
        run_status=run.status.value,
    )


async def _options(publication_in: PublicationCreate, settings: Settings) -> dict[str, object]:
    """The target's options as stored and shown (a git repository resolved and checked)."""
    if publication_in.git is not None:
        git = publication_in.git
        repository = await check_repository(git.repository, settings, git.branch)
        return {
            "repository": str(repository),
            "branch": git.branch,
            "folder": git.folder,
        }
    if publication_in.webhook is not None:
        return {"url": publication_in.webhook.url}
    return {}


def _published_files(run: RunOut, workspaces: Path) -> list[PublishedFile]:
    """The run's deliverables as they would go out, each under a name of its own (this
    reads the files: run it in a thread)."""
    task_names = {task.id: task.name for task in run.task_runs}
    taken: set[str] = set()
    files = []
    for artifact in run.artifacts:
        name, body = runs.read_artifact_file(artifact, workspaces)
        files.append(
            PublishedFile(
                artifact_id=artifact.id,
                task_name=task_names.get(artifact.task_run_id, ""),
                name=artifact.name,
                file_name=_unique(name, taken),
                media_type=artifact.media_type,
                size=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
            )
        )
    return files


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``stem-2.ext`` (3, ...) when an earlier file took it."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem}-{number}{dot}{suffix}"
    taken.add(candidate.lower())
    return candidate


def _destination(target: PublicationTarget, options: dict[str, object]) -> str:
    if target == PublicationTarget.GIT:
        branch = options.get("branch") or "a new branch"
        return f"{options['repository']} on {branch}, under {options['folder']}/"
    if target == PublicationTarget.WEBHOOK:
        return f"POST to {options['url']}"
    return "a zip with an index page, downloadable from Berrys"


def _prompt(row: Publication, files: list[PublishedFile], note: str | None) -> str:
    listed = "\n".join(f"- {item.file_name} ({item.size} bytes)" for item in files)
    head = f"To {_destination(row.target, row.options)}:\n{listed}"
    return f"{head}\n\n{note}" if note else head


def publication_out(
    row: Publication, delivery: PublicationDeliveryOut | None = None
) -> PublicationOut:
    return PublicationOut.model_validate(
        {
            **{
                name: getattr(row, name)
                for name in PublicationOut.model_fields
                if name != "delivery"
            },
            "delivery": delivery,
        }
    )


async def row_of(
    session: AsyncSession, *, project_id: uuid.UUID, publication_id: uuid.UUID, user: UserOut
) -> Publication:
    """The publication, if ``user`` sees its project; NotFound otherwise."""
    await projects.get(session, project_id=project_id, user=user)
    row = await session.get(Publication, publication_id)
    if row is None or row.project_id != project_id:
        raise NotFound.of("Publication", publication_id)
    return row


async def get(
    session: AsyncSession, *, project_id: uuid.UUID, publication_id: uuid.UUID, user: UserOut
) -> PublicationOut:
    """One publication with its webhook delivery and every attempt; NotFound for others'."""
    row = await row_of(session, project_id=project_id, publication_id=publication_id, user=user)
    return publication_out(row, await _delivery(session, row.id))


async def get_all(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    user: UserOut,
    limit: int,
    offset: int,
    status: PublicationStatus | None = None,
) -> tuple[list[PublicationOut], int]:
    """The project's publications, newest first."""
    await projects.get(session, project_id=project_id, user=user)
    query = select(Publication).where(Publication.project_id == project_id)
    if status is not None:
        query = query.where(Publication.status == status)
    rows, total = await fetch_page(
        session,
        query.order_by(Publication.created_at.desc(), Publication.id),
        limit=limit,
        offset=offset,
    )
    return [publication_out(row) for row in rows], total


async def _delivery(
    session: AsyncSession, publication_id: uuid.UUID
) -> PublicationDeliveryOut | None:
    delivery = await session.scalar(
        select(PublicationDelivery).where(PublicationDelivery.publication_id == publication_id)
    )
    if delivery is None:
        return None
    attempts = await session.scalars(
        select(PublicationDeliveryAttempt)
        .where(PublicationDeliveryAttempt.delivery_id == delivery.id)
        .order_by(PublicationDeliveryAttempt.attempt)
    )
    return PublicationDeliveryOut.model_validate(
        {
            **{
                name: getattr(delivery, name)
                for name in PublicationDeliveryOut.model_fields
                if name != "attempt_log"
            },
            "attempt_log": [DeliveryAttemptOut.model_validate(item) for item in attempts],
        }
    )


async def rotate_secrets(session: AsyncSession, *, box: SecretBox) -> list[str]:
    """Re-encrypt every publication's webhook secret under ``box``'s first key (``berrys
    secrets rotate``); their names. SecretUnreadable, changing nothing, if one is under no
    key."""
    return await rotate_stored(
        session,
        box,
        Publication.secret_encrypted,
        order_by=(
            Publication.created_at,
            Publication.id,
        ),
        label=lambda row: f"publication {row.id}",
    )
