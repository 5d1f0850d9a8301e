"""The dashboard's alerts over HTTP, in process: the badge counts firing episodes, the page
lists them and the rules, acknowledging needs the CSRF token, and someone else sees none."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.test_dashboard_http import _login, _token
from tests.services.alerts.conftest import Clock, add_rule, unattended_run


async def test_badge_page_and_acknowledge(client, database, member, other_member) -> None:
    project = await client.post("/api/v1/projects", json={"name": "Shop"}, headers=member.headers)
    project_id = project.json()["id"]
    await add_rule(
        client, member, {"kind": "RUN_STALLED", "idle_minutes": 5}, project_id=project_id
    )
    await unattended_run(database, project_id)
    await Clock(database).evaluate(after=timedelta(minutes=6))

    await _login(client, member)
    assert ">1<" in (await client.get("/alerts/count")).text
    page = await client.get("/alerts")
    assert page.status_code == 200
    assert "1 run(s) without progress for 5 min or more" in page.text
    assert 'id="alert-count"' in page.text
    episode_id = page.text.split('action="/alerts/episodes/')[1].split("/")[0]
    url = f"/alerts/episodes/{episode_id}/acknowledge"
    assert (await client.post(url)).status_code == 403  # no CSRF token
    acknowledged = await client.post(url, data={"csrf_token": _token(page.text)})
    assert acknowledged.status_code == 200
    assert "Acknowledged" in acknowledged.text
    assert "acknowledged</span>" in acknowledged.text

    client.cookies.clear()
    await _login(client, other_member)
    assert (await client.get("/alerts/count")).text == ""
    assert "No alert fires now." in (await client.get("/alerts")).text


async def test_add_and_delete_a_rule_from_the_page(client, member, viewer) -> None:
    project = await client.post("/api/v1/projects", json={"name": "Shop"}, headers=member.headers)
    project_id = project.json()["id"]
    await _login(client, member)
    page = await client.get("/alerts")
    token = _token(page.text)
    form = {
        "csrf_token": token,
        "name": "Slow approvals",
        "project_id": project_id,
        "kind": "APPROVAL_WAITING",
        "minutes": "45",
        "threshold_percent": "50",
    }
    refused = await client.post("/alerts/rules", data={**form, "minutes": "0"})
    assert refused.status_code == 422
    assert "waiting_minutes" in refused.text
    assert 'value="Slow approvals"' in refused.text  # the form as it was
    added = await client.post("/alerts/rules", data=form)
    assert added.status_code == 200, added.text
    assert "Added the alert rule &#34;Slow approvals&#34;" in added.text
    [rule] = (await client.get("/api/v1/alerts/rules", headers=member.headers)).json()["items"]
    assert rule["condition"] == {"kind": "APPROVAL_WAITING", "waiting_minutes": 45}
    assert 'value=""' not in added.text.split('id="rule-project"')[1].split("</select>")[0]

    deleted = await client.post(f"/alerts/rules/{rule['id']}/delete", data={"csrf_token": token})
    assert deleted.status_code == 200
    assert (await client.get("/api/v1/alerts/rules", headers=member.headers)).json()["total"] == 0

    client.cookies.clear()
    await _login(client, viewer)
    page = await client.get("/alerts")
    assert 'action="/alerts/rules"' not in page.text
    forbidden = await client.post("/alerts/rules", data={**form, "csrf_token": _token(page.text)})
    assert forbidden.status_code == 403
