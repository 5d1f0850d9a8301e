"""Outgoing HTTP (the fetch tool, HTTP tools) against real local HTTP servers: off by
default, allow-listed hosts, size limit, and no private address (SSRF) through a name, a
DNS answer that changes, or a redirect, unless BERRYS_TOOLS_FETCH_ALLOW_PRIVATE is on."""

from __future__ import annotations

import ipaddress
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from berrys.config import Settings
from berrys.core.errors import BerrysError
from berrys.services.tools import _egress, service


@dataclass
class Web:
    """A real HTTP server on one loopback address: its URL and the requests it received."""

    url: str
    port: int
    requests: list[tuple[str, str | None]] = field(default_factory=list)


def _serve(address: str) -> Iterator[Web]:
    web = Web(url="", port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            web.requests.append((self.path, self.headers.get("Host")))
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/redirect?to="))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"z" * 5000 if self.path == "/big" else b"hello from the test server"
            if self.path == "/host":
                body = str(self.headers.get("Host")).encode()
            self._answer(200, "text/plain", body)

        def do_POST(self) -> None:
            web.requests.append((self.path, self.headers.get("Host")))
            length = int(self.headers.get("Content-Length", "0"))
            arguments = json.loads(self.rfile.read(length) or b"{}")
            body = json.dumps({"doubled": arguments.get("n", 0) * 2}).encode()
            self._answer(200 if "n" in arguments else 400, "application/json", body)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), Handler)
    web.port = server.server_address[1]
    web.url = f"http://{address}:{web.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield web
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web() -> Iterator[Web]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def outside() -> Iterator[Web]:
    """A server that stands for a public host: 127.0.0.2, which the address check is told to
    let through (see ``public_outside``); 127.0.0.1 stays loopback to it."""
    yield from _serve("127.0.0.2")


@pytest.fixture
def public_outside(monkeypatch: pytest.MonkeyPatch, outside: Web) -> Web:
    checked = _egress.refusal
    stand_in = ipaddress.ip_address("127.0.0.2")

    def refusal(address: _egress.IPAddress, *, allow_private: bool) -> str | None:
        return None if address == stand_in else checked(address, allow_private=allow_private)

    monkeypatch.setattr(_egress, "refusal", refusal)
    return outside


def _fetching(settings: Settings, *hosts: str, **more: object) -> Settings:
    return settings.model_copy(
        update={"tools_fetch_enabled": True, "tools_fetch_allowed_hosts": list(hosts), **more}
    )


async def _fetch(database, settings, builtins, url: str):  # type: ignore[no-untyped-def]
    return await service.ToolInvoker(database, settings).invoke(
        tool_id=uuid.UUID(builtins["http.fetch"]),
        arguments={"url": url},
        user=None,
    )


async def _refused(database, settings, builtins, url: str) -> BerrysError:  # type: ignore[no-untyped-def]
    with pytest.raises(BerrysError) as refused:
        await _fetch(database, settings, builtins, url)
    assert refused.value.status == 403, refused.value.detail
    return refused.value


async def test_fetch_is_off_by_default(client, member, builtins, web):
    refused = await client.post(
        f"/api/v1/tools/{builtins['http.fetch']}/invoke",
        json={"arguments": {"url": web.url + "/"}},
        headers=member.headers,
    )
    assert refused.status_code == 403
    assert "disabled" in refused.json()["detail"]
    assert web.requests == []


