"""A warm MCP tool call through Berrys against the raw MCP SDK client, same server program.

Three ways to call ``get_current_time`` on ``mcp-server-time`` (each its own warm stdio
session), in alternating blocks of 50 calls so that drift hits all three alike:

* raw: the official SDK's ``Client.session.call_tool`` held open by this script;
* pool: Berrys' MCP client (``ToolInvoker.mcp.call_tool``): session lookup,
  timeout, error mapping;
* invoke: the whole governed call (``berrys.services.tools.service.ToolInvoker``): the cached
  tool definition, JSON-schema validation (a compiled validator per tool version), policy,
  the MCP call, the output cap and the ``tool_execution`` entry committed before the call
  returns (one INSERT; a trigger counts the tool's use in the same statement;
  ``invoke_with_log`` is the block's mean per call). On SQLite in WAL.

Wall-clock latency moves with the machine's load; the CPU columns (this process, all its
threads, per call) much less.
Each run prints the 1-minute load average before and after it.

Usage: python benchmarks/tools_mcp_overhead.py [--calls 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.tools import service
from berrys.services.tools._mcp import McpServerSpec
from berrys.services.tools._registry import get_server_row
from berrys.services.tools.contracts import McpServerCreate

ARGS = {"timezone": "UTC"}
COLUMNS = ("raw", "pool", "invoke", "invoke_with_log", "raw_cpu", "pool_cpu", "invoke_cpu")


async def run(calls: int, data_dir: Path) -> dict[str, list[float]]:
    settings = Settings(data_dir=data_dir, _env_file=None)
    database = Database(settings.resolved_database_url)
    await migrate.upgrade(database)
    async with database.transaction() as session:
        server = await service.create_server(
            session,
            server_in=McpServerCreate(
                name="time", command=sys.executable, args=["-m", "mcp_server_time"]
            ),
            user=None,
        )
    invoker = service.ToolInvoker(database, settings)
    pool = invoker.mcp  # the invoker's own sessions: "pool" measures them without the invoker
    await service.refresh_server(invoker, server_id=server.id, user=None)
    async with database.transaction(read_only=True) as session:
        tool = await service.get_by_name(session, name="time.get_current_time")
        spec = McpServerSpec.of(await get_server_row(session, server.id))
    assert tool is not None

    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server_time"])
    samples: dict[str, list[float]] = {name: [] for name in COLUMNS}
    with tempfile.TemporaryFile() as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="auto", cache=None) as raw:
            for _ in range(50):  # warm all three paths
                await raw.session.call_tool("get_current_time", ARGS)
                await pool.call_tool(spec, "get_current_time", ARGS)
                await invoker.invoke(tool_id=tool.id, arguments=ARGS, user=None)
            # Blocks of 50 calls each, in turn, so that drift hits the three alike.
            block = 50
            for _ in range(max(1, calls // block)):
                cpu = time.process_time()
                for _ in range(block):
                    started = time.perf_counter()
                    await raw.session.call_tool("get_current_time", ARGS)
                    samples["raw"].append(time.perf_counter() - started)
                samples["raw_cpu"].append((time.process_time() - cpu) / block)
                cpu = time.process_time()
                for _ in range(block):
                    started = time.perf_counter()
                    await pool.call_tool(spec, "get_current_time", ARGS)
                    samples["pool"].append(time.perf_counter() - started)
                samples["pool_cpu"].append((time.process_time() - cpu) / block)
                cpu = time.process_time()
                block_started = time.perf_counter()
                for _ in range(block):
                    started = time.perf_counter()
                    result = await invoker.invoke(tool_id=tool.id, arguments=ARGS, user=None)
                    samples["invoke"].append(time.perf_counter() - started)
                    assert result.outcome == "SUCCESS"
                samples["invoke_with_log"].append((time.perf_counter() - block_started) / block)
                samples["invoke_cpu"].append((time.process_time() - cpu) / block)
    await invoker.aclose()
    await database.dispose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    medians: dict[str, list[float]] = {name: [] for name in COLUMNS}
    overheads: dict[str, list[float]] = {"pool": [], "invoke": [], "invoke_cpu": []}
    for number in range(1, options.runs + 1):
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as data_dir:
            samples = asyncio.run(run(options.calls, Path(data_dir)))
        load = f"load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
        m = {name: statistics.median(values) * 1000 for name, values in samples.items()}
        for name, value in m.items():
            medians[name].append(value)
        overheads["pool"].append(m["pool"] - m["raw"])
        overheads["invoke"].append(m["invoke"] - m["raw"])
        overheads["invoke_cpu"].append(m["invoke_cpu"] - m["raw_cpu"])
        print(
            f"run {number}: "
            + ", ".join(f"{name} {value:.3f}" for name, value in m.items())
            + f" ms; overhead: client {m['pool'] - m['raw']:+.3f}, "
            f"invoke {m['invoke'] - m['raw']:+.3f}, "
            f"invoke CPU {m['invoke_cpu'] - m['raw_cpu']:+.3f}; {load}",
            flush=True,
        )
    m = {name: statistics.median(values) for name, values in medians.items()}
    o = {name: statistics.median(values) for name, values in overheads.items()}
    print(
        f"medians over {options.runs} runs x {options.calls} calls, ms per call: "
        f"raw SDK {m['raw']:.3f}, Berrys MCP client {m['pool']:.3f}, governed invoke "
        f"{m['invoke']:.3f} (block mean with the log committed {m['invoke_with_log']:.3f}); "
        f"added latency (median of the runs' differences): client {o['pool']:+.3f}, "
        f"governed invoke {o['invoke']:+.3f}; this process's CPU per call: raw "
        f"{m['raw_cpu']:.3f}, client {m['pool_cpu']:.3f}, invoke with log {m['invoke_cpu']:.3f} "
        f"({o['invoke_cpu']:+.3f})"
    )


if __name__ == "__main__":
    main()
