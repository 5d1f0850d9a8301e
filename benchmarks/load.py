"""Mixed load on `berrys serve` and its embedded run workers, on SQLite and PostgreSQL.

Starts `berrys serve --workers 2` (two server processes, each with an embedded run worker)
on a fresh data directory, and on a fresh PostgreSQL database it creates and drops, with
no model configured (every deliverable an offline draft: no network). Then 50 clients,
each with its own keep-alive connection, act as people using the REST API with a token:
each picks an action, waits for its answer, thinks for a random while (exponential, mean
``--think``) and picks the next. The actions mix reads (project list, a project, a plan, a
run's status, the audit log), creates (projects), plan generation (the team, then the plan)
and run starts; the runs then go through the workers, and the client that started one
follows it to its end (a read every think time, answering its approvals), as its owner
would.

Per database it reports throughput, p50 and p99 per kind of request and over all, errors
(count and the first few), the server's event-loop lag (from its own /metrics: a tick every
10 ms in each process, ``BERRYS_LOOP_LAG_INTERVAL_SECONDS``), the server processes' resident
memory before and after the measured minute, and its growth over a second minute of the
same load. Latency counts from the request's sending to its answer (closed loop: a slow
answer delays that client's next request, so compare throughput too).

    python benchmarks/load.py --runs 3
    python benchmarks/load.py --quick   # 10 s phases, one run: a check that it all works
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from harness import (
    Connections,
    Target,
    cpu_seconds,
    cpu_wait_seconds,
    free_port,
    login,
    processes,
    rss_bytes,
    send,
    server_env,
    start,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
DESCRIPTIONS = [
    item["text"]
    for item in json.loads((HERE / "data" / "deliverables_descriptions.json").read_text())[
        "descriptions"
    ]
]
# What a client does next, and how often (the reads add up to 85 %).
ACTIONS = {
    "list projects": 0.17,
    "read project": 0.17,
    "read plan": 0.17,
    "read run": 0.17,
    "read audit": 0.17,
    "create project": 0.07,
    "generate plan": 0.04,
    "start run": 0.04,
}
RUN_ENDS = {"COMPLETED", "COMPLETED_WITH_REVIEW", "FAILED", "CANCELLED"}
LAG = "berrys_event_loop_lag_seconds"
LAG_MAX = "berrys_event_loop_lag_max_seconds"
TARGETS = "0 errors; loop-lag p99 < 50 ms; GET p99 < 100 ms; RSS growth < 5 % (second minute)"


@dataclass
class Phase:
    """What one stretch of the load measured."""

    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    """What the clients made so far, for the next actions to use."""

    projects: list[str] = field(default_factory=list)
    fresh: deque[str] = field(default_factory=deque)  # no team or plan yet
    planned: deque[str] = field(default_factory=deque)  # a plan, no run yet
    plans: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)  # run -> project
    active: list[str] = field(default_factory=list)  # runs not ended when last read
    ended: dict[str, str] = field(default_factory=dict)  # run -> its end status
    approvals: int = 0
    answering: set[str] = field(default_factory=set)  # interactions answered or being answered


class Load:
    """The clients, the things they made and what they measured."""

    def __init__(self, target: Target, clients: int, think: float, seed: int) -> None:
        self.target = target
        self.connections = Connections(target.port, limit=clients)
        self.think = think
        self.rng = random.Random(seed)
        self.corpus = Corpus()
        self.phase = Phase()
        self.stopping = False

    async def call(self, kind: str, method: str, path: str, body: Any = None) -> Any:
        """One request, timed and checked; its JSON answer, or None after an error."""
        payload = self.target.request(
            method, path, json.dumps(body).encode() if body is not None else b""
        )
        phase = self.phase
        started = time.perf_counter()
        try:
            status, data = await send(self.connections, payload)
        except (OSError, asyncio.IncompleteReadError) as exc:
            phase.latencies[kind].append(time.perf_counter() - started)
            self._error(phase, kind, f"{type(exc).__name__}: {exc}")
            return None
        phase.latencies[kind].append(time.perf_counter() - started)
        if status >= 400:
            self._error(phase, kind, f"HTTP {status}: {data[:300].decode(errors='replace')}")
            return None
        return json.loads(data) if data else {}

    @staticmethod
    def _error(phase: Phase, kind: str, what: str) -> None:
        phase.errors[kind] += 1
        if len(phase.first_errors) < 5:
            phase.first_errors.append(f"{kind}: {what}")

    async def client(self) -> None:
        names, weights = list(ACTIONS), list(ACTIONS.values())
        # Clients start spread over one think time, not all at once.
        await asyncio.sleep(self.rng.uniform(0, self.think))
        while not self.stopping:
            action = self.rng.choices(names, weights)[0]
            await getattr(self, "_" + action.replace(" ", "_"))()
            await asyncio.sleep(self.rng.expovariate(1 / self.think))

    async def _list_projects(self) -> None:
        await self.call("GET projects", "GET", "/api/v1/projects?limit=20")

    async def _read_project(self) -> None:
        if not self.corpus.projects:
            return await self._list_projects()
        project = self.rng.choice(self.corpus.projects)
        await self.call("GET project", "GET", f"/api/v1/projects/{project}")

    async def _read_plan(self) -> None:
        if not self.corpus.plans:
            return await self._list_projects()
        await self.call("GET plan", "GET", f"/api/v1/plans/{self.rng.choice(self.corpus.plans)}")

    async def _read_audit(self) -> None:
        await self.call("GET audit", "GET", "/api/v1/audit?limit=20")

    async def _read_run(self) -> None:
        corpus = self.corpus
        # Others look at runs too, those going on more than the old ones.
        pool = corpus.active if corpus.active and self.rng.random() < 0.5 else list(corpus.runs)
        if not pool:
            return await self._list_projects()
        await self._follow(self.rng.choice(pool))

    async def _follow(self, run_id: str) -> None:
        """Read a run's status; answer its approvals if it waits for them."""
        corpus = self.corpus
        run = await self.call("GET run", "GET", f"/api/v1/runs/{run_id}")
        if run is None:
            return
        if run["status"] in RUN_ENDS:
            corpus.ended[run_id] = run["status"]
            if run_id in corpus.active:
                corpus.active.remove(run_id)
        elif run["status"] == "AWAITING_INPUT":
            await self._approve(corpus.runs[run_id])

    async def drain(self, within: float) -> float:
        """Follow the runs not ended yet until they end (or ``within`` seconds); how long."""
        started = time.perf_counter()
        while self.corpus.active and time.perf_counter() - started < within:
            for run_id in list(self.corpus.active):
                await self._follow(run_id)
            await asyncio.sleep(0.5)
        return time.perf_counter() - started

    async def _approve(self, project: str) -> None:
        pending = await self.call(
            "GET interactions",
            "GET",
            f"/api/v1/interactions?status=PENDING&type=APPROVAL&project_id={project}",
        )
        for item in (pending or {}).get("items", []):
            # Another client may be answering it already (both saw the run waiting): a
            # second answer would rightly be 409.
            if item["id"] in self.corpus.answering:
                continue
            self.corpus.answering.add(item["id"])
            answered = await self.call(
                "POST respond",
                "POST",
                f"/api/v1/interactions/{item['id']}/respond",
                {"approved": True, "comment": "load benchmark"},
            )
            self.corpus.approvals += answered is not None

    async def _create_project(self) -> str | None:
        description = self.rng.choice(DESCRIPTIONS)
        name = f"{' '.join(description.split()[:4])} {uuid.uuid4().hex[:6]}"
        project = await self.call(
            "POST project", "POST", "/api/v1/projects", {"name": name, "description": description}
        )
        if project is None:
            return None
        self.corpus.projects.append(project["id"])
        self.corpus.fresh.append(project["id"])
        return project["id"]

    async def _generate_plan(self) -> None:
        corpus = self.corpus
        if not corpus.fresh and await self._create_project() is None:
            return
        project = corpus.fresh.popleft()
        path = f"/api/v1/projects/{project}"
        if await self.call("POST team", "POST", f"{path}/agents/generate", {}) is None:
            return
        plan = await self.call("POST plan", "POST", f"{path}/plans", {})
        if plan is not None:
            corpus.plans.append(plan["id"])
            corpus.planned.append(project)

    async def _start_run(self) -> None:
        if not self.corpus.planned:
            return await self._generate_plan()
        project = self.corpus.planned.popleft()
        run = await self.call(
            "POST run",
            "POST",
            f"/api/v1/projects/{project}/runs",
            {"require_plan_approval": False},
        )
        if run is not None:
            self.corpus.runs[run["id"]] = project
            self.corpus.active.append(run["id"])
            await self._watch(run["id"])

    async def _watch(self, run_id: str) -> None:
        """As the person who started it does: read the run every think time, answering its
        approvals, until it ends (or the load stops)."""
        while not self.stopping and run_id in self.corpus.active:
            await asyncio.sleep(self.rng.expovariate(1 / self.think))
            await self._follow(run_id)


