"""The dashboard's alerts: the episodes firing now and the recent ones, the rules the user
may see, acknowledging a firing episode, and the live count in the navigation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from berrys.core.errors import BerrysError, NotFound
from berrys.services.alerts import service as alerts
from berrys.services.alerts.contracts import AlertRuleOut, EpisodeStatus
from berrys.services.auth.contracts import UserOut
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
) -> HTMLResponse:
    async with _database(request).transaction(read_only=True) as session:
        episodes, total = await alerts.get_episodes(session, user=user, limit=RECENT, offset=0)
        rules, _ = await alerts.get_all(session, user=user, limit=200, offset=0)
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
            raise BerrysError(f"Role {user.role.value} can only read.")
        async with _database(request).transaction() as session:
            episode = await alerts.acknowledge(session, episode_id=episode_id, user=user)
    except NotFound:
        raise
    except BerrysError as exc:
        return await _page(request, user, exc.status, flash=exc.detail, flash_kind="error")
    return await _page(request, user, flash=f'Acknowledged "{episode.rule_name}".')
