"""The audit page over HTTP, in process: actors by email and entities and projects by name
(read once per page, not per row), and filters (entity type, actor, action, project, dates)
that combine and survive paging; a member sees only their own trail."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from tests.e2e.test_dashboard_http import _login


def _rows(page: str) -> list[list[str]]:
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append(
            [" ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
        )
    return rows


def _older(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)">Older</a>', page)
    return html_lib.unescape(found.group(1)) if found else None


async def _project(client, actor, name: str) -> str:
    created = await client.post("/api/v1/projects", json={"name": name}, headers=actor.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def test_entries_name_their_actor_entity_and_project(client, admin, member):
    tag = uuid.uuid4().hex[:6]
    bakery = await _project(client, member, f"Bakery {tag}")
    await client.patch(
        f"/api/v1/projects/{bakery}", json={"description": "Bread"}, headers=member.headers
    )
    await _login(client, admin)
    page = await client.get("/audit", params={"project_id": bakery})
    assert page.status_code == 200
    rows = _rows(page.text)
    assert [row[2] for row in rows] == ["update", "create"]
    for row in rows:
        assert row[3] == f"project Bakery {tag}"  # the entity by name
        assert row[4] == f"Bakery {tag}"  # the project by name, linked
        assert row[5] == member.email  # the actor by email
    assert f'<a href="/projects/{bakery}">Bakery {tag}</a>' in page.text
    assert bakery[:8] not in re.sub(r'(href|value)="[^"]*"', "", page.text)


async def test_names_are_read_once_per_page_not_per_row(client, database, admin, member):
    tag = uuid.uuid4().hex[:6]
    for number in range(12):
        await _project(client, member, f"Counted {tag} {number}")
    await _login(client, admin)
    statements: list[str] = []

    def _count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _count)
    try:
        await client.get("/audit", params={"actor": member.email, "entity_type": "project"})
        many = len(statements)
        statements.clear()
        await client.get(
            "/audit",
            params={"actor": member.email, "entity_type": "project", "since": "2999-01-01"},
        )
        none = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", _count)
    # 12 rows cost what 0 rows cost, but the two name look-ups that 0 rows skip.
    assert many <= none + 2, (many, none)


async def test_filters_combine_and_survive_paging(client, admin, member, other_member):
    tag = uuid.uuid4().hex[:6]
    ids = [await _project(client, member, f"Paged {tag} {n:02d}") for n in range(55)]
    mine_elsewhere = await _project(client, other_member, f"Other {tag}")
    await _login(client, admin)
    wanted = {"actor": member.email, "entity_type": "project", "action": "CREATE"}
    first = await client.get("/audit", params=wanted)
    rows = _rows(first.text)
    assert len(rows) == 50
    assert all(row[2] == "create" and row[5] == member.email for row in rows)
    assert all(row[3].startswith("project ") for row in rows)
    older = _older(first.text)
    assert older
    for key, value in {**wanted, "offset": "50"}.items():
        assert f"{key}={value}".replace("@", "%40") in older
    second = await client.get(older)
    later = _rows(second.text)
    assert 5 <= len(later) < 50  # earlier tests' projects by this member come after ours
    assert all(row[2] == "create" and row[5] == member.email for row in later)
    assert not [row for row in rows + later if f"Other {tag}" in " ".join(row)]

    today = datetime.now(UTC).date()
    one = {"project_id": ids[0], "since": today.isoformat(), "until": today.isoformat()}
    assert [row[3] for row in _rows((await client.get("/audit", params=one)).text)] == [
        f"project Paged {tag} 00"
    ]
    yesterday = (today - timedelta(days=1)).isoformat()
    empty = await client.get("/audit", params={**one, "until": yesterday, "since": yesterday})
    assert "No entries match these filters" in empty.text
    assert (await client.get("/audit", params={"project_id": mine_elsewhere})).status_code == 200

    for bad, words in (
        ({"since": "yesterday"}, "From must be a date, YYYY-MM-DD"),
        ({"action": "EXPLODE"}, "Action 'EXPLODE' is not one of CREATE"),
        ({"actor": "nobody@example.com"}, "No user has the email"),
        ({"project_id": "not-an-id"}, "Project is not a project id"),
    ):
        refused = await client.get("/audit", params=bad)
        assert refused.status_code == 422
        assert words in html_lib.unescape(refused.text)


async def test_a_member_sees_only_their_own_trail(client, member, other_member):
    tag = uuid.uuid4().hex[:6]
    await _project(client, member, f"Mine {tag}")
    theirs = await _project(client, other_member, f"Theirs {tag}")
    await _login(client, member)
    page = await client.get("/audit")
    assert f"Mine {tag}" in page.text
    assert f"Theirs {tag}" not in page.text
    assert other_member.email not in page.text
    hidden = await client.get("/audit", params={"project_id": theirs})
    assert _rows(hidden.text)[0][0].startswith("No entries match")