class LagReader:
    """The server processes' loop-lag metrics, over a window: each scrape is answered by
    whichever process accepts its connection, so it scrapes until it has heard from all."""

    def __init__(self, port: int, pids: list[int]) -> None:
        self.port = port
        self.pids = {str(pid) for pid in pids}
        self.base: dict[str, dict[float, float]] = {}
        self.window_max: dict[str, float] = {}

    async def _scrape(self) -> tuple[str, dict[float, float], float]:
        connections = Connections(self.port, limit=1)  # a new connection: any process
        try:
            _, body = await send(
                connections,
                Target(self.port, 0, {"Connection": "close"}).request("GET", "/metrics"),
            )
        finally:
            connections.close()
        buckets: dict[float, float] = {}
        largest, pid = 0.0, ""
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == f"{LAG}_bucket":
                    buckets[float(sample.labels["le"])] = sample.value
                    pid = sample.labels["pid"]
                elif sample.name == LAG_MAX:
                    largest = sample.value
        return pid, buckets, largest

    async def _scrape_all(self) -> dict[str, dict[float, float]]:
        """Every process's histogram, as far as it can be reached: rounds of scrapes on
        several new connections at once (an idle process may win every accept)."""
        latest: dict[str, dict[float, float]] = {}
        for _ in range(40):
            for pid, buckets, largest in await asyncio.gather(*(self._scrape() for _ in range(4))):
                if buckets.get(float("inf"), 0) >= latest.get(pid, {}).get(float("inf"), -1):
                    latest[pid] = buckets
                self.window_max[pid] = max(self.window_max.get(pid, 0.0), largest)
            if self.pids <= latest.keys():
                break
        return latest

    async def begin(self) -> None:
        self.base = await self._scrape_all()
        self.window_max = {}

    async def end(self) -> dict[str, float]:
        latest = await self._scrape_all()
        measured = sorted(self.base.keys() & latest.keys())
        if len(measured) < len(self.pids):
            print(f"  loop lag of {len(measured)} of {len(self.pids)} processes only", flush=True)
        merged: Counter[float] = Counter()
        for pid in measured:
            for bound, count in latest[pid].items():
                merged[bound] += count - self.base[pid].get(bound, 0.0)
        return {
            "processes": len(measured),
            "ticks": merged[float("inf")],
            "p50_ms": _histogram_quantile(merged, 0.5) * 1000,
            "p99_ms": _histogram_quantile(merged, 0.99) * 1000,
            "max_ms": max((self.window_max.get(pid, 0.0) for pid in measured), default=0) * 1000,
        }


