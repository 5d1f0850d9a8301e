async def test_create_and_get(client, member):
    created = await client.post("/api/v1/projects", json={"name": "Bakery"}, headers=member.headers)
    assert created.status_code == 201, created.text
    got = await client.get(f"/api/v1/projects/{created.json()['id']}", headers=member.headers)
    assert got.json()["name"] == "Bakery"
