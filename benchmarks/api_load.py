"""Latency and throughput of `berrys serve` on SQLite, load from this (second) process.

Measures GET /api/v1/projects/{id} and POST /api/v1/projects at a constant offered rate
(open loop: requests are sent on schedule whether or not earlier ones finished, so queueing
shows up in the latencies), and the closed-loop maximum throughput. The peer, measured in the
same run on the same machine, is a bare FastAPI + SQLAlchemy app reading the same row from the
same kind of database with no auth, audit or middleware: the floor Berrys' own work sits on.

    python benchmarks/api_load.py --runs 5 --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PASSWORD = "benchmark-password"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server on port {port} did not start")


async def _open_loop(
    client: httpx.AsyncClient, make_request, rate: float, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one(scheduled: float) -> None:
        nonlocal errors
        try:
            response = await make_request(client)
            if response.status_code >= 400:
                errors += 1
        except httpx.HTTPError:
            errors += 1
        # Latency from when the request was due, so client-side queueing is not hidden.
        latencies.append(time.perf_counter() - scheduled)

    tasks = []
    for i in range(total):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": errors,
    }


async def _closed_loop(
    client: httpx.AsyncClient, make_request, concurrency: int, seconds: float
) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await make_request(client)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def _measure(
    base: str, headers: dict[str, str], get_path: str, post: bool, args
) -> dict[str, dict]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def get(c):
            return await c.get(get_path)

        async def create(c):
            return await c.post("/api/v1/projects", json={"name": "bench", "description": "load"})

        await _open_loop(client, get, args.rate, 1.0)  # warm up connections and caches
        results = {"GET": await _open_loop(client, get, args.rate, args.seconds)}
        results["GET"]["max_rps"] = await _closed_loop(client, get, 16, args.seconds / 2)
        if post:
            results["POST"] = await _open_loop(client, create, args.post_rate, args.seconds)
            results["POST"]["max_rps"] = await _closed_loop(client, create, 16, args.seconds / 2)
        return results


def _one_run(args) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "BERRYS_DATA_DIR": data_dir,
            "BERRYS_ADMIN_EMAIL": "bench@example.com",
            "BERRYS_ADMIN_PASSWORD": PASSWORD,
            "BERRYS_LOG_LEVEL": "WARNING",
        }
        port = _free_port()
        server = _start([sys.executable, "-m", "berrys", "serve", "--port", str(port)], env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            token = httpx.post(
                f"{base}/api/v1/auth/login",
                json={"email": "bench@example.com", "password": PASSWORD},
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            project_id = httpx.post(
                f"{base}/api/v1/projects", json={"name": "bench"}, headers=headers
            ).json()["id"]
            berrys = asyncio.run(
                _measure(base, headers, f"/api/v1/projects/{project_id}", True, args)
            )
        finally:
            server.terminate()
            server.wait()

        peer_port = _free_port()
        peer_env = {**env, "PEER_DATABASE": str(Path(data_dir) / "berrys.db")}
        peer = _start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "peer_app:app",
                "--port",
                str(peer_port),
                "--log-level",
                "warning",
            ],
            {**peer_env, "PYTHONPATH": str(HERE)},
            peer_port,
        )
        try:
            base = f"http://127.0.0.1:{peer_port}"
            peer_result = asyncio.run(_measure(base, {}, f"/projects/{project_id}", False, args))
        finally:
            peer.terminate()
            peer.wait()
    return {"berrys": berrys, "peer": peer_result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=500, help="Offered GET requests per second.")
    parser.add_argument("--post-rate", type=float, default=200, help="Offered POSTs per second.")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    runs = [_one_run(args) for _ in range(args.runs)]
    print(
        f"{args.runs} runs, {args.seconds:.0f} s each, GET offered at {args.rate:.0f}/s, "
        f"POST at {args.post_rate:.0f}/s; medians over runs"
    )
    columns = ("rps", "p50 ms", "p99 ms", "max rps")
    print(f"{'server':8} {'request':7}" + "".join(f"{c:>9}" for c in columns) + f"{'errors':>7}")
    for server in ("berrys", "peer"):
        for request in ("GET", "POST"):
            samples = [run[server][request] for run in runs if request in run[server]]
            if not samples:
                continue

            def med(key: str, samples=samples) -> float:
                return statistics.median(sample[key] for sample in samples)

            errors = int(sum(sample["errors"] for sample in samples))
            print(
                f"{server:8} {request:7}{med('rps'):9.0f}{med('p50_ms'):9.2f}{med('p99_ms'):9.2f}"
                f"{med('max_rps'):9.0f}{errors:7d}"
            )


if __name__ == "__main__":
    main()
