"""The DBOS peer of ``scale_out.py``: the same DAG as one DBOS workflow on PostgreSQL.

The parent workflow enqueues each task, once its predecessors are done, as a child workflow on
a queue that every worker process dequeues from; a child is one checkpointed step awaiting
the model's latency, then tells the parent (``DBOS.send`` / ``DBOS.recv``, as DBOS's queue
tutorial does to hear of each task as soon as it is done). ``worker`` is one DBOS process
(its own executor id) serving both queues until SIGTERM; ``measure`` enqueues the parent
through ``DBOSClient`` and times it. Needs the ``bench`` extra (dbos).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import defaultdict
from typing import Any

from dbos import DBOS, DBOSClient

APP = "berrys-scale-out"
TASK_QUEUE = "scale_out_tasks"
DAG_QUEUE = "scale_out_dag"


@DBOS.step()
async def model_call(task: int, latency: float) -> dict[str, Any]:
    # The model's latency, as the scripted model's in Berrys: awaited, not computed.
    await asyncio.sleep(latency)
    return {"content": f"done t{task}", "tokens": 12}


@DBOS.workflow()
async def run_task(parent: str, task: int, latency: float) -> dict[str, Any]:
    reply = await model_call(task, latency)
    await DBOS.send_async(parent, task, topic="done")
    return reply


@DBOS.workflow()
async def run_dag(graph: list[tuple[int, list[int]]], latency: float) -> int:
    """Every task once all its predecessors are done; returns how many ran."""
    successors: dict[int, list[int]] = defaultdict(list)
    waiting: dict[int, int] = {}
    for task, predecessors in graph:
        waiting[task] = len(predecessors)
        for predecessor in predecessors:
            successors[predecessor].append(task)
    parent = DBOS.workflow_id
    assert parent is not None
    for task, count in waiting.items():
        if count == 0:
            await DBOS.enqueue_workflow_async(TASK_QUEUE, run_task, parent, task, latency)
    for _ in graph:
        done = await DBOS.recv_async("done", timeout_seconds=600)
        if done is None:
            raise TimeoutError("no task finished for 600 s")
        for successor in successors[done]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                await DBOS.enqueue_workflow_async(TASK_QUEUE, run_task, parent, successor, latency)
    return len(graph)


def worker(url: str, index: int, concurrency: int, poll_seconds: float) -> None:
    """One DBOS process dequeuing up to ``concurrency`` tasks at once, until SIGTERM."""
    # Blocked before DBOS starts its threads, so that only sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    DBOS(
        config={
            "name": APP,
            "system_database_url": url,
            "executor_id": f"scale-out-{index}",
            "application_version": "scale-out",
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    DBOS.register_queue(
        TASK_QUEUE, worker_concurrency=concurrency, polling_interval_sec=poll_seconds
    )
    DBOS.register_queue(DAG_QUEUE, polling_interval_sec=poll_seconds)
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    DBOS.destroy(workflow_completion_timeout_sec=0)


def measure(
    url: str, graph: list[tuple[int, list[int]]], latency: float, deadline: float
) -> tuple[float, int]:
    """Seconds from enqueuing the DAG's workflow to its completion (its status's
    ``updated_at``, so the client's poll does not count), and the tasks done; at
    ``deadline`` seconds, the tasks done by then."""
    client = DBOSClient(system_database_url=url, application_name=APP)
    try:
        started = time.time()
        handle = client.enqueue(
            {"queue_name": DAG_QUEUE, "workflow_name": run_dag.__qualname__}, graph, latency
        )
        while (status := handle.get_status()).status not in ("SUCCESS", "ERROR"):
            if time.time() - started > deadline:
                done = client.list_workflows(
                    name=run_task.__qualname__,
                    status="SUCCESS",
                    load_input=False,
                    load_output=False,
                )
                return deadline, len(done)
            time.sleep(0.25)  # the completion poll: the end is the workflow's own updated_at
        if status.status != "SUCCESS" or handle.get_result() != len(graph):
            raise SystemExit(f"the DBOS workflow ended {status.status}: {status.error}")
        assert status.updated_at is not None
        return status.updated_at / 1000 - started, len(graph)
    finally:
        client.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description="A DBOS worker process of scale_out.py.")
    parser.add_argument("--url", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--poll-seconds", type=float, required=True)
    args = parser.parse_args()
    worker(args.url, args.index, args.concurrency, args.poll_seconds)


if __name__ == "__main__":
    main()
