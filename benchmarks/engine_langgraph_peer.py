"""The LangGraph peer of ``engine_throughput.py`` (run under a Python with langgraph and
langgraph-checkpoint-sqlite; prints one JSON line).

The DAG is executed the LangGraph way: one StateGraph whose ``schedule`` node fans out with
``Send`` to a ``work`` node for every task whose predecessors are all done, superstep by
superstep, each task one call of a fake chat model, checkpointed by ``SqliteSaver`` in a file.
"""

from __future__ import annotations

import argparse
import json
import operator
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_graphs import branch_latencies, layered_dag


class State(TypedDict):
    done: Annotated[list[int], operator.add]


def run(graph_spec: list[tuple[int, list[int]]], latency: dict[int, float]) -> dict[str, float]:
    preds = dict(graph_spec)
    model = FakeListChatModel(responses=["done"])

    def schedule(state: State) -> dict[str, Any]:
        return {}

    def route(state: State) -> list[Send] | str:
        done = set(state["done"])
        ready = [t for t, p in preds.items() if t not in done and all(x in done for x in p)]
        return [Send("work", {"task": t}) for t in ready] or END

    def work(item: dict[str, Any]) -> dict[str, Any]:
        if latency.get(item["task"]):
            time.sleep(latency[item["task"]])
        model.invoke(f"task {item['task']}")
        return {"done": [item["task"]]}

    builder = StateGraph(State)
    builder.add_node("schedule", schedule)
    builder.add_node("work", work)
    builder.add_edge(START, "schedule")
    builder.add_conditional_edges("schedule", route, ["work", END])
    builder.add_edge("work", "schedule")
    with tempfile.TemporaryDirectory() as folder:
        connection = sqlite3.connect(f"{folder}/lg.db", check_same_thread=False)
        graph = builder.compile(checkpointer=SqliteSaver(connection))
        wall, cpu = time.perf_counter(), time.process_time()
        result = graph.invoke(
            {"done": []},
            {
                "configurable": {"thread_id": "bench"},
                "recursion_limit": 100_000,
                "max_concurrency": 50,
            },
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        connection.close()
    assert len(set(result["done"])) == len(preds)
    return {"wall_s": wall, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("throughput", "makespan"), default="throughput")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--branches", type=int, default=50)
    args = parser.parse_args()
    if args.part == "throughput":
        spec = layered_dag(args.tasks, args.width)
        result = run(spec, {})
        result.update(tasks=args.tasks, tasks_per_s=args.tasks / result["wall_s"])
    else:
        chains = branch_latencies(args.branches)
        spec, latency, index = [], {}, 0
        for chain in chains:
            for t, seconds in enumerate(chain):
                latency[index] = seconds
                spec.append((index, [index - 1] if t else []))
                index += 1
        bound = max(sum(chain) for chain in chains)
        result = run(spec, latency)
        result.update(
            tasks=len(spec),
            bound_s=bound,
            makespan_s=result["wall_s"],
            above_bound_pct=(result["wall_s"] / bound - 1) * 100,
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
