"""The Temporal worker: registers every workflow and activity of agora-flow.

Run several of these (on several machines) against a Temporal cluster to scale out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from temporalio.client import Client
from temporalio.worker import Worker

from activities.agora_calls import AgoraActivities
from settings import Settings
from workflows.dossier import DossierWorkflow

WORKFLOWS = [DossierWorkflow]


def build_worker(
    client: Client,
    settings: Settings,
    task_queue: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> Worker:
    """A worker for every agora-flow workflow and activity on one task queue."""
    activities = AgoraActivities(settings)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities.all(),
        # Sync activities (zeep) run here; sized for I/O-bound SOAP calls.
        activity_executor=executor or concurrent.futures.ThreadPoolExecutor(max_workers=64),
        max_concurrent_activities=64,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)


async def run(settings: Settings) -> None:
    client = await connect(settings)
    worker = build_worker(client, settings)
    logging.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
    await worker.run()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()
