"""Templates: immutable versions, compare, revert, overrides, upload/export; specialisations."""

from __future__ import annotations

import json

from berrys.services.catalogue.contracts import AgentType

BASE = "/api/v1/agent-templates"


async def _template(client, actor, **fields):
    body = {
        "name": "Careful reviewer",
        "agent_type": "AUDITOR",
        "tags": ["Quality", "review"],
        "definition": {
            "role": "Reviewer",
            "goal": "Find defects",
            "configuration": {"temperature": 0.1, "model_preference": "quality"},
            "specialisation": {"skills": ["code review"]},
        },
        **fields,
    }
    response = await client.post(BASE, json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_system_templates_and_specialisations_are_seeded_for_every_type(client, member):
    templates = (await client.get(BASE, params={"limit": 200}, headers=member.headers)).json()
    system = [t for t in templates["items"] if t["is_system"]]
    assert sorted(t["agent_type"] for t in system) == sorted(AgentType.allowed())
    assert all(t["current_version"] == 1 and "system" in t["tags"] for t in system)
    specs = (await client.get("/api/v1/agent-specialisations", headers=member.headers)).json()
    assert sorted(s["agent_type"] for s in specs) == sorted(AgentType.allowed())
    assert all(s["skills"] for s in specs)
    # idempotent: a second read seeds nothing new
    again = (await client.get(BASE, params={"limit": 200}, headers=member.headers)).json()
    assert again["total"] == templates["total"]


async def test_versions_compare_revert(client, member):
    template = await _template(client, member)
    assert template["current_version"] == 1
    assert template["tags"] == ["quality", "review"]
    url = f"{BASE}/{template['id']}"

    v2 = await client.post(
        f"{url}/versions",
        json={
            "overrides": {"configuration.temperature": 0.3, "goal": "Find every defect"},
            "change_note": "warmer",
        },
        headers=member.headers,
    )
    assert v2.status_code == 201, v2.text
    assert v2.json()["current_version"] == 2
    assert v2.json()["definition"]["configuration"]["temperature"] == 0.3
    assert v2.json()["definition"]["configuration"]["model_preference"] == "quality"

    diff = (
        await client.get(
            f"{url}/compare", params={"from_version": 1, "to_version": 2}, headers=member.headers
        )
    ).json()
    assert {c["path"]: (c["before"], c["after"]) for c in diff["changes"]} == {
        "configuration.temperature": (0.1, 0.3),
        "goal": ("Find defects", "Find every defect"),
    }

    reverted = await client.post(f"{url}/revert", json={"version": 1}, headers=member.headers)
    assert reverted.status_code == 200
    assert reverted.json()["current_version"] == 3
    assert reverted.json()["definition"] == template["definition"]

    versions = (await client.get(f"{url}/versions", headers=member.headers)).json()
    assert [v["version"] for v in versions["items"]] == [1, 2, 3]
    assert versions["items"][2]["change_note"] == "revert to version 1"
    v1 = (await client.get(f"{url}/versions/1", headers=member.headers)).json()
    assert v1["definition"] == template["definition"]  # versions never change
    nothing = await client.get(
        f"{url}/compare", params={"from_version": 1, "to_version": 3}, headers=member.headers
    )
    assert nothing.json()["changes"] == []
    missing = await client.get(f"{url}/versions/9", headers=member.headers)
    assert missing.status_code == 404


async def test_metadata_updates_do_not_make_versions(client, member):
    template = await _template(client, member)
    patched = await client.patch(
        f"{BASE}/{template['id']}",
        json={"name": "Strict reviewer", "tags": ["strict"]},
        headers=member.headers,
    )
    assert patched.json()["current_version"] == 1
    assert patched.json()["tags"] == ["strict"]
    tagged = await client.get(BASE, params={"tag": "strict"}, headers=member.headers)
    assert [t["name"] for t in tagged.json()["items"]] == ["Strict reviewer"]


async def test_bad_overrides_and_definitions_are_422(client, member):
    template = await _template(client, member)
    url = f"{BASE}/{template['id']}/versions"
    for body in [
        {"overrides": {"configuration.colour": "red"}},
        {"overrides": {"nope": 1}},
        {"overrides": {"configuration.temperature": 7}},
        {"overrides": {"role.name": "x"}},
        {"overrides": {"": 1}},
        {"overrides": {"prompt_template": "{% for %}"}},
        {"overrides": {"a": 1}, "definition": {}},
        {},
        {"definition": {"role": "x", "extra": 1}},
    ]:
        response = await client.post(url, json=body, headers=member.headers)
        assert response.status_code == 422, (body, response.text)
    unknown = await client.post(url, json={"overrides": {"nope": 1}}, headers=member.headers)
    assert "configuration.temperature" in unknown.json()["allowed"]
    duplicate = await client.post(
        BASE, json={"name": "Careful reviewer", "agent_type": "AUDITOR"}, headers=member.headers
    )
    assert duplicate.status_code == 409


async def test_agent_from_a_template_records_its_version(client, member, project):
    template = await _template(client, member)
    await client.post(
        f"{BASE}/{template['id']}/versions",
        json={"overrides": {"role": "Lead reviewer"}},
        headers=member.headers,
    )
    agents = f"/api/v1/projects/{project['id']}/agents"
    current = await client.post(
        agents,
        json={
            "name": "QA",
            "template_id": template["id"],
            "overrides": {"configuration.temperature": 0.0, "specialisation.skills": ["pytest"]},
        },
        headers=member.headers,
    )
    assert current.status_code == 201, current.text
    body = current.json()
    assert (body["template_id"], body["template_version"]) == (template["id"], 2)
    assert body["agent_type"] == "AUDITOR"
    assert body["role"] == "Lead reviewer"
    assert body["configuration"]["temperature"] == 0.0
    assert body["specialisation"]["skills"] == ["pytest"]

    pinned = await client.post(
        agents,
        json={"name": "QA 1", "template_id": template["id"], "template_version": 1, "goal": "Own"},
        headers=member.headers,
    )
    assert pinned.json()["template_version"] == 1
    assert pinned.json()["role"] == "Reviewer"
    assert pinned.json()["goal"] == "Own"

    bad = await client.post(
        agents,
        json={"name": "QA 2", "template_id": template["id"], "overrides": {"x.y": 1}},
        headers=member.headers,
    )
    assert bad.status_code == 422

    system = (
        await client.get(BASE, params={"agent_type": "DEVELOPER"}, headers=member.headers)
    ).json()
    from_system = await client.post(
        agents,
        json={"name": "Dev", "template_id": system["items"][0]["id"]},
        headers=member.headers,
    )
    assert from_system.status_code == 201
    assert from_system.json()["role"] == "Software Developer"


async def test_export_and_import_by_upload(client, member, other_member):
    template = await _template(client, member)
    await client.post(
        f"{BASE}/{template['id']}/versions",
        json={"overrides": {"goal": "v2"}},
        headers=member.headers,
    )
    exported = await client.get(f"{BASE}/{template['id']}/export", headers=member.headers)
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    document = exported.json()
    assert document["format"] == "berrys.agent_template/v1"
    assert [v["version"] for v in document["versions"]] == [1, 2]

    upload = {"file": ("reviewer.json", json.dumps(document).encode(), "application/json")}
    clash = await client.post(f"{BASE}/import", files=upload, headers=other_member.headers)
    assert clash.status_code == 409
    imported = await client.post(
        f"{BASE}/import",
        files=upload,
        data={"name": "Imported reviewer"},
        headers=other_member.headers,
    )
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["name"] == "Imported reviewer"
    assert body["owner_id"] == str(other_member.id)
    assert body["current_version"] == 2
    assert body["definition"]["goal"] == "v2"
    versions = (
        await client.get(f"{BASE}/{body['id']}/versions", headers=other_member.headers)
    ).json()
    assert versions["total"] == 2

    for content in [
        b"not json",
        b"\xff\xfe",
        b'{"format": "something else"}',
        json.dumps({**document, "versions": []}).encode(),
        json.dumps({**document, "name": "x", "current_version": 5}).encode(),
        json.dumps(
            {**document, "name": "y", "versions": [{**document["versions"][0], "version": 3}]}
        ).encode(),
    ]:
        response = await client.post(
            f"{BASE}/import",
            files={"file": ("t.json", content, "application/json")},
            headers=member.headers,
        )
        assert response.status_code == 422, (content, response.text)
    no_file = await client.post(f"{BASE}/import", headers=member.headers)
    assert no_file.status_code == 422


async def test_template_access(client, member, other_member, admin, viewer):
    mine = await _template(client, member)
    url = f"{BASE}/{mine['id']}"
    assert (await client.get(url, headers=other_member.headers)).status_code == 404
    assert (await client.get(f"{url}/export", headers=other_member.headers)).status_code == 404
    assert (await client.delete(url, headers=other_member.headers)).status_code == 404
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    listed = (await client.get(BASE, headers=other_member.headers)).json()
    assert mine["id"] not in [t["id"] for t in listed["items"]]
    assert (await client.get(url, headers=viewer.headers)).status_code == 404
    assert (
        await client.post(f"{url}/revert", json={"version": 1}, headers=viewer.headers)
    ).status_code == 403

    system = (await client.get(BASE, params={"q": "Coordinator"}, headers=member.headers)).json()
    system_url = f"{BASE}/{system['items'][0]['id']}"
    change = {"overrides": {"goal": "mine"}}
    assert (
        await client.post(f"{system_url}/versions", json=change, headers=member.headers)
    ).status_code == 403
    assert (await client.delete(system_url, headers=admin.headers)).status_code == 409
    by_admin = await client.post(f"{system_url}/versions", json=change, headers=admin.headers)
    assert by_admin.status_code == 201
    assert (await client.delete(url, headers=member.headers)).status_code == 204


async def test_specialisations_are_editable_by_an_admin_and_reach_the_prompt(
    client, member, admin, new_agent
):
    url = "/api/v1/agent-specialisations/DEVELOPER"
    denied = await client.patch(url, json={"skills": ["cobol"]}, headers=member.headers)
    assert denied.status_code == 403
    edited = await client.patch(
        url, json={"skills": ["rust", "wasm"], "summary": "Systems work"}, headers=admin.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["skills"] == ["rust", "wasm"]
    assert (await client.get(url, headers=member.headers)).json()["summary"] == "Systems work"
    # seeding again never overwrites an edit
    await client.get("/api/v1/agent-specialisations", headers=member.headers)
    assert (await client.get(url, headers=member.headers)).json()["skills"] == ["rust", "wasm"]
    agent = await new_agent()
    prompt = (
        await client.get(f"/api/v1/agents/{agent['id']}/system-prompt", headers=member.headers)
    ).json()["system_prompt"]
    assert "Systems work" in prompt
    assert "Your skills: rust, wasm" in prompt
    bad = await client.patch(
        "/api/v1/agent-specialisations/WIZARD", json={"skills": []}, headers=admin.headers
    )
    assert bad.status_code == 422
