"""What the CLI and the page ask of backfill campaigns: start one, follow it, pause,
resume or cancel it, read its report."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from backfill.campaign import CampaignFiles
from contracts.backfill import (
    CAMPAIGN_FINISHED,
    PREPARING,
    BackfillInput,
    BackfillProgress,
    search_attributes,
    workflow_id_for,
)
from crypto.keyring import load_keyring
from notifications.contacts import load_contacts
from settings import Settings
from temporal_client import EventRefused, completed_result
from workflows.backfill import BackfillWorkflow

UNKNOWN_CAMPAIGN = "UnknownCampaign"
_CAMPAIGN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def new_campaign_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def campaign_files(settings: Settings, campaign_id: str) -> CampaignFiles:
    if not _CAMPAIGN_ID.fullmatch(campaign_id):
        raise EventRefused(UNKNOWN_CAMPAIGN, f"identifiant de campagne invalide : {campaign_id!r}", {})
    return CampaignFiles(settings.backfill_dir, campaign_id, load_keyring(settings))


async def start_campaign(client: Client, settings: Settings, export: Path,
                         campaign_id: str | None = None, acting_user: str = "",
                         **options: float | str) -> str:
    """Hand the export in to the campaign's private folder and start its workflow."""
    campaign_id = campaign_id or new_campaign_id()
    campaign_files(settings, campaign_id).hand_in(export)
    contacts = load_contacts()
    # An overdue answer is told to the Region's AGORA contact and to whoever started it.
    overdue_to = [contacts.region_contact.email, contacts.staff_email(acting_user)]
    request = BackfillInput(
        campaign_id=campaign_id, chunk_rows=settings.backfill_chunk_rows,
        starts_per_second=settings.backfill_starts_per_second,
        dossier_task_queue=settings.task_queue, acting_user=acting_user,
        overdue_to=list(dict.fromkeys(address for address in overdue_to if address)),
        page_url=f"{settings.public_url.rstrip('/')}/reprise", partner_name=contacts.partner_name)
    for name, value in options.items():
        setattr(request, name, value)
    await client.start_workflow(BackfillWorkflow.run, request, id=workflow_id_for(campaign_id),
                                task_queue=settings.task_queue,
                                search_attributes=search_attributes(PREPARING, 0))
    return campaign_id


async def progress(client: Client, campaign_id: str) -> BackfillProgress:
    handle = client.get_workflow_handle(workflow_id_for(campaign_id))
    try:
        return await handle.query(BackfillWorkflow.progress)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise EventRefused(UNKNOWN_CAMPAIGN, f"campagne inconnue : {campaign_id}", {}) from error
        raise


async def is_running(client: Client, campaign_id: str) -> bool:
    described = await client.get_workflow_handle(workflow_id_for(campaign_id)).describe()
    return described.status == WorkflowExecutionStatus.RUNNING


async def pause(client: Client, campaign_id: str) -> BackfillProgress:
    return await _update(client, campaign_id, BackfillWorkflow.pause)


async def resume(client: Client, campaign_id: str) -> BackfillProgress:
    return await _update(client, campaign_id, BackfillWorkflow.resume)


async def cancel(client: Client, campaign_id: str) -> BackfillProgress:
    return await _update(client, campaign_id, BackfillWorkflow.cancel)


async def _update(client: Client, campaign_id: str, update: object) -> BackfillProgress:
    """The update's answer; its refusal (a finished campaign) becomes EventRefused."""
    handle = client.get_workflow_handle(workflow_id_for(campaign_id), result_type=BackfillProgress)
    try:
        return await handle.execute_update(update)  # type: ignore[call-overload]
    except WorkflowUpdateFailedError as failed:
        if isinstance(failed.cause, ApplicationError):
            raise EventRefused(failed.cause.type or "Refused", failed.cause.message, {}) from failed
        raise
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        final = await completed_result(handle)
        if final is None:
            raise EventRefused(UNKNOWN_CAMPAIGN, f"campagne inconnue : {campaign_id}", {}) from error
        raise EventRefused(CAMPAIGN_FINISHED, f"Campagne terminée ({final.phase}).",
                           {"phase": final.phase}) from error


def report_csv(settings: Settings, campaign_id: str) -> bytes:
    """The campaign's final report (CSV), unsealed for the person allowed to download it."""
    return campaign_files(settings, campaign_id).report()


async def list_campaigns(client: Client, task_queue: str) -> list[BackfillProgress]:
    """This deployment's campaigns, newest first, each with its progress."""
    found = []
    async for execution in client.list_workflows(
            f"WorkflowType = 'BackfillWorkflow' AND TaskQueue = '{task_queue}'"):
        found.append((execution.start_time, execution.id))
    found.sort(reverse=True)
    handles = [client.get_workflow_handle(workflow_id) for _, workflow_id in found]
    return list(await asyncio.gather(*(h.query(BackfillWorkflow.progress) for h in handles)))
