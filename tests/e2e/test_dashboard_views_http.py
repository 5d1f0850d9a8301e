"""The dashboard's views over HTTP, in process (issue 15): the API docs from bundled assets,
the Gantt chart, the run page per task, starting a run while one waits, empty states."""

from __future__ import annotations

import base64
import hashlib
import re


async def test_the_api_docs_load_only_bundled_assets(client):
    for path, assets in (
        ("/docs", {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "text/css"}),
        ("/redoc", {"redoc.standalone.js": "javascript"}),
    ):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "googleapis" not in page.text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources, path
        for source in sources:
            assert source.startswith("/docs/assets/") or source == "/openapi.json", source
        for name, kind in assets.items():
            assert f"/docs/assets/{name}" in sources
            asset = await client.get(f"/docs/assets/{name}")
            assert asset.status_code == 200
            assert kind in asset.headers["content-type"]
            assert len(asset.content) > 100_000
        # The inline start-up script runs because the policy names its hash, nothing more.
        policy = page.headers["content-security-policy"]
        for body in re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-eval" not in policy
    assert "SwaggerUIBundle" in (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
