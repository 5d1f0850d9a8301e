"""Run events on PostgreSQL: from an event's commit to SSE clients on two `berrys serve` replicas.

This process commits a run's events one at a time (as a worker does), each after a random
pause of 0-200 ms, while ``--clients`` SSE clients (half on each replica) follow the run; an
event's latency is from its commit returning to a client reading it. Then ``--idle`` clients
follow a quiet run for ``--idle-seconds``: the database's transactions per second and the
servers' CPU say what waiting costs. The servers run the code on ``--server-pythonpath``
(default: this one), so an older checkout is measured the same way. A scratch database of
the server of ``--database-url`` is created and dropped.

    python benchmarks/run_events.py --database-url postgresql+asyncpg://berrys:berrys@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from harness import cpu_seconds, free_port, login, server_env, start
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from berrys.core.db import Database
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunEventType, TaskSpec


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    name = f"berrys_bench_events_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class Clients:
    """SSE clients following one run: when each read each event (by seq)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.read_at: dict[int, list[float]] = defaultdict(list)
        self.everyone_has: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.connected = 0
        self.all_connected = asyncio.Event()

    async def follow(self, base: str, run_id: uuid.UUID, headers: dict[str, str]) -> None:
        url = f"{base}/api/v1/runs/{run_id}/events"
        async with (
            httpx.AsyncClient(timeout=None) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            self.connected += 1
            if self.connected == self.count:
                self.all_connected.set()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    seq = json.loads(line[6:]).get("seq")
                    self.read_at[seq].append(time.monotonic())
                    if len(self.read_at[seq]) == self.count:
                        self.everyone_has[seq].set()


async def _new_run(database: Database, project_id: uuid.UUID) -> tuple[uuid.UUID, int]:
    async with database.transaction() as session:
        run = await runs.create(
            session, project_id=project_id, tasks=[TaskSpec(key="a", name="a")], dependencies=[]
        )
        last = (await runs.read_events(session, run_id=run.id))[-1]["seq"]
    return run.id, last


async def latency(
    database: Database,
    project_id: uuid.UUID,
    urls: list[str],
    headers: dict[str, str],
    args: argparse.Namespace,
) -> list[float]:
    run_id, seq = await _new_run(database, project_id)
    clients = Clients(args.clients)
    following = [
        asyncio.create_task(clients.follow(urls[n % len(urls)], run_id, headers))
        for n in range(args.clients)
    ]
    await asyncio.wait_for(clients.all_connected.wait(), 60)
    await asyncio.wait_for(clients.everyone_has[seq].wait(), 60)
    latencies: list[float] = []
    for stage in range(args.events):
        # Events come when work ends, not on the servers' clock: a random moment.
        await asyncio.sleep(random.uniform(0, 0.2))
        async with database.transaction() as session:
            await runs.add_events(
                session, run_id=run_id, events=[(RunEventType.WORKFLOW_STAGE, {"stage": stage})]
            )
        committed = time.monotonic()
        seq += 1
        await asyncio.wait_for(clients.everyone_has[seq].wait(), 30)
        latencies.extend(read - committed for read in clients.read_at[seq])
    for task in following:
        task.cancel()
    await asyncio.gather(*following, return_exceptions=True)
    return latencies


async def idle_cost(
    database: Database,
    project_id: uuid.UUID,
    urls: list[str],
    headers: dict[str, str],
    args: argparse.Namespace,
    servers: list[int],
) -> tuple[float, float]:
    """Transactions per second of the database and server CPU (% of a core) while ``--idle``
    clients wait on a quiet run."""
    run_id, _ = await _new_run(database, project_id)
    clients = Clients(args.idle)
    following = [
        asyncio.create_task(clients.follow(urls[n % len(urls)], run_id, headers))
        for n in range(args.idle)
    ]
    await asyncio.wait_for(clients.all_connected.wait(), 60)
    count = text(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database "
        "WHERE datname = current_database()"
    )
    async with database.engine.connect() as connection:
        before = (await connection.execute(count)).scalar_one()
        cpu_before = sum(cpu_seconds(pid) for pid in servers)
        started = time.monotonic()
        # The quiet period being measured: nothing happens on the run meanwhile.
        await asyncio.sleep(args.idle_seconds)
        elapsed = time.monotonic() - started
        cpu = sum(cpu_seconds(pid) for pid in servers) - cpu_before
        await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        after = (await connection.execute(count)).scalar_one()
    for task in following:
        task.cancel()
    await asyncio.gather(*following, return_exceptions=True)
    return (after - before) / elapsed, 100 * cpu / elapsed


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    async with scratch_database(args.database_url) as url:
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "berrys", "db", "upgrade"],
            env=_env(args, tempfile.mkdtemp(), url),
            capture_output=True,
            text=True,
        )
        if migrate.returncode:
            raise SystemExit(migrate.stdout + migrate.stderr)
        ports = [free_port() for _ in range(2)]
        servers = [
            start(
                [sys.executable, "-m", "berrys", "serve", "--port", str(port)],
                _env(args, tempfile.mkdtemp(), url),
                port,
            )
            for port in ports
        ]
        database = Database(url)
        try:
            await _measure(database, [f"http://127.0.0.1:{port}" for port in ports], servers, args)
        finally:
            await database.dispose()
            for server in servers:
                server.terminate()
                server.wait(30)


def _env(args: argparse.Namespace, data_dir: str, url: str) -> dict[str, str]:
    env = server_env(data_dir, BERRYS_DATABASE_URL=url, BERRYS_WORKER_EMBEDDED="false")
    if args.server_pythonpath:
        env["PYTHONPATH"] = args.server_pythonpath
    return env


async def _measure(
    database: Database,
    urls: list[str],
    servers: list[subprocess.Popen[bytes]],
    args: argparse.Namespace,
) -> None:
    headers = login(int(urls[0].rsplit(":", 1)[1]))
    async with httpx.AsyncClient(base_url=urls[0], headers=headers) as http:
        project = (await http.post("/api/v1/projects", json={"name": "events"})).json()
    project_id = uuid.UUID(project["id"])
    latencies = await latency(database, project_id, urls, headers, args)
    tps, cpu = await idle_cost(database, project_id, urls, headers, args, [s.pid for s in servers])
    ms = [value * 1000 for value in latencies]
    print(
        f"{args.events} events x {args.clients} clients on {len(urls)} replicas: latency ms "
        f"min {min(ms):.1f}  median {statistics.median(ms):.1f}  mean {statistics.mean(ms):.1f}  "
        f"p90 {_percentile(ms, 0.9):.1f}  p99 {_percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )
    print(
        f"{args.idle} idle clients for {args.idle_seconds:.0f} s: {tps:.0f} transactions/s, "
        f"servers' CPU {cpu:.0f} % of a core"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="any database of the server")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--idle", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--server-pythonpath", help="the servers' code (e.g. an older src/)")
    asyncio.run(main(parser.parse_args()))
