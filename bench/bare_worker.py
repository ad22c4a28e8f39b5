"""``python -m bench.bare_worker``: a worker for the bare workflow only, in its own process
so that its CPU time and memory are measured like the product's worker, and with the
product's client (its data converter: payloads sealed as the driver seals them)."""

from __future__ import annotations

import argparse
import asyncio

from temporalio.worker import Worker

import temporal_client
from bench.bare import BareWorkflow, noop
from settings import Settings


async def run(server: str, namespace: str, task_queue: str) -> None:
    # The settings come from the stack's environment (keys folder, development mode).
    client = await temporal_client.connect(Settings(), server, namespace)
    # Same activity slots as the product's worker (worker.build_worker).
    worker = Worker(client, task_queue=task_queue, workflows=[BareWorkflow], activities=[noop],
                    max_concurrent_activities=64)
    await worker.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True, help="HOST:PORT of the Temporal frontend")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(run(args.server, args.namespace, args.task_queue))


if __name__ == "__main__":
    main()