async def test_private_addresses_are_refused_unless_allowed(database, settings, builtins, web):
    fetching = _fetching(settings, "127.0.0.1", "localhost")
    for url in (web.url + "/", f"http://localhost:{web.port}/"):
        refused = await _refused(database, fetching, builtins, url)
        assert "loopback address" in refused.detail
        assert "BERRYS_TOOLS_FETCH_ALLOW_PRIVATE" in refused.detail
    assert web.requests == []
    async with database.transaction(read_only=True) as session:
        log, _ = await service.get_executions(
            session, limit=10, offset=0, tool_id=uuid.UUID(builtins["http.fetch"])
        )
    assert [entry.outcome for entry in log] == ["DENIED", "DENIED"]

    intranet = _fetching(settings, "127.0.0.1", "localhost", tools_fetch_allow_private=True)
    result = await _fetch(database, intranet, builtins, f"http://localhost:{web.port}/")
    assert result.output["status"] == 200
    assert result.output["content"] == "hello from the test server"


async def test_allow_list_size_limit_and_bad_urls(database, settings, builtins, web):
    fetching = _fetching(
        settings, "127.0.0.1", tools_fetch_allow_private=True, tools_fetch_max_bytes=1000
    )
    big = await _fetch(database, fetching, builtins, web.url + "/big")
    assert big.output["bytes"] == 1000
    assert big.output["truncated"] is True
    refused = await _refused(database, fetching, builtins, "http://localhost:1/")
    assert "allow-list" in refused.detail
    for url in ("ftp://127.0.0.1/", "http://user:pw@127.0.0.1/", "http://[::1/"):
        answer = await _fetch(database, fetching, builtins, url)
        assert answer.is_error is True, url
    unreachable = _fetching(settings, "127.0.0.3", tools_fetch_allow_private=True)
    with pytest.raises(BerrysError) as down:
        await _fetch(database, unreachable, builtins, "http://127.0.0.3:1/")
    assert down.value.status == 503


def test_address_policy():
    refused = {
        "127.0.0.1": "loopback",
        "::1": "loopback",
        "::ffff:127.0.0.1": "loopback",
        "64:ff9b::7f00:1": "loopback",
        "2002:a00:1::": "private",
        "10.1.2.3": "private",
        "192.168.0.1": "private",
        "fd12::1": "private",
        "169.254.10.1": "link-local",
        "fe80::1": "link-local",
        "100.64.0.1": "non-public",
        "0.0.0.0": "unspecified",
        "224.0.0.1": "non-public",
        "169.254.169.254": "cloud metadata",
        "fd00:ec2::254": "cloud metadata",
        "::ffff:169.254.169.254": "cloud metadata",
    }
    for text, reason in refused.items():
        address = ipaddress.ip_address(text)
        assert _egress.refusal(address, allow_private=False) == reason, text
    for text in ("93.184.216.34", "2606:2800:220:1::1"):
        assert _egress.refusal(ipaddress.ip_address(text), allow_private=False) is None
    # An intranet may be allowed; instance metadata (credentials) never.
    assert _egress.refusal(ipaddress.ip_address("10.1.2.3"), allow_private=True) is None
    for text in ("169.254.169.254", "168.63.129.16", "::ffff:169.254.169.254"):
        assert _egress.refusal(ipaddress.ip_address(text), allow_private=True) == "cloud metadata"
    # Nor anything link-local: the ECS task credentials endpoint, other clouds' metadata.
    for text in (
        "169.254.170.2",
        "169.254.0.23",
        "169.254.10.1",
        "fe80::1",
        "::ffff:169.254.170.2",
    ):
        assert _egress.refusal(ipaddress.ip_address(text), allow_private=True) == "link-local", text


@pytest.mark.parametrize(
    "url",
    [
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./computeMetadata/v1/",
        "http://instance-data/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
    ],
)
async def test_metadata_hosts_are_refused_even_with_private_addresses_allowed(
    database, settings, builtins, url
):
    hosts = ["metadata.google.internal", "instance-data", "169.254.170.2"]
    allowing = _fetching(settings, *hosts, tools_fetch_allow_private=True)
    refused = await _refused(database, allowing, builtins, url)
    assert "metadata" in refused.detail or "link-local" in refused.detail


