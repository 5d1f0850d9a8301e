"""What the server benchmarks share: starting `berrys serve`, reading its processes' CPU and
memory from /proc, and a light HTTP/1.1 client (raw keep-alive sockets, one request in
flight per connection) that leaves two cores almost wholly to the server it measures."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import httpx

PASSWORD = "benchmark-password"
ADMIN_EMAIL = "bench@example.com"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: str, **extra: str) -> dict[str, str]:
    """This environment without any BERRYS_ setting (no configured model: offline drafts),
    a fresh data directory and the benchmark's admin."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BERRYS_")}
    env.update(
        BERRYS_DATA_DIR=data_dir,
        BERRYS_ADMIN_EMAIL=ADMIN_EMAIL,
        BERRYS_ADMIN_PASSWORD=PASSWORD,
        BERRYS_LOG_LEVEL="WARNING",
        # The bundled test model, when installed, would take seconds per answer.
        BERRYS_LOCAL_MODEL_ENABLED="false",
    )
    env.update(extra)
    return env


def start(
    args: list[str], env: dict[str, str], port: int, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a server (its output to ``log``, else nowhere) and wait until /health answers."""
    # A file, not a pipe nobody drains: a full pipe would stall the server.
    out = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server on port {port} did not start")


def login(port: int) -> dict[str, str]:
    """The benchmark admin's bearer token header."""
    token = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        json={"email": ADMIN_EMAIL, "password": PASSWORD},
        timeout=30,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _stat(pid: str) -> list[str] | None:
    try:
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def processes(pid: int) -> list[int]:
    """A process and its children (uvicorn's worker processes)."""
    found = [pid]
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(entry.name)
        if fields is not None and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children."""
    total = 0
    for each in processes(pid):
        fields = _stat(str(each))
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def wait_until_idle(pid: int, timeout: float = 180) -> None:
    """Wait until a server and its processes use under a tenth of a core over a second: what
    it does after it answers /health (each process preparing the catalogue) is not load."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(1.0)  # the window the CPU is measured over
        if cpu_seconds(pid) - before < 0.1:
            return
    raise SystemExit(f"server {pid} was still busy after {timeout:g} s")


def cpu_wait_seconds(pid: int) -> float:
    """How long the threads of a process and its children were ready to run but waited for
    a core (the scheduler's run queue): what other work on the machine costs them."""
    total = 0
    for each in processes(pid):
        for schedstat in Path(f"/proc/{each}/task").glob("*/schedstat"):
            try:
                total += int(schedstat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def rss_bytes(pid: int) -> int:
    """Resident memory of one process."""
    try:
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * PAGE_BYTES
    except OSError:
        return 0


@dataclass(frozen=True)
class Target:
    port: int
    pid: int
    headers: dict[str, str]

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# uvicorn closes a keep-alive connection after 5 s idle; one that a client sends on just as
# the server closes it is reset. Clients' pools retire connections before that, as here.
IDLE_SECONDS = 4.0


class Connections:
    """Keep-alive connections: one request in flight on each, opened as the load needs."""

    def __init__(self, port: int, limit: int) -> None:
        self.port = port
        self.limit = limit
        self.opened = 0
        self.idle: list[tuple[Connection, float]] = []
        self.waiters: deque[asyncio.Future[Connection]] = deque()

    async def take(self) -> Connection:
        while self.idle:
            (reader, writer), since = self.idle.pop()
            if not reader.at_eof() and time.monotonic() - since < IDLE_SECONDS:
                return reader, writer
            writer.close()
            self.opened -= 1
        if self.opened < self.limit:
            self.opened += 1
            return await asyncio.open_connection("127.0.0.1", self.port)
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter

    def give_back(self, connection: Connection) -> None:
        if self.waiters:
            self.waiters.popleft().set_result(connection)
        else:
            self.idle.append((connection, time.monotonic()))

    def close(self) -> None:
        for (_, writer), _ in self.idle:
            writer.close()


async def send(connections: Connections, payload: bytes) -> tuple[int, bytes]:
    """One request on a pooled connection: the status and the body."""
    reader, writer = await connections.take()
    try:
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        length = _CONTENT_LENGTH.search(head)
        body = await reader.readexactly(int(length.group(1)) if length else 0)
    except BaseException:
        # A connection that failed mid-request is not reused; a fresh one replaces it.
        writer.close()
        connections.opened -= 1
        raise
    connections.give_back((reader, writer))
    return int(head[9:12]), body
