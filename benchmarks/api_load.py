"""Latency and throughput of `berrys serve` on SQLite, load from this (second) process.

Measures GET /api/v1/projects/{id} and POST /api/v1/projects at a constant offered rate
(open loop: each request is sent when it is due whether or not earlier ones finished, and
its latency counts from when it was due, so queueing anywhere shows up), and the
closed-loop maximum throughput with wrk. The peer, measured in the same run on the same
machine, is a bare FastAPI + SQLAlchemy app reading the same row from the same kind of
database with no auth, audit or middleware: the floor Berrys' own work sits on.

The open-loop generator is raw HTTP/1.1 over keep-alive sockets on uvloop, light enough
that on two cores it does not starve the server it measures; its own CPU share is
printed (``gen cpu``), as is the server's CPU time per request (``srv ms``), which
depends far less on whatever else the machine is running than latency does.

    python benchmarks/api_load.py --runs 3 --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvloop
from harness import (
    Connections,
    Target,
    cpu_seconds,
    free_port,
    login,
    send,
    server_env,
    start,
    wait_until_idle,
)

HERE = Path(__file__).resolve().parent


async def _open_loop(target: Target, payload: bytes, rate: float, seconds: float) -> dict[str, Any]:
    connections = Connections(target.port, limit=256)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    interval = 1.0 / rate
    total = int(rate * seconds)

    async def one(due: float) -> None:
        try:
            status, _ = await send(connections, payload)
            if status >= 400:
                errors[f"HTTP {status}"] += 1
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors[type(exc).__name__] += 1
        latencies.append(time.perf_counter() - due)

    tasks: list[asyncio.Task[None]] = []
    cpu_before, server_before = time.process_time(), cpu_seconds(target.pid)
    start = time.perf_counter()
    for i in range(total):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    generator_cpu = time.process_time() - cpu_before
    server_cpu = cpu_seconds(target.pid) - server_before
    connections.close()
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": errors,
        "server_ms": server_cpu / total * 1000,
        "generator_cpu": generator_cpu / elapsed,
    }


_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_BAD = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def _closed_loop(
    target: Target, method: str, path: str, body: str, connections: int, seconds: float
) -> tuple[float, Counter[str]]:
    """wrk's requests per second (connections each with one request in flight) and errors."""
    headers = dict(target.headers)
    if body:
        headers["Content-Type"] = "application/json"
    script = "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items())
    script += f'wrk.method = "{method}"\n' + (f"wrk.body = '{body}'\n" if body else "")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                lua.name,
                f"http://127.0.0.1:{target.port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    errors: Counter[str] = Counter()
    if bad := _WRK_BAD.search(output):
        errors["wrk non-2xx"] = int(bad.group(1))
    if socket_errors := _WRK_SOCKET.search(output):
        for kind, count in zip(
            ("connect", "read", "write", "timeout"), socket_errors.groups(), strict=True
        ):
            errors[f"wrk {kind}"] = int(count)
    return float(_WRK_RPS.search(output).group(1)), +errors


def _measure(target: Target, get_path: str, post_path: str | None, args) -> dict[str, dict]:
    body = '{"name": "bench", "description": "load"}'

    async def open_loops() -> dict[str, dict]:
        get = target.request("GET", get_path)
        await _open_loop(target, get, args.rate, 1.0)  # warm up connections and caches
        results = {"GET": await _open_loop(target, get, args.rate, args.seconds)}
        if post_path:
            post = target.request("POST", post_path, body.encode())
            results["POST"] = await _open_loop(target, post, args.post_rate, args.seconds)
        return results

    results = uvloop.run(open_loops())
    half = args.seconds / 2
    rps, errors = _closed_loop(target, "GET", get_path, "", args.connections, half)
    results["GET"].update(max_rps=rps, errors=results["GET"]["errors"] + errors)
    if post_path:
        rps, errors = _closed_loop(target, "POST", post_path, body, args.connections, half)
        results["POST"].update(max_rps=rps, errors=results["POST"]["errors"] + errors)
    return results


def _one_run(args) -> dict[str, Any]:
    # Latency depends on whatever else the machine runs: each run notes the load it began at.
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data_dir:
        env = server_env(data_dir)
        port = free_port()
        command = [sys.executable, "-m", "berrys", "serve", "--port", str(port)]
        server = start([*command, "--workers", str(args.workers)], env, port)
        try:
            wait_until_idle(server.pid)
            base = f"http://127.0.0.1:{port}"
            headers = login(port)
            project_id = httpx.post(
                f"{base}/api/v1/projects", json={"name": "bench"}, headers=headers
            ).json()["id"]
            target = Target(port, server.pid, headers)
            berrys = _measure(target, f"/api/v1/projects/{project_id}", "/api/v1/projects", args)
        finally:
            server.terminate()
            server.wait()

        peer_port = free_port()
        peer_env = {**env, "PEER_DATABASE": str(Path(data_dir) / "berrys.db")}
        peer = start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "peer_app:app",
                "--port",
                str(peer_port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--workers",
                str(args.workers),
            ],
            {**peer_env, "PYTHONPATH": str(HERE)},
            peer_port,
        )
        try:
            target = Target(peer_port, peer.pid, {})
            peer_result = _measure(target, f"/projects/{project_id}", None, args)
        finally:
            peer.terminate()
            peer.wait()
    return {"berrys": berrys, "peer": peer_result, "load": load}


def _report(runs: list[dict[str, Any]], args, loads: tuple[float, ...]) -> None:
    print(
        f"{args.runs} runs, {args.seconds:.0f} s each, GET offered at {args.rate:.0f}/s, "
        f"POST at {args.post_rate:.0f}/s, max rps by wrk with {args.connections} connections, "
        f"berrys with {args.workers} worker(s); medians over runs; "
        f"load average before: {' '.join(f'{x:.2f}' for x in loads)}"
    )
    columns = ("rps", "p50 ms", "p99 ms", "max rps", "srv ms", "gen cpu")
    print(f"{'server':8} {'request':7}" + "".join(f"{c:>9}" for c in columns) + f"{'errors':>7}")
    for server in ("berrys", "peer"):
        for request in ("GET", "POST"):
            samples = [run[server][request] for run in runs if request in run[server]]
            if not samples:
                continue

            def med(key: str, samples=samples) -> float:
                return statistics.median(sample[key] for sample in samples)

            errors = sum((sample["errors"] for sample in samples), Counter())
            print(
                f"{server:8} {request:7}{med('rps'):9.0f}{med('p50_ms'):9.2f}{med('p99_ms'):9.2f}"
                f"{med('max_rps'):9.0f}{med('server_ms'):9.2f}{med('generator_cpu'):9.0%}"
                f"{errors.total():7d}  {' '.join(f'{k}: {n}' for k, n in errors.items())}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=500, help="Offered GET requests per second.")
    parser.add_argument("--post-rate", type=float, default=200, help="Offered POSTs per second.")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections.")
    parser.add_argument("--workers", type=int, default=1, help="berrys serve --workers.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the closed-loop maximum: apt-get install wrk")

    loads = os.getloadavg()
    runs = [_one_run(args) for _ in range(args.runs)]
    _report(runs, args, loads)
    starts = ", ".join(f"{run['load']:.2f}" for run in runs)
    print(f"1-minute load average at each run's start: {starts}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