async def test_a_name_is_resolved_once_and_the_checked_address_is_connected(
    database, settings, builtins, public_outside, monkeypatch
):
    """A rebinding resolver answers a public address to the check and loopback to a second
    lookup: there is no second lookup, the connection goes to the address checked."""
    answers = {
        "pinned.test": [[ipaddress.ip_address("127.0.0.2")], [ipaddress.ip_address("127.0.0.1")]],
        "mixed.test": [[ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")]],
    }
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[_egress.IPAddress]:
        lookups.append(host)
        return answers[host].pop(0)

    monkeypatch.setattr(_egress, "resolve", rebinding)
    fetching = _fetching(settings, "pinned.test", "mixed.test")
    url = f"http://pinned.test:{public_outside.port}/host"
    result = await _fetch(database, fetching, builtins, url)
    assert result.output["content"] == f"pinned.test:{public_outside.port}"
    assert lookups == ["pinned.test"]
    # Every address a name resolves to is checked, not only the first.
    refused = await _refused(
        database, fetching, builtins, f"http://mixed.test:{public_outside.port}/"
    )
    assert "127.0.0.1, a loopback address" in refused.detail
    assert public_outside.requests == [("/host", f"pinned.test:{public_outside.port}")]


async def test_every_redirect_hop_is_checked(database, settings, builtins, public_outside, web):
    fetching = _fetching(settings, "127.0.0.2", "127.0.0.1")
    followed = await _fetch(database, fetching, builtins, f"{public_outside.url}/redirect?to=/big")
    assert followed.output["status"] == 200
    assert followed.output["url"] == f"{public_outside.url}/big"
    refused = await _refused(
        database, fetching, builtins, f"{public_outside.url}/redirect?to={web.url}/"
    )
    assert "127.0.0.1" in refused.detail
    assert "loopback address" in refused.detail
    assert web.requests == []
    # A hop to a host off the allow-list is refused too.
    off_list = _fetching(settings, "127.0.0.2")
    refused = await _refused(
        database, off_list, builtins, f"{public_outside.url}/redirect?to=http://localhost/"
    )
    assert "allow-list" in refused.detail
    endless = await _fetch(
        database,
        fetching,
        builtins,
        f"{public_outside.url}/redirect?to=/redirect?to=/redirect?to=/redirect?to="
        "/redirect?to=/redirect?to=/redirect?to=/",
    )
    assert endless.is_error is True
    assert "more than 5 redirects" in str(endless.error)


def test_host_allow_list_patterns():
    assert _egress.host_allowed("docs.example.com", ["*.example.com"])
    assert not _egress.host_allowed("example.com.evil.net", ["*.example.com"])
    assert not _egress.host_allowed("evilexample.com", ["*.example.com"])
    assert _egress.host_allowed("EXAMPLE.com.", ["example.com"])


async def test_http_tool_posts_its_arguments_under_the_fetch_policy(
    database, settings, client, admin, web
):
    created = await client.post(
        "/api/v1/tools",
        json={
            "name": "doubler",
            "source": "HTTP",
            "configuration": {"url": web.url + "/double"},
            "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    tool = uuid.UUID(created.json()["id"])
    for policy in (settings, _fetching(settings, "127.0.0.1")):
        with pytest.raises(BerrysError) as refused:
            await service.ToolInvoker(database, policy).invoke(
                tool_id=tool, arguments={"n": 2}, user=None
            )
        assert refused.value.status == 403
    assert "loopback address" in refused.value.detail
    assert web.requests == []
    intranet = _fetching(settings, "127.0.0.1", tools_fetch_allow_private=True)
    doubled = await service.ToolInvoker(database, intranet).invoke(
        tool_id=tool, arguments={"n": 21}, user=None
    )
    assert doubled.output == {"doubled": 42}
    failed = await service.ToolInvoker(database, intranet).invoke(
        tool_id=tool, arguments={}, user=None
    )
    assert failed.is_error is True
    assert failed.error == "HTTP 400"