def _histogram_quantile(cumulative: Counter[float], q: float) -> float:
    """As Prometheus' histogram_quantile: linear within the bucket the rank falls in."""
    bounds = sorted(cumulative)
    rank = q * cumulative[float("inf")]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if cumulative[bound] >= rank:
            if bound == float("inf"):
                return lower  # beyond the last bucket: its bound is all one can say
            share = (rank - below) / (cumulative[bound] - below) if cumulative[bound] > below else 0
            return lower + (bound - lower) * share
        lower, below = bound, cumulative[bound]
    return lower


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0.0


def _workers(server_pid: int) -> list[int]:
    """uvicorn's worker processes (not its supervisor nor multiprocessing's tracker)."""
    found = []
    for pid in processes(server_pid)[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(pid)
    return found


def _summary(phase: Phase, seconds: float) -> dict[str, Any]:
    every = [value for values in phase.latencies.values() for value in values]
    gets = [
        value
        for kind, values in phase.latencies.items()
        if kind.startswith("GET")
        for value in values
    ]
    return {
        "requests": len(every),
        "rps": len(every) / seconds,
        "p50_ms": _percentile(every, 0.5),
        "p99_ms": _percentile(every, 0.99),
        "get_p99_ms": _percentile(gets, 0.99),
        "errors": phase.errors.total(),
        "first_errors": phase.first_errors,
        "kinds": {
            kind: {
                "count": len(values),
                "p50_ms": _percentile(values, 0.5),
                "p99_ms": _percentile(values, 0.99),
                "errors": phase.errors[kind],
            }
            for kind, values in sorted(phase.latencies.items())
        },
    }


async def _drive(target: Target, workers: list[int], args: argparse.Namespace) -> dict[str, Any]:
    load = Load(target, args.clients, args.think, args.seed)
    lag = LagReader(target.port, workers)
    await lag.begin()
    rss_start = sum(rss_bytes(pid) for pid in workers)
    # Each process loads the catalogue and its embedder on its first team: start several
    # flows at once on their own connections, so that both processes get some.
    await asyncio.gather(*(load._start_run() for _ in range(2 * len(workers))))
    clients = [asyncio.create_task(load.client()) for _ in range(args.clients)]
    await asyncio.sleep(args.warmup)
    if load.phase.errors:
        print(f"  warm-up errors: {load.phase.first_errors}", flush=True)

    results: dict[str, Any] = {}
    rss_before = {pid: rss_bytes(pid) for pid in workers}
    results["warmup_lag"] = await lag.end()
    for name in ("measured", "second"):
        load.phase = Phase()
        await lag.begin()
        cpu, server_cpu, started = time.process_time(), cpu_seconds(target.pid), time.perf_counter()
        server_wait = cpu_wait_seconds(target.pid)
        async with _profiling(args.profile, workers, args.seconds, name):
            await asyncio.sleep(args.seconds)
        elapsed = time.perf_counter() - started
        phase = load.phase
        results[name] = _summary(phase, elapsed)
        results[name]["lag"] = await lag.end()
        results[name]["server_cpu"] = (cpu_seconds(target.pid) - server_cpu) / elapsed
        results[name]["server_wait"] = (cpu_wait_seconds(target.pid) - server_wait) / elapsed
        results[name]["load_average"] = os.getloadavg()[0]
        results[name]["client_cpu"] = (time.process_time() - cpu) / elapsed
        results[name]["rss_mb"] = sum(rss_bytes(pid) for pid in workers) / 1e6
    load.stopping = True
    await asyncio.gather(*clients)
    corpus = load.corpus
    ended_under_load = len(corpus.ended)
    load.phase = Phase()
    drained = await load.drain(args.drain)
    load.connections.close()
    results["drain_errors"] = load.phase.first_errors
    results["rss_start_mb"] = rss_start / 1e6
    results["rss_before_mb"] = sum(rss_before.values()) / 1e6
    results["rss_growth"] = results["second"]["rss_mb"] / results["measured"]["rss_mb"] - 1
    results["runs"] = {
        "started": len(corpus.runs),
        "ended_under_load": ended_under_load,
        "ended": dict(Counter(corpus.ended.values())),
        "unfinished": len(corpus.active),
        "drain_seconds": drained,
        "approvals": corpus.approvals,
        "projects": len(corpus.projects),
        "plans": len(corpus.plans),
    }
    return results


@asynccontextmanager
async def _profiling(
    directory: Path | None, pids: list[int], seconds: float, name: str
) -> AsyncIterator[None]:
    """py-spy on each server process for the phase (collapsed stacks, one file each)."""
    if directory is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    spies = [
        await asyncio.create_subprocess_exec(
            *(spy, "record", "--pid", str(pid), "--duration", str(int(seconds))),
            *("--rate", "50", "--format", "raw", "--nonblocking"),
            *("--output", str(directory / f"{name}-{pid}.txt")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]
    try:
        yield
    finally:
        for process in spies:
            await process.wait()


@contextmanager
def _database(kind: str, base_url: str) -> Iterator[str | None]:
    """None for SQLite (the data directory's own); a fresh PostgreSQL database, dropped after."""
    if kind == "sqlite":
        yield None
        return
    url = make_url(base_url)
    name = f"berrys_load_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(f'DROP DATABASE "{name}" WITH (FORCE)'))


def _one_run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data_dir, _database(kind, args.pg_url) as url:
        extra = {"BERRYS_LOOP_LAG_INTERVAL_SECONDS": "0.01"}
        if url:
            extra["BERRYS_DATABASE_URL"] = url
        port = free_port()
        command = [sys.executable, "-m", "berrys", "serve", "--port", str(port)]
        command += ["--workers", str(args.workers), "--migrate"]
        log = Path(data_dir) / "serve.log"
        server = start(command, server_env(data_dir, **extra), port, log)
        try:
            workers = _workers(server.pid)
            target = Target(port, server.pid, login(port))
            results = uvloop.run(_drive(target, workers, args))
        finally:
            server.terminate()
            server.wait()
            if "Traceback" in log.read_text(errors="replace"):
                kept = Path(tempfile.gettempdir()) / f"berrys-load-{kind}-{int(time.time())}.log"
                shutil.copy(log, kept)
                print(f"  the server logged errors: {kept}", flush=True)
    results["load_average"] = load_average
    return results


def _median(runs: list[dict[str, Any]], *keys: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in keys:
            value = value.get(key, 0.0) if isinstance(value, dict) else 0.0
        values.append(value)
    return statistics.median(values)


def _report(kind: str, runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    def med(*keys: str) -> float:
        return _median(runs, *keys)

    starts = ", ".join(f"{run['load_average']:.1f}" for run in runs)
    print(f"\n== {kind}: {len(runs)} run(s), medians; 1-minute load average at starts: {starts}")
    kinds = sorted({name for run in runs for name in run["measured"]["kinds"]})
    print(f"{'request':18}{'count':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name in kinds:
        print(
            f"{name:18}{med('measured', 'kinds', name, 'count'):8.0f}"
            f"{med('measured', 'kinds', name, 'p50_ms'):9.1f}"
            f"{med('measured', 'kinds', name, 'p99_ms'):9.1f}"
            f"{med('measured', 'kinds', name, 'errors'):8.0f}"
        )
    print(
        f"{'all':18}{med('measured', 'requests'):8.0f}{med('measured', 'p50_ms'):9.1f}"
        f"{med('measured', 'p99_ms'):9.1f}{med('measured', 'errors'):8.0f}"
    )
    print(
        f"throughput {med('measured', 'rps'):.0f} req/s; "
        f"GET p99 {med('measured', 'get_p99_ms'):.1f} ms; "
        f"loop lag p50 {med('measured', 'lag', 'p50_ms'):.1f} ms, p99 "
        f"{med('measured', 'lag', 'p99_ms'):.1f} ms, max {med('measured', 'lag', 'max_ms'):.0f} ms"
        f" (warm-up max {med('warmup_lag', 'max_ms'):.0f} ms); second minute: "
        f"{med('second', 'rps'):.0f} req/s, GET p99 {med('second', 'get_p99_ms'):.1f} ms, lag "
        f"p99 {med('second', 'lag', 'p99_ms'):.1f} ms"
    )
    print(
        f"RSS of the {args.workers} server processes: {med('rss_start_mb'):.0f} MB at start, "
        f"{med('rss_before_mb'):.0f} MB after warm-up, "
        f"{med('measured', 'rss_mb'):.0f} MB after the measured minute, "
        f"{med('second', 'rss_mb'):.0f} MB after the second ({med('rss_growth'):+.1%})"
    )
    print(
        f"server CPU {med('measured', 'server_cpu'):.2f} cores (its threads waited "
        f"{med('measured', 'server_wait'):.2f} s/s for a core), clients' CPU "
        f"{med('measured', 'client_cpu'):.2f} cores; runs started "
        f"{med('runs', 'started'):.0f}, ended under load {med('runs', 'ended_under_load'):.0f}, "
        f"the rest {med('runs', 'drain_seconds'):.0f} s after the load "
        f"({med('runs', 'unfinished'):.0f} not ended), approvals answered "
        f"{med('runs', 'approvals'):.0f}"
    )
    for index, run in enumerate(runs, 1):
        measured = run["measured"]
        print(
            f"  run {index} (load {run['load_average']:.1f} -> {measured['load_average']:.1f} -> "
            f"{run['second']['load_average']:.1f}, waited {measured['server_wait']:.2f} s/s): "
            f"{measured['rps']:.0f} req/s, p99 {measured['p99_ms']:.0f} ms, GET "
            f"p99 {measured['get_p99_ms']:.0f} ms, lag p99 {measured['lag']['p99_ms']:.1f} / max "
            f"{measured['lag']['max_ms']:.0f} ms, RSS {run['rss_growth']:+.1%}, errors "
            f"{measured['errors'] + run['second']['errors']}, runs {run['runs']}"
        )
        errors = measured["first_errors"] + run["second"]["first_errors"]
        for error in errors + [f"after the load: {e}" for e in run["drain_errors"]]:
            print(f"    {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--pg-url",
        default="postgresql+asyncpg://berrys:berrys@127.0.0.1:5432",
        help="A PostgreSQL server and a role that may create databases.",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60, help="Each of the two phases.")
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--think", type=float, default=1.0, help="Mean seconds between actions.")
    parser.add_argument("--workers", type=int, default=2, help="berrys serve --workers.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--drain", type=float, default=120, help="Seconds to wait for the runs after the load."
    )
    parser.add_argument("--quick", action="store_true", help="10 s phases, 5 s warm-up, 1 run.")
    parser.add_argument("--profile", type=Path, help="py-spy each server process into DIR.")
    parser.add_argument("--json", type=Path, help="Also write every run's numbers here.")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.runs = 10, 5, 1
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    print(
        f"{args.clients} clients, think {args.think:g} s, phases of {args.seconds:g} s after "
        f"{args.warmup:g} s warm-up, berrys serve --workers {args.workers}, {os.cpu_count()} "
        f"cores; targets: {TARGETS}",
        flush=True,
    )
    everything: dict[str, list[dict[str, Any]]] = {}
    for kind in args.databases:
        for index in range(args.runs):
            print(f"{kind} run {index + 1}...", flush=True)
            everything.setdefault(kind, []).append(_one_run(kind, args))
        _report(kind, everything[kind], args)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
