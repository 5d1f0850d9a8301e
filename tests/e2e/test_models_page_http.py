"""The dashboard's models page over HTTP, in process: the usage line and the table count the
same calls (the offline drafts and scripted models included), an ADMIN adds a model with its
server and key through the form (refused fields marked inline, the key never sent back), and
tests it; nobody else may."""

from __future__ import annotations

import re

from tests.e2e.test_dashboard_http import _login
from tests.services.llm.llama_server import free_port

from berrys.services.llm import service as llm
from berrys.services.llm.contracts import ChatMessage, CompletionRequest

KEY = "sk-page-test-key-0123456789-qrst"


def _requests_in_table(html: str) -> tuple[int, list[int], int]:
    """The usage line's total, each table row's requests, and the table's total."""
    total = int(re.search(r'id="usage-total">(\d+) request', html).group(1))
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.DOTALL).group(1)
    rows = [int(n) for n in re.findall(r'<td class="requests">(\d+)</td>', body)]
    foot = re.search(r"<tfoot>.*?<td class=\"requests\">(\d+)</td>", html, re.DOTALL)
    return total, rows, int(foot.group(1))


async def test_the_usage_line_and_the_table_count_the_same_calls(client, admin, database, models):
    ask = [ChatMessage(role="user", content="Draft a bakery launch checklist.")]
    for _ in range(3):  # the offline drafts: RULES, not a registered model
        await llm.complete(
            models, database, CompletionRequest(messages=ask, rules=lambda: "A draft.")
        )
    with llm.script(models, "fake", ["one", "two"]):
        for _ in range(2):
            await llm.complete(models, database, CompletionRequest(messages=ask))
    token = await _login(client, admin)
    closed = f"http://127.0.0.1:{free_port()}/v1"
    added = await client.post(
        "/models",
        data={"provider": "OPENAI", "name": "gone", "base_url": closed, "csrf_token": token},
    )
    assert added.status_code == 200, added.text
    model_id = re.search(r'id="model-([0-9a-f-]{36})"', added.text).group(1)
    tested = await client.post(f"/models/{model_id}/test", data={"csrf_token": token})
    assert "Failed (CONNECTION_ERROR)" in tested.text  # one attempt, counted like any other

    page = (await client.get("/models")).text
    total, rows, foot = _requests_in_table(page)
    assert total == 6
    assert sorted(rows) == [1, 2, 3]  # gone (registered), fake (scripted), rules (offline)
    assert sum(rows) == foot == total
    assert "6 request(s) to 3 model(s)" in page
    assert "built in: the offline drafts" in page
    assert "berrys models" not in page  # configures nothing: no pointer to it


async def test_an_admin_adds_a_model_whose_key_is_never_shown_again(client, admin, member):
    token = await _login(client, admin)
    refused = await client.post(
        "/models",
        data={"provider": "OPENAI", "name": "qwen", "base_url": "ftp://example.org",
              "api_key": KEY, "csrf_token": token},
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'id="model-url-error"' in refused.text
    assert "http:// or https:// URL" in refused.text
    assert 'id="model-url" name="base_url" value="ftp://example.org"' in refused.text
    assert KEY not in refused.text
    assert "Enter it again" in refused.text

    unfit = await client.post(
        "/models",
        data={"provider": "OLLAMA", "name": "qwen", "base_url": "http://127.0.0.1:9",
              "api_key": KEY, "csrf_token": token},
    )  # fmt: skip
    assert unfit.status_code == 422
    assert "OLLAMA models take no api_key" in unfit.text
    assert KEY not in unfit.text

    added = await client.post(
        "/models",
        data={"provider": "OPENAI", "name": "qwen", "base_url": "http://127.0.0.1:9/v1",
              "api_key": KEY, "context_window": "8192", "csrf_token": token},
    )  # fmt: skip
    assert added.status_code == 200
    assert "Added OPENAI/qwen (API key: set, ends in …qrst)" in added.text
    again = await client.post(
        "/models",
        data={"provider": "OPENAI", "name": "qwen", "csrf_token": token},
    )
    assert again.status_code == 409
    assert "already registered" in again.text
    for page in (added.text, (await client.get("/models")).text):
        assert KEY not in page
        assert "set, ends in …qrst" in page
    listed = (await client.get("/api/v1/models", headers=admin.headers)).json()["items"]
    assert [(m["name"], m["context_window"], m["api_key"]) for m in listed] == [
        ("qwen", 8192, "set, ends in …qrst"),
        ("rules", 1_000_000, "not set"),  # the offline drafts, registered on first use
    ]

    client.cookies.clear()
    token = await _login(client, member)
    page = await client.get("/models")
    assert "Add a model" not in page.text
    assert 'aria-label="Test qwen"' not in page.text
    forbidden = await client.post(
        "/models", data={"provider": "OPENAI", "name": "mine", "csrf_token": token}
    )
    assert forbidden.status_code == 403
    assert "Only an ADMIN may add or test models" in forbidden.text
