"""The dashboard's alerts: the episodes firing now and the recent ones, the rules the user
may see, adding and deleting a rule, acknowledging a firing episode, and the live count in
the navigation."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from berrys.core.errors import BerrysError, Forbidden, NotFound, Unprocessable
from berrys.services.alerts import service as alerts
from berrys.services.alerts.contracts import (
    AlertKind,
    AlertRuleCreate,
    AlertRuleOut,
    EpisodeStatus,
)
from berrys.services.auth.contracts import UserOut, UserRole
from berrys.services.llm.deps import ModelsDep
from berrys.services.projects import service as projects
from berrys.web.pages import _database
from berrys.web.security import Csrf, WebUser
from berrys.web.templating import render

router = APIRouter(include_in_schema=False)
RECENT = 50


async def _page(
    request: Request,
    user: UserOut,
    status_code: int = 200,
    flash: str | None = None,
    flash_kind: str = "ok",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    async with _database(request).transaction(read_only=True) as session:
        episodes, total = await alerts.get_episodes(session, user=user, limit=RECENT, offset=0)
        rules, _ = await alerts.get_all(session, user=user, limit=200, offset=0)
        watched, _ = await projects.get_all(session, user=user, limit=200, offset=0)
    return render(
        request,
        "alerts.html",
        status_code,
        firing=[episode for episode in episodes if episode.status == EpisodeStatus.FIRING],
        history=[episode for episode in episodes if episode.status != EpisodeStatus.FIRING],
        total=total,
        rules=rules,
        watches={rule.id: _watches(rule) for rule in rules},
        can_write=user.can_write,
        is_admin=user.role == UserRole.ADMIN,
        projects=watched,
        kinds=list(AlertKind),
        form=form or {},
        flash=flash,
        flash_kind=flash_kind,
    )


def _watches(rule: AlertRuleOut) -> str:
    params = rule.condition.model_dump(mode="json", exclude={"kind"})
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in params.items())


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, user: WebUser) -> Response:
    return await _page(request, user)


@router.get("/alerts/count", response_class=HTMLResponse)
async def alerts_count(request: Request, user: WebUser) -> Response:
    """The live badge in the navigation: alerts firing now."""
    async with _database(request).transaction(read_only=True) as session:
        total = await alerts.firing_count(session, user=user)
    body = f'<span class="badge count" aria-label="{total} firing">{total}</span>' if total else ""
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


@router.post(
    "/alerts/episodes/{episode_id}/acknowledge", dependencies=[Csrf], response_class=HTMLResponse
)
async def acknowledge(request: Request, user: WebUser, episode_id: uuid.UUID) -> Response:
    try:
        if not user.can_write:
            raise Forbidden(f"Role {user.role.value} can only read.")
        async with _database(request).transaction() as session:
            episode = await alerts.acknowledge(session, episode_id=episode_id, user=user)
    except NotFound:
        raise
    except BerrysError as exc:
        return await _page(request, user, exc.status, flash=exc.detail, flash_kind="error")
    return await _page(request, user, flash=f'Acknowledged "{episode.rule_name}".')


# The form's one "minutes" field is the kind's own parameter of minutes.
_MINUTES = {
    AlertKind.TASK_FAILURE_RATE: "window_minutes",
    AlertKind.RUN_STALLED: "idle_minutes",
    AlertKind.APPROVAL_WAITING: "waiting_minutes",
    AlertKind.WORKER_SILENT: "grace_minutes",
}


def _condition(kind: AlertKind, fields: dict[str, str]) -> dict[str, Any]:
    """The kind's condition from the form: only the fields the kind has, blank ones left to
    their defaults."""
    condition: dict[str, Any] = {"kind": kind}
    if kind in (AlertKind.TASK_FAILURE_RATE, AlertKind.BUDGET_SPENT):
        condition["threshold_percent"] = fields["threshold_percent"]
    if kind in _MINUTES:
        condition[_MINUTES[kind]] = fields["minutes"]
    if kind == AlertKind.TASK_FAILURE_RATE:
        condition["min_tasks"] = fields["min_tasks"]
    return {key: value for key, value in condition.items() if value != ""}


def _rule_in(fields: dict[str, str]) -> AlertRuleCreate:
    try:
        kind = AlertKind(fields["kind"])
    except ValueError:
        raise Unprocessable(f"Unknown kind {fields['kind']!r}.") from None
    try:
        return AlertRuleCreate.model_validate(
            {
                "name": fields["name"],
                "project_id": fields["project_id"] or None,
                "condition": _condition(kind, fields),
                "webhook_url": fields["webhook_url"] or None,
                "webhook_secret": fields["webhook_secret"] or None,
                "email_to": [a.strip() for a in fields["email_to"].split(",") if a.strip()],
            }
        )
    except ValidationError as exc:
        raise Unprocessable(
            "; ".join(f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors())
        ) from None


@router.post("/alerts/rules", dependencies=[Csrf], response_class=HTMLResponse)
async def add_rule(
    request: Request,
    user: WebUser,
    models: ModelsDep,
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=32)],
    project_id: Annotated[str, Form(max_length=36)] = "",
    threshold_percent: Annotated[str, Form(max_length=20)] = "",
    minutes: Annotated[str, Form(max_length=20)] = "",
    min_tasks: Annotated[str, Form(max_length=20)] = "",
    webhook_url: Annotated[str, Form(max_length=2000)] = "",
    webhook_secret: Annotated[str, Form(max_length=200)] = "",
    email_to: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """A rule from the page's form; a refused one comes back with the form as it was."""
    fields = {
        "name": name, "kind": kind, "project_id": project_id,
        "threshold_percent": threshold_percent, "minutes": minutes, "min_tasks": min_tasks,
        "webhook_url": webhook_url, "webhook_secret": webhook_secret, "email_to": email_to,
    }  # fmt: skip
    settings = request.app.state.services.settings
    try:
        if not user.can_write:
            raise Forbidden(f"Role {user.role.value} can only read.")
        rule_in = _rule_in(fields)
        if rule_in.email_to and not (settings.smtp_host and settings.smtp_from):
            raise Unprocessable("Alert emails need an SMTP server (BERRYS_SMTP_HOST, _FROM).")
        async with _database(request).transaction() as session:
            rule = await alerts.create(session, models.secrets, rule_in=rule_in, user=user)
    except BerrysError as exc:
        fields["webhook_secret"] = ""  # never sent back
        return await _page(request, user, exc.status, exc.detail, "error", form=fields)
    return await _page(request, user, flash=f'Added the alert rule "{rule.name}".')


@router.post("/alerts/rules/{rule_id}/delete", dependencies=[Csrf], response_class=HTMLResponse)
async def delete_rule(request: Request, user: WebUser, rule_id: uuid.UUID) -> Response:
    try:
        if not user.can_write:
            raise Forbidden(f"Role {user.role.value} can only read.")
        async with _database(request).transaction() as session:
            await alerts.delete(session, rule_id=rule_id, user=user)
    except NotFound:
        raise
    except BerrysError as exc:
        return await _page(request, user, exc.status, exc.detail, "error")
    return await _page(request, user, flash="Deleted the alert rule.")
