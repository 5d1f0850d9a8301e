"""Projects over REST: create, read, list with filters, update, delete, and who sees what."""

from __future__ import annotations

from sqlalchemy import event


async def test_create_read_update_delete(client, member):
    created = await client.post(
        "/api/v1/projects",
        json={
            "name": "  Bakery Site ",
            "description": "A website for my bakery",
            "metadata": {"k": 1},
        },
        headers=member.headers,
    )
    assert created.status_code == 201
    project = created.json()
    assert project["name"] == "Bakery Site"
    assert project["status"] == "DRAFT"
    assert project["metadata"] == {"k": 1}
    assert project["owner_id"] == str(member.id)

    patched = await client.patch(
        f"/api/v1/projects/{project['id']}",
        json={"description": "Bakery website with online orders", "metadata": {"k": 2}},
        headers=member.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["description"] == "Bakery website with online orders"
    assert patched.json()["metadata"] == {"k": 2}
    assert patched.json()["name"] == "Bakery Site"

    deleted = await client.delete(f"/api/v1/projects/{project['id']}", headers=member.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/projects/{project['id']}", headers=member.headers)
    assert gone.status_code == 404


async def test_list_filters_by_status_and_text_and_pages(client, member):
    for name in ("Bakery site", "Data pipeline", "Bakery newsletter"):
        await client.post("/api/v1/projects", json={"name": name}, headers=member.headers)
    planning = await client.post(
        "/api/v1/projects", json={"name": "Garden", "status": "PLANNING"}, headers=member.headers
    )
    assert planning.status_code == 201

    bakery = (await client.get("/api/v1/projects?q=bakery", headers=member.headers)).json()
    assert bakery["total"] == 2
    assert {p["name"] for p in bakery["items"]} == {"Bakery site", "Bakery newsletter"}

    by_status = (
        await client.get("/api/v1/projects?status=PLANNING", headers=member.headers)
    ).json()
    assert [p["name"] for p in by_status["items"]] == ["Garden"]

    page = (await client.get("/api/v1/projects?limit=2&offset=1", headers=member.headers)).json()
    assert page["total"] == 4
    assert len(page["items"]) == 2

    literal = (await client.get("/api/v1/projects?q=%25", headers=member.headers)).json()
    assert literal["total"] == 0  # "%" is searched for literally, not as a wildcard


async def test_users_see_only_their_own_projects_and_admins_see_all(
    client, member, other_member, admin
):
    mine = (
        await client.post("/api/v1/projects", json={"name": "Mine"}, headers=member.headers)
    ).json()
    await client.post("/api/v1/projects", json={"name": "Theirs"}, headers=other_member.headers)

    listed = (await client.get("/api/v1/projects", headers=member.headers)).json()
    assert [p["name"] for p in listed["items"]] == ["Mine"]
    everything = (await client.get("/api/v1/projects", headers=admin.headers)).json()
    assert everything["total"] == 2
    admin_view = await client.get(f"/api/v1/projects/{mine['id']}", headers=admin.headers)
    assert admin_view.status_code == 200


async def test_viewers_read_but_cannot_write(client, viewer):
    response = await client.post("/api/v1/projects", json={"name": "Nope"}, headers=viewer.headers)
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"
    assert (await client.get("/api/v1/projects", headers=viewer.headers)).status_code == 200


async def test_a_read_is_one_transaction_for_caller_project_and_route(client, member, database):
    """Authentication, the access check and the route of a GET read in one transaction."""
    created = await client.post(
        "/api/v1/projects", json={"name": "One read"}, headers=member.headers
    )
    project_id = created.json()["id"]
    begins: list[object] = []

    def on_begin(connection: object) -> None:
        begins.append(connection)

    event.listen(database.engine.sync_engine, "begin", on_begin)
    try:
        for path in (f"/api/v1/projects/{project_id}", f"/api/v1/projects/{project_id}/history"):
            begins.clear()
            response = await client.get(path, headers=member.headers)
            assert response.status_code == 200, response.text
            assert len(begins) == 1, path
    finally:
        event.remove(database.engine.sync_engine, "begin", on_begin)
