"""Outgoing HTTP for the fetch tool and HTTP tools: allow-listed hosts only, and no private
or loopback address unless an operator allows private ones; link-local addresses (where
cloud metadata and container credential endpoints live) and cloud-metadata hosts never.

A host name is resolved once per request, every address it resolves to is checked, and the
connection goes to a checked address (the URL's host is replaced by it; the Host header and
TLS SNI keep the name), so a DNS answer that changes between check and connect (rebinding)
cannot steer the request elsewhere. Redirects are followed one hop at a time, each hop
checked like the first. The URL is parsed once, by httpx, for both the check and the
request: a second parser could read a different host out of a crafted URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from berrys.config import Settings
from berrys.core.errors import PolicyDenied, Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 5
# Cloud instance metadata hands out credentials: refused even when private addresses are
# allowed. Most of it is link-local (AWS, GCP, Azure IMDS at 169.254.169.254, the ECS task
# endpoint at 169.254.170.2, Tencent at 169.254.0.23...): the whole link-local ranges
# (169.254.0.0/16, fe80::/10) are refused always. These are the known ones elsewhere:
# Azure's wire server, Alibaba, Oracle's legacy address, AWS over IPv6 (and the usual
# link-local one, named as what it is).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",
        "168.63.129.16",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
    )
)
# Names of metadata services, refused before any resolution (whatever they resolve to).
METADATA_HOSTS = frozenset(
    (
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.packet.net",
        "metadata.platformequinix.com",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64): the one actually reached."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be reached (a short description), or None when it may."""
    address = _embedded_ipv4(address)
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if address.is_link_local:
        return "link-local"
    if allow_private or (address.is_global and not address.is_multicast):
        return None
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_private:
        return "private"
    return "non-public"


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order of preference."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Unprocessable(f"cannot resolve {host!r}: {exc.strerror}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def _pinned(url: httpx.URL, settings: Settings) -> tuple[httpx.URL, dict[str, Any]]:
    """Check ``url`` under the policy: the URL to request (a checked address in place of
    the name) and the request's extensions."""
    if url.scheme not in ("http", "https") or not url.host:
        raise Unprocessable("only http:// and https:// URLs with a host can be fetched")
    if url.userinfo:
        raise Unprocessable("credentials in the URL are refused")
    if not host_allowed(url.host, settings.tools_fetch_allowed_hosts):
        raise PolicyDenied(
            f"host {url.host!r} is not in the fetch allow-list (BERRYS_TOOLS_FETCH_ALLOWED_HOSTS)"
        )
    name = url.raw_host.decode("ascii")
    if name.lower().rstrip(".") in METADATA_HOSTS:
        raise PolicyDenied(f"{url.host!r} is a cloud metadata service, which tools never reach")
    addresses = await resolve(name, url.port or (443 if url.scheme == "https" else 80))
    if not addresses:
        raise Unprocessable(f"{url.host!r} resolves to no address")
    for address in addresses:
        reason = refusal(address, allow_private=settings.tools_fetch_allow_private)
        if reason is not None:
            raise PolicyDenied(
                f"{url.host!r} resolves to {address}, a {reason} address, which tools may not "
                "reach (private and loopback addresses need BERRYS_TOOLS_FETCH_ALLOW_PRIVATE; "
                "link-local and metadata addresses are never reached)",
                address=str(address),
            )
    extensions: dict[str, Any] = {"sni_hostname": name} if url.scheme == "https" else {}
    return url.copy_with(host=str(addresses[0])), extensions


async def check(url: str, settings: Settings) -> None:
    """Raise PolicyDenied (or Unprocessable) unless ``url`` may be reached under the policy."""
    await _pinned(httpx.URL(url), settings)


@asynccontextmanager
async def request(
    method: str,
    url: str,
    *,
    settings: Settings,
    timeouts: httpx.Timeout | float,
    json: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    follow_redirects: bool = False,
) -> AsyncIterator[tuple[httpx.Response, str]]:
    """Send one request under the fetch policy: the streamed response and the URL it came
    from (the last hop's, by name). Raises PolicyDenied or Unprocessable before any
    connection to a refused URL, and httpx's errors when the request fails."""
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise Unprocessable(f"not a valid URL: {exc}") from None
    sent = {"User-Agent": "berrys-fetch/0.1", **(headers or {})}
    # No proxies from the environment: a proxy would connect to the name, not the address.
    async with httpx.AsyncClient(timeout=timeouts, follow_redirects=False, trust_env=False) as http:
        for _ in range(MAX_REDIRECTS + 1):
            target, extensions = await _pinned(current, settings)
            outgoing = http.build_request(
                method,
                target,
                headers={**sent, "Host": current.netloc.decode("ascii")},
                json=json,
                content=content,
                extensions=extensions,
            )
            response = await http.send(outgoing, stream=True)
            if not (follow_redirects and response.has_redirect_location):
                try:
                    yield response, str(current)
                finally:
                    await response.aclose()
                return
            await response.aclose()
            try:
                current = current.join(response.headers["location"])
            except httpx.InvalidURL as exc:
                raise Unprocessable(f"redirect to an invalid URL: {exc}") from None
        raise Unprocessable(f"more than {MAX_REDIRECTS} redirects from {url}")


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more: never the whole of
    an unbounded answer in memory."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False
